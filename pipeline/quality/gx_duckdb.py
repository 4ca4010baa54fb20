"""SQLAlchemy dialect `duckdb+isolated`: duckdb_engine with one DuckDB cursor per SQLAlchemy cursor.

Great Expectations' SQL engine runs a query, returns the connection to the pool and only then fetches
the result. duckdb_engine hands out the connection itself as every cursor, and DuckDB 2.0 discards a
result as soon as its connection runs another statement (the pool's rollback), so GX read empty results.
A cursor of its own per query keeps each result until it is fetched; closing the connection closes
them all, so disposing of the engine releases the DuckDB file. Registered on import.

Opening the file waits out another process's brief hold on it as every warehouse connection does
(pipeline/warehouse/locks.py), for the seconds the URL's `lock_timeout_seconds` gives
(`duckdb+isolated:///path?lock_timeout_seconds=30`).
"""

import duckdb_engine
from sqlalchemy.dialects import registry

from pipeline.warehouse.locks import open_retrying

#: The URL parameter with the lock timeout, taken out before the rest reaches DuckDB as its configuration.
LOCK_TIMEOUT_PARAMETER = "lock_timeout_seconds"


class _Connection(duckdb_engine.ConnectionWrapper):
    def __init__(self, connection) -> None:
        super().__init__(connection)
        self._cursors = []

    def cursor(self) -> duckdb_engine.CursorWrapper:
        cursor = self._ConnectionWrapper__c.cursor()
        self._cursors.append(cursor)
        return duckdb_engine.CursorWrapper(cursor, self)

    def close(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
        super().close()


class Dialect(duckdb_engine.Dialect):
    supports_statement_cache = False

    def connect(self, *cargs, **cparams) -> _Connection:
        url_config = dict(cparams.get("url_config", {}))  # the engine's own dict, reused for every connection
        timeout = float(url_config.pop(LOCK_TIMEOUT_PARAMETER, 0))
        cparams = {**cparams, "url_config": url_config}
        opened = open_retrying(lambda: super(Dialect, self).connect(*cargs, **cparams), cparams["database"], timeout)
        return _Connection(opened._ConnectionWrapper__c)


registry.register("duckdb.isolated", __name__, "Dialect")
