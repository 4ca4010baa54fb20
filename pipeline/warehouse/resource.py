"""The DuckDB warehouse file as a Dagster resource, with short-lived connections.

DuckDB admits one writing process per file and, while it is open, no other process can open it.
Every connection is therefore opened for one unit of work and closed when it ends, also when it
fails (dagster-duckdb's resource leaves the connection open after an exception). Another process holding the
file is waited for, up to the lock timeout, and then named (locks.py). The first connection of a process to a
file written by an earlier version migrates it (pipeline/warehouse/migrate.py). Every connection is opened with
DuckDB's memory limit and threads of the configuration (FUNNEL_DUCKDB_MEMORY_LIMIT, FUNNEL_DUCKDB_THREADS), as dbt's
is (transforms/profiles.yml): beyond the limit DuckDB spills to a temporary folder beside the file instead of
growing, so a large load stays within the machine's memory.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from pipeline.config.settings import Environment, Settings
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
    #: DuckDB's memory_limit and threads for every connection (FUNNEL_DUCKDB_MEMORY_LIMIT, FUNNEL_DUCKDB_THREADS).
    memory_limit: str = Environment.model_fields["duckdb_memory_limit"].default
    threads: int = Environment.model_fields["duckdb_threads"].default

    @classmethod
    def of(cls, settings: Settings) -> "Warehouse":
        """The warehouse the settings name, opened with their lock timeout, memory limit and threads."""
        return cls(
            path=settings.warehouse_path,
            lock_timeout_seconds=settings.lock_timeout_seconds,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
        )

    @contextmanager
    def connect(
        self, read_only: bool = False, on_wait: Callable[[str], None] | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work; `on_wait` is told who holds the file if it has to wait (locks.py)."""
        con = open_retrying(
            lambda: duckdb.connect(
                self.path, read_only=read_only, config={"memory_limit": self.memory_limit, "threads": self.threads}
            ),
            self.path,
            self.lock_timeout_seconds,
            on_wait,
        )
        try:
            if not read_only and self.path not in _CHECKED:
                migrate(con)
                _CHECKED.add(self.path)
            yield con
        finally:
            con.close()
