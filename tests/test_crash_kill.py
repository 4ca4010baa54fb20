"""The real `python -m pipeline.run` (what `make run` starts) killed as an operator or the kernel would, then run
again: the next run starts and succeeds by itself, leaves nothing behind and publishes what a clean run publishes.

Every run here uses one Dagster instance on disk (a copy of dagster_home/dagster.yaml, pool limit 1) and small
demo extracts. A kill point is seen from outside, as an operator would: in the instance's event log (the step that
started) or in the warehouse folder (the publish's temporary file).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import psutil
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL
from pipeline.runs.processes import PID_TAG
from pipeline.runs.supervisor import EXIT_WAREHOUSE_BUSY

LEADS, MONTHS, SEED = 2_000, 8, 11
#: A whole run on these extracts takes 40-80 s on a 2-core machine; a run must reach a point or end within this.
RUN_BOUND = 300
LOCK_TIMEOUT = 20


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crash") / "landing"
    demo.generate(LEADS, MONTHS, SEED, folder)
    return folder


class Deployment:
    """A DAGSTER_HOME and a warehouse folder, and `make run` started in them."""

    def __init__(self, root: Path, landing: Path, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.home, self.warehouse = root / "dagster_home", root / "warehouse" / "themodel.duckdb"
        self.home.mkdir(parents=True)
        self.warehouse.parent.mkdir()
        shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "FUNNEL_LANDING_DIR": str(landing),
            "FUNNEL_WAREHOUSE": str(self.warehouse),
            "FUNNEL_LOCK_TIMEOUT_SECONDS": str(lock_timeout),
        }
        self.outputs = root / "outputs"
        self.outputs.mkdir()
        self.instance = dg.DagsterInstance.from_config(str(self.home))

    def start(self, name: str) -> subprocess.Popen:
        """`python -m pipeline.run` in its own process group (with its dbt), output to outputs/<name>.txt."""
        with (self.outputs / f"{name}.txt").open("w") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "pipeline.run"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self, name: str) -> str:
        return (self.outputs / f"{name}.txt").read_text()

    def run_of(self, process: subprocess.Popen) -> dg.DagsterRun | None:
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(process.pid)}))
        return runs[0] if runs else None

    def started_steps(self, process: subprocess.Popen) -> list[str]:
        run = self.run_of(process)
        if run is None:
            return []
        return [e.step_key for e in self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)]

    def temporary_files(self) -> list[Path]:
        return sorted(self.warehouse.parent.glob(".*.tmp*")) + sorted(self.warehouse.parent.glob("parquet/.*.tmp"))

    def slot_holders(self) -> set[str]:
        info = self.instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        return {s.run_id for s in info.claimed_slots} | {p.run_id for p in info.pending_steps}


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str, bound: float = RUN_BOUND) -> float:
    """Poll `condition` until it holds; the seconds it took. Fails when the process ends first or time runs out."""
    started = time.monotonic()
    while not condition():
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before {what}"
        assert time.monotonic() - started < bound, f"no {what} within {bound} s"
        time.sleep(0.005)
    return time.monotonic() - started


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the run's whole process group: python and any dbt it started die at once."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every table of the published marts.duckdb, rows in a stable order."""
    with duckdb.connect(str(warehouse.parent / "marts.duckdb"), read_only=True) as con:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        return {n: con.execute(f'select * from "{n}" order by all').df() for n in names}


def assert_same_marts(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert sorted(actual) == sorted(expected)
    for name, frame in expected.items():
        # averages may differ in the last bits: DuckDB sums in parallel, in no fixed order
        pd.testing.assert_frame_equal(actual[name], frame, check_exact=False, rtol=1e-9, obj=name)


def step_started(deployment: Deployment, process: subprocess.Popen, prefix: str) -> Callable[[], bool]:
    return lambda: any(s.startswith(prefix) for s in deployment.started_steps(process))


def test_a_run_killed_during_ingest_checks_dbt_or_publishing_is_recovered_by_the_next_run(landing, tmp_path):
    """kill -9 at ingest -> the rerun gets past it and is killed at the checks -> ... at dbt -> ... while publishing
    -> the last rerun succeeds by itself, with no leftover, and publishes the marts a clean run publishes."""
    clean = Deployment(tmp_path / "clean", landing)
    first = clean.start("clean")  # beside the killed runs, in an instance and a warehouse of its own

    crashed = Deployment(tmp_path / "crashed", landing)
    kill_points = [
        ("ingest", lambda p: step_started(crashed, p, "extracted__")),
        ("checks", lambda p: step_started(crashed, p, "great_expectations_")),
        ("dbt", lambda p: lambda: "dbt_models" in crashed.started_steps(p) and _runs_dbt(p)),
        ("publishing", lambda p: lambda: bool(crashed.temporary_files())),
    ]
    killed: list[str] = []
    for name, point in kill_points:
        process = crashed.start(name)
        wait_until(point(process), process, f"{name} (after the kill at {killed[-1:]})")
        kill(process)
        run = crashed.run_of(process)
        assert run.status == dg.DagsterRunStatus.STARTED  # what used to keep every later run waiting
        if killed:  # this run started by itself after the previous kill and recovered the killed run
            assert f"crash recovery: run {killed[-1]}" in crashed.output(name)
            assert crashed.instance.get_run_by_id(killed[-1]).status == dg.DagsterRunStatus.FAILURE
        killed.append(run.run_id)
    assert crashed.temporary_files(), "the publish was killed before its temporary file was written"

    last = crashed.start("after")
    started = time.monotonic()
    assert last.wait(timeout=RUN_BOUND) == 0, crashed.output("after")
    print(f"the run after the last kill took {time.monotonic() - started:.0f} s")
    assert f"crash recovery: run {killed[-1]}" in crashed.output("after")
    statuses = {r.run_id: r.status for r in crashed.instance.get_runs()}
    assert [statuses[k] for k in killed] == [dg.DagsterRunStatus.FAILURE] * len(killed)
    assert list(statuses.values()).count(dg.DagsterRunStatus.SUCCESS) == 1
    assert crashed.slot_holders() == set() and crashed.temporary_files() == []
    assert first.wait(timeout=RUN_BOUND) == 0, clean.output("clean")
    assert_same_marts(marts(crashed.warehouse), marts(clean.warehouse))


def _runs_dbt(process: subprocess.Popen) -> bool:
    """dbt is running as the run's child process."""
    try:
        return any("dbt" in " ".join(c.cmdline()) for c in psutil.Process(process.pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return False


def test_sigterm_during_dbt_stops_the_run_cleanly(landing, tmp_path):
    deployment = Deployment(tmp_path, landing)
    process = deployment.start("sigterm")
    wait_until(lambda: "dbt_models" in deployment.started_steps(process) and _runs_dbt(process), process, "dbt")
    dbt = [c for c in psutil.Process(process.pid).children(recursive=True) if "dbt" in " ".join(c.cmdline())]
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)  # to python alone, as `kill PID` does
    assert process.wait(timeout=60) == 128 + signal.SIGTERM
    print(f"stopped {time.monotonic() - started:.1f} s after SIGTERM")
    run = deployment.run_of(process)
    assert run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    assert f"stopped by SIGTERM: run {run.run_id}" in deployment.output("sigterm")
    assert "Traceback" not in deployment.output("sigterm")
    assert deployment.slot_holders() == set()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in dbt)


def _live_holder(deployment: Deployment) -> tuple[subprocess.Popen, str]:
    """Another live run holding the pool's slot: a process, and a run recorded as its, with the slot claimed."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    run_id = _recorded_run(deployment, holder)
    storage = deployment.instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "dbt_models").is_claimed
    return holder, run_id


def _recorded_run(deployment: Deployment, holder: subprocess.Popen) -> str:
    """A run of another `make run` recorded in the instance as started by the live process `holder`."""
    process = psutil.Process(holder.pid)
    tags = {
        "funnel/host": os.uname().nodename,
        PID_TAG: str(holder.pid),
        "funnel/process_started": repr(process.create_time()),
    }

    @dg.op
    def noop() -> None: ...

    @dg.job
    def refresh() -> None:
        noop()

    return deployment.instance.create_run_for_job(refresh, tags=tags, status=dg.DagsterRunStatus.STARTED).run_id


def test_a_run_waiting_for_a_live_run_stops_after_the_timeout_naming_it_ctrl_c_stops_the_wait_and_its_death_ends_it(
    landing, tmp_path
):
    deployment = Deployment(tmp_path, landing, lock_timeout=3)
    holder, holding_run = _live_holder(deployment)
    proceeding = None
    try:
        waiting = deployment.start("busy")
        assert waiting.wait(timeout=120) == EXIT_WAREHOUSE_BUSY
        said = deployment.output("busy")
        assert "the warehouse stayed busy for 3 s (FUNNEL_LOCK_TIMEOUT_SECONDS)" in said
        assert f"held by run {holding_run} (step dbt_models, process {holder.pid} ({sys.executable} -c" in said
        assert deployment.instance.get_run_by_id(holding_run).status == dg.DagsterRunStatus.STARTED  # left alone

        deployment.env["FUNNEL_LOCK_TIMEOUT_SECONDS"] = "600"
        interrupted = deployment.start("ctrl-c")
        wait_until(lambda: "waiting for the warehouse" in deployment.output("ctrl-c"), interrupted, "the wait", 120)
        os.killpg(interrupted.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole foreground group
        assert interrupted.wait(timeout=30) == 128 + signal.SIGINT
        assert "stopped by SIGINT" in deployment.output("ctrl-c") and "Traceback" not in deployment.output("ctrl-c")
        assert deployment.slot_holders() == {holding_run}

        proceeding = deployment.start("holder-dies")
        wait_until(lambda: "waiting for the warehouse" in deployment.output("holder-dies"), proceeding, "the wait", 120)
        holder.kill()
        holder.wait()
        took = wait_until(lambda: bool(deployment.started_steps(proceeding)), proceeding, "a step", 60)
        print(f"the waiting run started its first step {took:.1f} s after the holder was killed")
        assert f"crash recovery: run {holding_run} (refresh) was left STARTED by process {holder.pid}" in (
            deployment.output("holder-dies")
        )
        assert deployment.instance.get_run_by_id(holding_run).status == dg.DagsterRunStatus.FAILURE
        os.killpg(proceeding.pid, signal.SIGINT)  # it goes on; the rest of a run is tested above
        assert proceeding.wait(timeout=60) == 128 + signal.SIGINT
    finally:
        holder.kill()
        holder.wait()
        if proceeding is not None:
            kill_quietly(proceeding)
    assert deployment.slot_holders() == set()


def test_a_step_that_waits_inside_the_run_for_a_live_runs_slot_stops_the_run_after_the_timeout(landing, tmp_path):
    """Another run takes the slot between two steps of this one: the step waits, bounded, and the run says why."""
    deployment = Deployment(tmp_path, landing, lock_timeout=5)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    other = _recorded_run(deployment, holder)
    storage = deployment.instance.event_log_storage
    process = deployment.start("blocked")
    try:
        wait_until(step_started(deployment, process, "extracted__"), process, "the first step")
        # queued behind this run's step, the other run gets the slot when that step lets it go
        wait_until(
            lambda: storage.claim_concurrency_slot(WAREHOUSE_POOL, other, "dbt_models").is_claimed, process, "a claim"
        )
        started = time.monotonic()
        assert process.wait(timeout=120) == EXIT_WAREHOUSE_BUSY
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
        kill_quietly(process)
    said = deployment.output("blocked")
    assert 5 <= waited < 60, said
    assert f"the pool duckdb_warehouse is held by run {other} (step dbt_models, process {holder.pid}" in said
    run = deployment.run_of(process)
    claimed = deployment.instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots
    assert run.status == dg.DagsterRunStatus.FAILURE and {s.run_id for s in claimed} == {other}


def test_a_step_waiting_inside_the_run_for_a_run_that_dies_goes_on_once_that_run_is_recovered(landing, tmp_path):
    deployment = Deployment(tmp_path, landing, lock_timeout=120)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    other = _recorded_run(deployment, holder)
    storage = deployment.instance.event_log_storage
    process = deployment.start("holder-dies-in-run")
    try:
        wait_until(step_started(deployment, process, "extracted__"), process, "the first step")
        wait_until(
            lambda: storage.claim_concurrency_slot(WAREHOUSE_POOL, other, "dbt_models").is_claimed, process, "a claim"
        )
        run_id = deployment.run_of(process).run_id
        wait_until(lambda: run_id in deployment.slot_holders() - _claimants(deployment), process, "a step's wait")
        started = len(deployment.started_steps(process))
        holder.kill()
        holder.wait()
        took = wait_until(lambda: len(deployment.started_steps(process)) > started, process, "the next step", 60)
        print(f"the waiting step started {took:.1f} s after the other run's process was killed")
        # the watcher says so right after freeing the slot, so the step may start a moment before the line is written
        said = f"crash recovery: run {other} (refresh) was left STARTED by process {holder.pid}"
        wait_until(lambda: said in deployment.output("holder-dies-in-run"), process, "the crash recovery line", 10)
        assert deployment.instance.get_run_by_id(other).status == dg.DagsterRunStatus.FAILURE
        os.killpg(process.pid, signal.SIGINT)  # it goes on; the rest of a run is tested above
        assert process.wait(timeout=60) == 128 + signal.SIGINT
    finally:
        holder.kill()
        holder.wait()
        kill_quietly(process)
    assert deployment.slot_holders() == set()


def _claimants(deployment: Deployment) -> set[str]:
    """The runs holding a slot of the pool (slot_holders also names the runs whose steps wait for one)."""
    info = deployment.instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {s.run_id for s in info.claimed_slots}


def kill_quietly(process: subprocess.Popen) -> None:
    if process.poll() is None:
        kill(process)
