"""A small frame that Python computed, typed in SQL: written as a table replaced in one statement, or handed to
dbt as a Python model's relation."""

import duckdb
import pandas as pd


def _typed(columns: dict[str, str]) -> str:
    """The select list casting each of `columns` (name -> DuckDB type) to its type."""
    return ", ".join(f"cast({name} AS {kind}) AS {name}" for name, kind in columns.items())


def replace_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, frame: pd.DataFrame, columns: dict[str, str]
) -> None:
    """`schema.table` becomes `frame`'s `columns` (name -> DuckDB type), cast in SQL; the schema is created."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{table} AS SELECT {_typed(columns)} FROM _frame")
    finally:
        con.unregister("_frame")


def typed_relation(
    con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, columns: dict[str, str]
) -> duckdb.DuckDBPyRelation:
    """`frame`'s `columns` cast in SQL, as a relation over `frame` registered as `name`: a dbt Python model's
    result, whose column types are then those of the mart's contract, not pandas' guesses."""
    con.register(name, frame)
    return con.sql(f"SELECT {_typed(columns)} FROM {name}")
