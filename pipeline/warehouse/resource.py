"""The DuckDB warehouse file as a Dagster resource, with short-lived connections.

DuckDB admits one writing process per file and, while it is open, no other process can open it.
Every connection is therefore opened for one unit of work and closed when it ends, also when it
fails (dagster-duckdb's resource leaves the connection open after an exception). A writer that has just
finished (a dbt step's process exiting) can hold the file a moment longer, so a lock conflict is retried for a
few seconds before it is reported. The first connection of a process to a file written by an earlier version
migrates it (pipeline/warehouse/migrate.py).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.warehouse.migrate import migrate

#: Warehouse files this process has checked for an earlier layout.
_CHECKED: set[str] = set()
#: How long a lock held by another process is waited for before the connection fails.
LOCK_WAIT_SECONDS = 10.0


class WarehouseBusyError(RuntimeError):
    """Another process has the warehouse file open."""


class Warehouse(dg.ConfigurableResource):
    """The DuckDB file the pipeline writes (FUNNEL_WAREHOUSE). BI tools must not open this file."""

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                con = duckdb.connect(self.path)
                break
            except duckdb.IOException as exc:
                if "lock" in str(exc).lower() and time.monotonic() < deadline:
                    time.sleep(0.25)
                    continue
                raise WarehouseBusyError(
                    f"{self.path} is held by another process ({exc}). DuckDB lets no other process open a file "
                    "while one has it open: close the DuckDB CLI, notebook or BI connection that uses it."
                ) from exc
        try:
            if self.path not in _CHECKED:
                migrate(con)
                _CHECKED.add(self.path)
            yield con
        finally:
            con.close()
