"""Writing a small frame that Python computed as a typed table, replaced in one statement."""

import duckdb
import pandas as pd


def replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, frame: pd.DataFrame, columns: dict[str, str]
) -> None:
    """`schema.table` becomes `frame`'s `columns` (name -> DuckDB type), cast in SQL; the schema is created."""
    typed = ", ".join(f"cast({name} AS {kind}) AS {name}" for name, kind in columns.items())
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT {typed} FROM _frame")
    finally:
        con.unregister("_frame")
