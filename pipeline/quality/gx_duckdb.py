"""SQLAlchemy dialect `duckdb+isolated`: duckdb_engine with one DuckDB cursor per SQLAlchemy cursor.

Great Expectations' SQL engine runs a query, returns the connection to the pool and only then fetches
the result. duckdb_engine hands out the connection itself as every cursor, and DuckDB 2.0 discards a
result as soon as its connection runs another statement (the pool's rollback), so GX read empty results.
A cursor of its own per query keeps each result until it is fetched; closing the connection closes
them all, so disposing of the engine releases the DuckDB file. Registered on import.
"""

import duckdb_engine
from sqlalchemy.dialects import registry


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
        return _Connection(super().connect(*cargs, **cparams)._ConnectionWrapper__c)


registry.register("duckdb.isolated", __name__, "Dialect")
