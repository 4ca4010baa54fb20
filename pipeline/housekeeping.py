"""Housekeeping: what every run leaves on disk is deleted past a configured retention, so nothing grows without bound.

Two things grow with each run. dagster-dbt gives every dbt invocation its own target folder
(`transforms/target/<step>-<run id>-<id>`: compiled SQL, dbt.log and the partial-parse state, several MB; a run of
`refresh` makes one, two on Spark), and Dagster keeps every run with its event log and captured logs in
DAGSTER_HOME. Both are pruned with the FUNNEL_RETAIN_* variables (docs/configuration.md): the newest
FUNNEL_RETAIN_DBT_TARGETS invocation folders stay, and so do finished runs that are among the newest
FUNNEL_RETAIN_RUNS and younger than FUNNEL_RETAIN_RUN_DAYS. Never deleted: the folders and runs of runs still
going, and the newest run and newest successful run of each job (they hold the assets' latest materializations,
which the UI and sensors read).

`housekeeping_job` calls `housekeep` from a Dagster schedule. `make run` starts a `TargetSweep` before its run and
calls `housekeep` with it at its end: deleting a folder of some 900 files takes seconds on a disk that discards
blocks as files are deleted (this machine's: ~2.5 ms a file), and done in a thread it overlaps the run instead of
adding to it. The sweep keeps one folder fewer than the retention, the room for the one the run's dbt step makes.
"""

import re
import shutil
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from pipeline.config.settings import read_environment
from pipeline.runs.statuses import FINISHED
from pipeline.transforms.project import dbt_target_root

#: dagster-dbt names an invocation's folder `<op name>-<first 7 of the run id>-<7 hex>`, or `<7 hex>` outside a run.
INVOCATION = re.compile(r"^(?:(?P<op>\w+)-(?P<run>[0-9a-f]{7})-)?[0-9a-f]{7}$")


@dataclass(frozen=True)
class Retention:
    """How much history is kept (FUNNEL_RETAIN_DBT_TARGETS, FUNNEL_RETAIN_RUNS, FUNNEL_RETAIN_RUN_DAYS)."""

    dbt_targets: int
    runs: int
    run_days: int

    @classmethod
    def from_env(cls) -> "Retention":
        env = read_environment()
        return cls(dbt_targets=env.retain_dbt_targets, runs=env.retain_runs, run_days=env.retain_run_days)


@dataclass(frozen=True)
class Swept:
    """What one housekeeping pass deleted and kept."""

    target_folders: int
    target_bytes: int
    target_folders_kept: int
    runs: int
    runs_kept: int | None  # None: the instance keeps no history (ephemeral)

    def line(self) -> str:
        runs = (
            "no run history (ephemeral Dagster instance)"
            if self.runs_kept is None
            else f"{self.runs} old run(s) deleted, {self.runs_kept} kept"
        )
        return (
            f"housekeeping: {self.target_folders} dbt target folder(s) deleted ({self.target_bytes / 1e6:.1f} MB), "
            f"{self.target_folders_kept} kept; {runs}"
        )


def _last_written(folder: Path) -> float:
    log = folder / "dbt.log"  # appended to while dbt runs; the folder's own mtime changes only as files are added
    return max(folder.stat().st_mtime, log.stat().st_mtime if log.exists() else 0.0)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def prune_dbt_targets(root: Path, keep: int, running: Collection[str] = ()) -> tuple[int, int, int]:
    """Delete all but the `keep` newest invocation folders under `root`, never one of a run in `running` (run ids).
    Returns (folders deleted, bytes freed, folders kept). Anything else in `root` (dbt's own manifest and partial
    parse state) is left alone."""
    if keep < 1:
        raise ValueError("keep at least the newest dbt target folder")
    doomed, kept = _doomed(root, keep, running)
    return len(doomed), _delete(doomed), kept


def _invocation_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and INVOCATION.match(p.name)]


def _doomed(root: Path, keep: int, running: Collection[str]) -> tuple[list[Path], int]:
    """The invocation folders past the `keep` newest, but those of runs in `running`; and how many stay."""
    prefixes = {run_id[:7] for run_id in running}
    folders = sorted(_invocation_folders(root), key=_last_written, reverse=True)
    doomed = [p for p in folders[keep:] if INVOCATION.match(p.name)["run"] not in prefixes]
    return doomed, len(folders) - len(doomed)


def _delete(folders: list[Path]) -> int:
    """Delete the folders; the bytes their files took."""
    freed = 0
    for folder in folders:
        freed += _size(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return freed


class TargetSweep:
    """prune_dbt_targets in a thread, started before a run: the folders of finished runs beyond the newest
    `retention.dbt_targets - 1` are chosen at once (before the run makes its own) and deleted while the run works;
    `result()` waits for the deleting to end."""

    def __init__(self, instance: dg.DagsterInstance, retention: Retention, target_root: Path | None = None):
        self.root = target_root or dbt_target_root()
        running = [r.dagster_run.run_id for r in instance.get_run_records() if r.dagster_run.status not in FINISHED]
        self._doomed, _ = _doomed(self.root, retention.dbt_targets - 1, running)
        self._outcome: int | Exception | None = None
        # a daemon: a run stopped early exits without waiting, and the next run's sweep deletes what is left
        self._thread = threading.Thread(target=self._sweep, name="dbt-target-sweep", daemon=True)
        self._thread.start()

    def _sweep(self) -> None:
        try:
            self._outcome = _delete(self._doomed)
        except Exception as exc:  # reported by result(), in the run's housekeeping line
            self._outcome = exc

    def result(self) -> tuple[int, int, int]:
        """(folders deleted, bytes freed, folders there now, the run's own included) once the sweep is done."""
        self._thread.join()
        if isinstance(self._outcome, Exception):
            raise self._outcome
        return len(self._doomed), self._outcome, len(_invocation_folders(self.root))


def runs_to_delete(records: list[dg.RunRecord], keep: int, days: int, now: float) -> list[str]:
    """The finished runs past retention among `records` (newest first): beyond the `keep` newest or older than
    `days`, except the newest run and the newest successful run of each job."""
    newest: dict[str, str] = {}
    newest_success: dict[str, str] = {}
    for record in records:
        run = record.dagster_run
        newest.setdefault(run.job_name, run.run_id)
        if run.status == dg.DagsterRunStatus.SUCCESS:
            newest_success.setdefault(run.job_name, run.run_id)
    protected = {*newest.values(), *newest_success.values()}
    cutoff = now - days * 86_400
    return [
        record.dagster_run.run_id
        for rank, record in enumerate(records)
        if record.dagster_run.status in FINISHED
        and record.dagster_run.run_id not in protected
        and (rank >= keep or (record.end_time or record.create_timestamp.timestamp()) < cutoff)
    ]


def delete_run(instance: dg.DagsterInstance, run_id: str) -> None:
    """Delete a run, its event log and its captured logs (DAGSTER_HOME/storage/<run id>)."""
    instance.delete_run(run_id)
    instance.compute_log_manager.delete_logs(prefix=[run_id])
    # SQLite event storage keeps one database file per run, which deleting the run's events leaves behind, full
    # size (SQLite does not shrink a file): remove the emptied file and its WAL. Nothing reads a deleted run's
    # events again (a process that had opened them before would find the file gone rather than empty).
    path_for_shard = getattr(instance.event_log_storage, "path_for_shard", None)
    if path_for_shard is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(path_for_shard(run_id) + suffix).unlink(missing_ok=True)


def prune_runs(
    instance: dg.DagsterInstance,
    keep: int,
    days: int,
    records: list[dg.RunRecord] | None = None,
    now: float | None = None,
) -> tuple[int, int]:
    """Delete the finished runs past retention (runs_to_delete). Returns (runs deleted, runs kept)."""
    records = list(instance.get_run_records()) if records is None else records  # newest first
    doomed = runs_to_delete(records, keep, days, time.time() if now is None else now)
    for run_id in doomed:
        delete_run(instance, run_id)
    return len(doomed), len(records) - len(doomed)


def housekeep(
    instance: dg.DagsterInstance,
    retention: Retention,
    target_root: Path | None = None,
    targets: TargetSweep | None = None,
) -> Swept:
    """One pass: prune dbt's invocation folders (unless `targets` did it during the run) and the instance's run
    history to `retention`."""
    records = list(instance.get_run_records())  # newest first
    running = [r.dagster_run.run_id for r in records if r.dagster_run.status not in FINISHED]
    if targets is None:
        root = target_root or dbt_target_root()
        folders, freed, folders_kept = prune_dbt_targets(root, retention.dbt_targets, running)
    else:
        folders, freed, folders_kept = targets.result()
    if instance.is_ephemeral:
        return Swept(folders, freed, folders_kept, 0, None)
    runs, runs_kept = prune_runs(instance, retention.runs, retention.run_days, records)
    return Swept(folders, freed, folders_kept, runs, runs_kept)


@dg.op(description="Delete dbt target folders and Dagster runs past the FUNNEL_RETAIN_* retention.")
def housekeeping(context: dg.OpExecutionContext) -> None:
    context.log.info(housekeep(context.instance, Retention.from_env()).line())


@dg.job(
    description="Housekeeping: dbt target folders and run history past the FUNNEL_RETAIN_* retention are deleted.",
    tags={"funnel/kind": "housekeeping"},
)
def housekeeping_job() -> None:
    housekeeping()


#: Daily at 04:00 in the reporting time zone under `make serve`: outside office hours, before the morning's refresh.
HOUSEKEEPING_CRON = "0 4 * * *"


def housekeeping_schedule(timezone: str) -> dg.ScheduleDefinition:
    """housekeeping_job every day at HOUSEKEEPING_CRON in `timezone` (the daemon runs it)."""
    return dg.ScheduleDefinition(
        name="daily_housekeeping",
        job=housekeeping_job,
        cron_schedule=HOUSEKEEPING_CRON,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
