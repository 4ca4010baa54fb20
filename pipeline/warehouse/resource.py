"""The DuckDB warehouse file as a Dagster resource, with short-lived connections.

DuckDB admits one writing process per file and, while it is open, no other process can open it.
Every connection is therefore opened for one unit of work and closed when it ends, also when it
fails (dagster-duckdb's resource leaves the connection open after an exception). Another process holding the
file is waited for, up to the lock timeout, and then named (locks.py). The first connection of a process to a
file written by an earlier version migrates it (pipeline/warehouse/migrate.py).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from pipeline.config.settings import Environment
from pipeline.warehouse.locks import WarehouseBusyError, open_retrying
from pipeline.warehouse.migrate import migrate

__all__ = ["Warehouse", "WarehouseBusyError"]

#: Warehouse files this process has checked for an earlier layout.
_CHECKED: set[str] = set()


class Warehouse(dg.ConfigurableResource):
    """The DuckDB file the pipeline writes (FUNNEL_WAREHOUSE). BI tools must not open this file."""

    path: str
    #: How long another process's hold on the file is waited for (FUNNEL_LOCK_TIMEOUT_SECONDS).
    lock_timeout_seconds: float = Environment.model_fields["lock_timeout_seconds"].default

    @contextmanager
    def connect(
        self, read_only: bool = False, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work; `on_wait` is told who holds the file if it has to wait (locks.py)."""
        con = open_retrying(
            lambda: duckdb.connect(self.path, read_only=read_only), self.path, self.lock_timeout_seconds, on_wait
        )
        try:
            if not read_only and self.path not in _CHECKED:
                migrate(con)
                _CHECKED.add(self.path)
            yield con
        finally:
            con.close()
