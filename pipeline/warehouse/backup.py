"""`make backup DIR=…` / `make restore DIR=… [FORCE=1]`: a consistent copy of the warehouse folder and Dagster's
storage, and putting one back.

    python -m pipeline.warehouse.backup create DIR
    python -m pipeline.warehouse.backup verify DIR
    python -m pipeline.warehouse.backup restore DIR [--force]

A backup is taken while no run writes: it stops when Dagster's storage (DAGSTER_HOME) has a run in progress, and
copies the warehouse while Warehouse.connect() holds it, so a run that starts meanwhile waits for it (or fails with
the warehouse's "held by another process" message when the copy takes longer than that wait). It holds every file
of the warehouse folder and DAGSTER_HOME that is state (pipeline/warehouse/snapshot.py) and `manifest.json`, written
last: each file's size and SHA-256, and the versions that wrote them. A restore checks all of that before it
changes anything, refuses to replace existing files without --force and while a run is in progress, puts every
file in place under the configured FUNNEL_WAREHOUSE and DAGSTER_HOME, and erases again the people erased since the
backup was taken (pipeline/privacy), whose hashes it reads from the warehouse it replaces.

Exit codes: 0 done; 1 a file could not be read or written (a full disk, a permission); 2 wrong usage or
configuration, or files would be replaced without --force; 3 a run is in progress or the warehouse is held by
another process; 4 the backup is incomplete, damaged or from a newer version.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from packaging.version import Version

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.ingest.sources.loader import sha256
from pipeline.privacy.erase import reapply
from pipeline.privacy.redaction import recorded
from pipeline.runs.statuses import EXECUTING
from pipeline.warehouse.locks import WarehouseLocationError
from pipeline.warehouse.resource import Warehouse, WarehouseBusyError
from pipeline.warehouse.rewrite import fsync, replace, temporary, wal
from pipeline.warehouse.snapshot import Entry, copy_in, copy_out, is_duckdb, is_sqlite, state_files

FORMAT = 1
MANIFEST = "manifest.json"
EXIT_FAILED = 1
EXIT_BUSY = 3
EXIT_BAD_BACKUP = 4
#: How many of the files a restore kept it lists.
SHOWN = 20
#: Run statuses during which a run may write the warehouse or Dagster's storage.


class BackupError(Exception):
    """The command cannot go on; str() is the operator's message, `code` the exit status."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def versions() -> dict[str, str]:
    """The versions that write what a backup holds: this product, DuckDB's file format, Dagster's storage."""
    product = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return {"themodel-funnel": product, "duckdb": duckdb.__version__, "dagster": dg.__version__}


def runs_in_progress(home: Path | None) -> list[str]:
    """Runs that Dagster's storage in `home` records as in progress, as `run_id (job, status)`."""
    if home is None:
        return []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(statuses=list(EXECUTING)))
        return [f"{r.dagster_run.run_id} ({r.dagster_run.job_name}, {r.dagster_run.status.value})" for r in records]


def _refuse_runs(home: Path | None, what: str, damaged_ok: bool) -> None:
    """Stop when a run is in progress. Storage that cannot be read stops a backup; a restore replaces it."""
    try:
        running = runs_in_progress(home)
    except Exception as exc:  # sqlite3, SQLAlchemy or Dagster's own errors, whatever the damage
        why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if not damaged_ok:
            raise BackupError(f"Dagster's storage in {home} cannot be read ({why})", EXIT_CONFIG_ERROR) from exc
        print(f"Dagster's storage in {home} cannot be read ({why}); the restore replaces it", file=sys.stderr)
        return
    if running:
        raise BackupError(
            f"a run is in progress ({', '.join(running)}; Dagster storage {home}): {what} when it has ended. A run "
            "whose process is gone shows as in progress until it is marked failed (Dagster UI, Runs).",
            EXIT_BUSY,
        )


def _areas(settings: Settings, home: Path | None) -> dict[str, Path]:
    areas = {"warehouse": Path(settings.warehouse_path).parent}
    if home is not None:
        areas["dagster_home"] = home
    return areas


def _outside(folder: Path, areas: dict[str, Path]) -> None:
    for name, area in areas.items():
        if folder.resolve().is_relative_to(area.resolve()):
            raise BackupError(f"{folder} is inside the {name} folder {area}: keep backups elsewhere", EXIT_CONFIG_ERROR)


def create(settings: Settings, home: Path | None, target: Path) -> list[Entry]:
    """Back up the warehouse folder and DAGSTER_HOME into the new or empty folder `target`."""
    warehouse = Path(settings.warehouse_path)
    areas = _areas(settings, home)
    _outside(target, areas)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: back up into a new folder", EXIT_CONFIG_ERROR)
    if not warehouse.is_file():
        raise BackupError(
            f"{warehouse} does not exist (FUNNEL_WAREHOUSE): there is nothing to back up", EXIT_CONFIG_ERROR
        )
    _refuse_runs(home, "back up", damaged_ok=False)
    target.mkdir(parents=True, exist_ok=True)
    entries = []
    with Warehouse.of(settings).connect() as con:
        con.execute("CHECKPOINT")  # the file alone holds everything; this connection keeps writers out
        for area, folder in areas.items():
            for relative in state_files(folder, config_at_top=area == "dagster_home"):
                source, copy = folder / relative, target / area / relative
                kind = "duckdb" if source == warehouse else "sqlite" if is_sqlite(source) else "file"
                copy_out(source, copy, sqlite=kind == "sqlite")
                entries.append(Entry(area, relative.as_posix(), kind, copy.stat().st_size, sha256(copy)))
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
        "warehouse_file": warehouse.name,
        "taken_from": {area: str(folder) for area, folder in areas.items()},
        "files": [asdict(e) for e in entries],
    }
    partial = target / f".{MANIFEST}"
    partial.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    replace(partial, target / MANIFEST)  # last: a backup without its manifest is incomplete
    for folder in {p.parent for p in target.rglob("*") if p.is_file()}:
        fsync(folder)
    return entries


def verify(backup: Path) -> tuple[dict, list[Entry]]:
    """The manifest and entries of a complete, intact backup that this version can read; BackupError otherwise."""
    try:
        manifest = json.loads((backup / MANIFEST).read_text(encoding="utf-8"))
        entries = [Entry(**e) for e in manifest["files"]]
        written, warehouse_file = manifest["versions"], manifest["warehouse_file"]
    except FileNotFoundError:
        raise BackupError(f"{backup} is not a complete backup: it has no {MANIFEST}", EXIT_BAD_BACKUP) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"{backup / MANIFEST} is not a backup manifest: {exc}", EXIT_BAD_BACKUP) from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{backup} has backup format {manifest.get('format')}; this version reads {FORMAT}", EXIT_BAD_BACKUP
        )
    newer = [f"{n} {v} (installed {versions()[n]})" for n, v in written.items() if Version(v) > Version(versions()[n])]
    if newer:
        raise BackupError(f"{backup} was written by newer versions: {', '.join(newer)}; upgrade first", EXIT_BAD_BACKUP)
    if not any(e.area == "warehouse" and e.path == warehouse_file and e.kind == "duckdb" for e in entries):
        raise BackupError(f"{backup}: the manifest lists no warehouse file {warehouse_file}", EXIT_BAD_BACKUP)
    damaged = []
    for e in entries:
        path = backup / e.area / e.path
        if not path.is_file():
            damaged.append(f"{path}: missing")
        elif path.stat().st_size != e.bytes:
            damaged.append(f"{path}: {path.stat().st_size} bytes, the manifest says {e.bytes}")
        elif sha256(path) != e.sha256:
            damaged.append(f"{path}: its SHA-256 differs from the manifest's")
    if damaged:
        raise BackupError(f"{backup} is damaged; nothing was restored:\n  " + "\n  ".join(damaged), EXIT_BAD_BACKUP)
    return manifest, entries


def _targets(manifest: dict, entries: list[Entry], areas: dict[str, Path], warehouse: Path) -> dict[Entry, Path]:
    """Where each file of the backup goes: the configured folders; the warehouse file under its configured name."""
    if "dagster_home" not in areas and any(e.area == "dagster_home" for e in entries):
        raise BackupError("the backup holds Dagster's storage: set DAGSTER_HOME to where it goes", EXIT_CONFIG_ERROR)
    return {e: warehouse if e.kind == "duckdb" else areas[e.area] / e.path for e in entries}


def _reerase(staged: Path, erased: dict[str, str]) -> int:
    """Record in the staged warehouse the erasures of the one it replaces and empty those people's data again."""
    with Warehouse(path=str(staged)).connect() as con:
        return reapply(con, staged, erased)


def restore(settings: Settings, home: Path | None, backup: Path, force: bool) -> tuple[int, int, list[Path]]:
    """Put the backup in place; (files restored, erasures applied again, state files kept that it does not hold)."""
    warehouse = Path(settings.warehouse_path)
    areas = _areas(settings, home)
    _outside(backup, areas)
    manifest, entries = verify(backup)
    targets = _targets(manifest, entries, areas, warehouse)
    existing = [t for t in targets.values() if t.exists()]
    if existing and not force:
        raise BackupError(
            f"restoring would replace {len(existing)} existing file(s), e.g. {existing[0]}; add --force (FORCE=1) "
            "to replace them",
            EXIT_CONFIG_ERROR,
        )
    _refuse_runs(home, "restore", damaged_ok=True)
    erased: dict[str, str] = {}
    with _held(warehouse, settings.lock_timeout_seconds) as con:
        if con is not None:
            con.execute("CHECKPOINT")  # nothing of the replaced file is left in a WAL beside the restored one
            erased = recorded(con)
        reapplied = 0
        for entry, target in targets.items():
            source = backup / entry.area / entry.path
            if entry.kind != "duckdb":
                copy_in(source, target, sqlite=entry.kind == "sqlite")
                continue
            staged = temporary(target, "restore")
            try:
                shutil.copyfile(source, staged)
                reapplied = _reerase(staged, erased) if erased else 0
                wal(target).unlink(missing_ok=True)
                replace(staged, target)
            finally:
                staged.unlink(missing_ok=True)
                wal(staged).unlink(missing_ok=True)
    restored = set(targets.values())
    kept = [
        folder / relative
        for area, folder in areas.items()
        for relative in state_files(folder, config_at_top=area == "dagster_home")
        if folder / relative not in restored
    ]
    return len(targets), reapplied, kept


@contextmanager
def _held(path: Path, lock_timeout_seconds: float) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """Warehouse.connect() on the file a restore replaces, so no run uses it meanwhile; None when there is no file or
    it is no DuckDB database any more (a restore is what repairs it)."""
    if not path.exists() or not is_duckdb(path):
        yield None
        return
    with Warehouse(path=str(path), lock_timeout_seconds=lock_timeout_seconds).connect() as con:
        yield con


def _size(entries: list[Entry]) -> str:
    return f"{sum(e.bytes for e in entries) / 1e6:,.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.warehouse.backup",
        description="Back up or restore the warehouse folder and Dagster's storage (docs/operations.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="back up into a new folder").add_argument("dir", type=Path)
    commands.add_parser("verify", help="check a backup against its manifest").add_argument("dir", type=Path)
    restoring = commands.add_parser("restore", help="put a backup in place")
    restoring.add_argument("dir", type=Path)
    restoring.add_argument("--force", action="store_true", help="replace existing files")
    args = parser.parse_args(argv)
    home = Path(os.environ["DAGSTER_HOME"]).resolve() if os.environ.get("DAGSTER_HOME") else None
    started = time.perf_counter()
    try:
        settings = Settings.from_env()
        if args.command == "create":
            entries = create(settings, home, args.dir)
            dagster = [e for e in entries if e.area == "dagster_home"]
            print(
                f"backed up {len(entries)} file(s), {_size(entries)}, into {args.dir} in "
                f"{time.perf_counter() - started:.1f} s: {len(entries) - len(dagster)} of the warehouse folder "
                f"{Path(settings.warehouse_path).parent}"
                + (
                    f", {len(dagster)} of Dagster's storage {home}"
                    if home
                    else "; DAGSTER_HOME is not set: Dagster's storage is not included"
                )
            )
        elif args.command == "verify":
            manifest, entries = verify(args.dir)
            print(f"{args.dir}: {len(entries)} file(s), {_size(entries)}, intact; taken {manifest['created_at']}")
        else:
            files, reapplied, kept = restore(settings, home, args.dir, args.force)
            print(f"restored {files} file(s) from {args.dir} in {time.perf_counter() - started:.1f} s")
            if reapplied:
                print(f"erased again the people of {reapplied} identity hash(es) erased after the backup was taken")
            if kept:
                print(f"kept {len(kept)} file(s) the backup does not hold:")
                print("\n".join(f"  {p}" for p in kept[:SHOWN]))
                if len(kept) > SHOWN:
                    print(f"  … and {len(kept) - SHOWN} more")
    except (ConfigError, WarehouseLocationError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return exc.code
    except WarehouseBusyError as exc:
        print(f"{exc} Nothing was {'backed up' if args.command == 'create' else 'restored'}.", file=sys.stderr)
        return EXIT_BUSY
    except OSError as exc:  # a full disk, a folder without write permission
        stopped = {
            "create": f"the backup stopped; {args.dir} has no manifest, so nothing will restore it",
            "verify": "the backup could not be read",
            "restore": "the restore stopped part-way; each file is replaced whole, so run it again with --force",
        }
        print(f"{exc}: {stopped[args.command]}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
