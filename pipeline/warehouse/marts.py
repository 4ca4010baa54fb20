"""Where the run's marts are, for the Python steps after dbt: publishing, the run's summary, the coverage table
(and on Spark, where the analysis step reads Spark's other tables: pipeline/analysis/assets.py).

The engine (FUNNEL_ENGINE, docs/scale.md) that ran dbt holds them: DuckDB in the warehouse file's `marts` schema,
Spark as Parquet tables under `<FUNNEL_SPARK_DIR>/tables/marts.db/<mart>/`. On Spark those folders become temporary
views on the caller's DuckDB connection, so the same SQL reads either engine's marts, the warehouse file's `marts`
schema (dbt's on DuckDB) is neither read nor written, and nothing is copied.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.config.settings import Settings


def parquet_folders(parent: Path) -> dict[str, Path]:
    """Every folder in `parent` that holds Parquet files (a table of Spark's or of the lake), by name; the hidden
    ones a write in progress uses are left out."""
    if not parent.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(parent.iterdir())
        if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.parquet"))
    }


def spark_table_folders(spark_dir: str | Path, database: str) -> dict[str, Path]:
    """Every table folder of a Spark database (`marts`, `stages`, ...), by table name."""
    return parquet_folders(Path(spark_dir) / "tables" / f"{database}.db")


def create_views(con: duckdb.DuckDBPyConnection, folders: dict[str, Path], schema: str | None = None) -> None:
    """A view over the Parquet files of each folder, named for it: in `schema`, or temporary (in `temp.main`,
    which a read-only connection may create) when None."""
    for name, folder in folders.items():
        pattern = str(folder / "*.parquet").replace("'", "''")
        view = f'VIEW {schema}."{name}"' if schema else f'TEMP VIEW "{name}"'
        con.execute(f"CREATE {view} AS SELECT * FROM read_parquet('{pattern}')")


@contextmanager
def marts_on(con: duckdb.DuckDBPyConnection, settings: Settings) -> Iterator[str]:
    """The qualified schema on `con` that holds the marts the settings' engine built: `marts` on DuckDB; on Spark
    the connection's temporary schema (which a read-only connection may write), holding a view over each of its
    table folders until the block ends."""
    if settings.engine == "duckdb":
        yield "marts"
        return
    folders = spark_table_folders(settings.spark_dir, "marts")
    try:
        create_views(con, folders)
        yield "temp.main"
    finally:
        for name in folders:
            con.execute(f'DROP VIEW IF EXISTS temp.main."{name}"')
