"""Which files of the warehouse folder and of DAGSTER_HOME a backup holds, and how each is copied consistently.

A backup holds every file of the two folders that is state, so that files added later (the alert delivery log
beside the warehouse, a new published format) are included without a change here. Left out are only files
that are not state or are folded into another file when it is copied:

- names starting with a dot: temporary files of a publish, a rewrite or a restore in progress;
- write-ahead logs and journals (`*.wal`, `*-wal`, `*-shm`, `*-journal`) and DuckDB's spill folders (`*.tmp`):
  a DuckDB file is copied after a checkpoint, a SQLite file through SQLite's backup API, so neither needs them;
- YAML files at the top of DAGSTER_HOME: the instance's configuration, kept in version control.

SQLite databases (Dagster's run, event and schedule storage; the alert delivery log) are recognised by their
header and copied with SQLite's backup API, which gives a consistent copy while other processes use them. Every
other file is copied byte for byte: the warehouse file while Warehouse.connect() holds it after a checkpoint, the
published files because a run only ever renames new ones into place.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pipeline.warehouse.rewrite import fsync, replace, temporary

SQLITE_HEADER = b"SQLite format 3\x00"
DUCKDB_MAGIC = b"DUCK"
SIDECARS = (".wal", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Entry:
    """One file of a backup: its area (`warehouse` or `dagster_home`), its path inside the area, how it is copied
    (`duckdb` for the warehouse file, `sqlite`, or `file`), its size and SHA-256 in the backup."""

    area: str
    path: str
    kind: str
    bytes: int
    sha256: str


def is_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER


def is_duckdb(path: Path) -> bool:
    """Whether the file starts like a DuckDB database (its magic bytes follow an 8-byte checksum)."""
    with open(path, "rb") as f:
        return f.read(12)[8:] == DUCKDB_MAGIC


def state_files(folder: Path, config_at_top: bool = False) -> list[Path]:
    """The files of `folder` a backup holds (see the module docstring), relative to it, sorted."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if path.name.endswith(SIDECARS) or any(part.endswith(".tmp") for part in relative.parts[:-1]):
            continue
        if config_at_top and len(relative.parts) == 1 and path.suffix in (".yaml", ".yml"):
            continue
        found.append(relative)
    return sorted(found)


def copy_out(source: Path, target: Path, sqlite: bool) -> None:
    """Copy a live file into the backup: SQLite through its backup API, anything else byte for byte."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if sqlite:
        live, copy = sqlite3.connect(source), sqlite3.connect(target)
        try:
            live.backup(copy)
        finally:
            copy.close()
            live.close()
    else:
        shutil.copyfile(source, target)
    fsync(target)


def copy_in(source: Path, target: Path, sqlite: bool) -> None:
    """Put a backed-up file in place of `target`. A SQLite database that is there is overwritten through the backup
    API, which respects the locks of processes that have it open; any other file (or a SQLite file too damaged to
    open) is written beside the target and renamed over it, its stale journals removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if sqlite and target.exists():
        saved = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
        try:
            live = sqlite3.connect(target)
            try:
                saved.backup(live)
                return
            finally:
                live.close()
        except sqlite3.DatabaseError:
            pass  # not a database any more: replaced below
        finally:
            saved.close()
    partial = temporary(target, "restore")
    shutil.copyfile(source, partial)
    for sidecar in SIDECARS:
        target.with_name(target.name + sidecar).unlink(missing_ok=True)
    replace(partial, target)
