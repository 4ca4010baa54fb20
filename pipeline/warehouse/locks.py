"""Opening the warehouse file while another process may hold it: waited for a bounded time, then named.

DuckDB lets one process at a time open a file for writing, and a reader blocks a writer too. A writer that has just
finished (a dbt step's process exiting) or a reader that looks for a moment holds the file briefly, so a lock
conflict is retried with growing pauses until FUNNEL_LOCK_TIMEOUT_SECONDS have passed; then the run stops with
a message that names the holding process (DuckDB's error gives its id, psutil its command line). Any other
error opening the file (a missing or read-only folder, a file that is not DuckDB's) is not a lock and is not
retried.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from pipeline.runs.processes import describe

T = TypeVar("T")

#: DuckDB's words for a file another process has open (duckdb.IOException).
CONFLICT = "Conflicting lock is held"
_PID = re.compile(r"\(PID (\d+)\)")
#: The first pause between tries; each pause doubles, up to MAX_PAUSE.
FIRST_PAUSE, MAX_PAUSE = 0.1, 1.0


class WarehouseBusyError(RuntimeError):
    """Another process has held the warehouse file longer than the lock timeout."""


class WarehouseLocationError(RuntimeError):
    """The warehouse file cannot be opened for a reason other than a lock: its folder is missing or read-only."""


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and CONFLICT in str(exc)


def holder(exc: BaseException) -> str:
    """The process DuckDB names as holding the file, described for a person."""
    found = _PID.search(str(exc))
    return describe(int(found.group(1))) if found else "another process"


def open_retrying(
    open_file: Callable[[], T], path: str | Path, timeout: float, on_wait: Callable[[str], None] | None = None
) -> T:
    """`open_file()`, retried while another process holds `path`, for at most `timeout` seconds. `on_wait` is
    told the holder once, when the wait begins (`make run` says whom it waits for)."""
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        try:
            return open_file()
        except duckdb.IOException as exc:
            if not is_conflict(exc):
                raise WarehouseLocationError(
                    f"{path} cannot be opened ({str(exc).split(': ')[-1]}): FUNNEL_WAREHOUSE must name a DuckDB "
                    "file in an existing, writable folder"
                ) from exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseBusyError(
                    f"{path} is held by {holder(exc)}; waited {timeout:g} s for it (FUNNEL_LOCK_TIMEOUT_SECONDS). "
                    "DuckDB lets no other process open the file while one has it open: close the DuckDB CLI, "
                    "notebook or BI connection that uses it (BI tools read the published marts.duckdb), or wait "
                    "for that run to end."
                ) from exc
            if on_wait is not None and pause == FIRST_PAUSE:
                on_wait(holder(exc))
            time.sleep(min(pause, left))
            pause = min(pause * 2, MAX_PAUSE)
