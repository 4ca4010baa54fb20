"""Where the run's marts are, for the Python steps after dbt: publishing, the run's summary, the coverage table.

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


def spark_mart_folders(spark_dir: str | Path) -> dict[str, Path]:
    """Every table folder of Spark's `marts` database that holds Parquet files, by mart name."""
    database = Path(spark_dir) / "tables" / "marts.db"
    if not database.is_dir():
        return {}
    return {p.name: p for p in sorted(database.iterdir()) if p.is_dir() and any(p.glob("*.parquet"))}


@contextmanager
def marts_on(con: duckdb.DuckDBPyConnection, settings: Settings) -> Iterator[str]:
    """The qualified schema on `con` that holds the marts the settings' engine built: `marts` on DuckDB; on Spark
    the connection's temporary schema (which a read-only connection may write), holding a view over each of its
    table folders until the block ends."""
    if settings.engine == "duckdb":
        yield "marts"
        return
    views = []
    try:
        for name, folder in spark_mart_folders(settings.spark_dir).items():
            pattern = str(folder / "*.parquet").replace("'", "''")
            con.execute(f"CREATE TEMP VIEW \"{name}\" AS SELECT * FROM read_parquet('{pattern}')")
            views.append(name)
        yield "temp.main"
    finally:
        for name in views:
            con.execute(f'DROP VIEW IF EXISTS temp.main."{name}"')
