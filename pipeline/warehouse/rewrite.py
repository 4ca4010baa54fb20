"""Rewriting the warehouse into a fresh file, so that no byte of erased data is left in it, and durable renames.

DuckDB reuses the blocks that deletes and updates free, but does not clear them: an erased value stays in the
file's free blocks until they happen to be overwritten. `rewrite` copies every schema, table, view and macro into
a new file (COPY FROM DATABASE), makes it durable and renames it over the old one. It takes a connection from
Warehouse.connect(), whose lock keeps other processes out while the copy is made; that connection keeps the old,
renamed-away file open until it closes, so nothing may be written through it after `rewrite`.
"""

import os
from pathlib import Path

import duckdb
import psutil

from pipeline.ingest.sources.values import lit, q


def fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') bytes to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(source: Path, target: Path) -> None:
    """Rename `source` over `target` atomically and durably: readers see the old file or the new one."""
    fsync(source)
    os.replace(source, target)
    fsync(target.parent)


def wal(path: Path) -> Path:
    """DuckDB's write-ahead log of a database file."""
    return path.with_name(path.name + ".wal")


def temporary(path: Path, purpose: str) -> Path:
    """A hidden file beside `path` for this process to build its replacement in; such files that processes killed
    before they finished left behind (they may hold data erased since) are removed first."""
    for stale in path.parent.glob(f".{path.name}.*.{purpose}"):
        pid = stale.name.removeprefix(f".{path.name}.").removesuffix(f".{purpose}")
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            stale.unlink(missing_ok=True)
            wal(stale).unlink(missing_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}.{purpose}")
    fresh.unlink(missing_ok=True)
    return fresh


def rewrite(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Replace the database file `path`, open in `con`, by a compact copy of its contents."""
    con.execute("CHECKPOINT")
    if wal(path).exists():
        raise RuntimeError(f"{wal(path)} is still there after a checkpoint; {path} was not rewritten")
    fresh = temporary(path, "rewrite")
    name = con.execute("SELECT current_database()").fetchall()[0][0]
    try:
        con.execute(f"ATTACH {lit(str(fresh))} AS _rewritten")
        try:
            con.execute(f"COPY FROM DATABASE {q(name)} TO _rewritten")
            con.execute("CHECKPOINT _rewritten")
        finally:
            con.execute("DETACH _rewritten")
        replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)
        wal(fresh).unlink(missing_ok=True)
