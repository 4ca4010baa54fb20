"""On Spark, the analysis tables as a pipeline step between two dbt steps, since dbt-spark runs no Python model.

On DuckDB the dbt Python models of transforms/models/analysis build the forecast's backtest, the forecast and the
hypothesis tests inside the `dbt build`. dbt-spark runs Python models on Databricks only, so on Spark these assets,
with the same keys and inputs, compute the same tables with the same functions (tables.py): Spark's tables are read
from their folders under FUNNEL_SPARK_DIR and the reference data from the lake (the staging views over it, which
only Spark evaluates, select its columns unchanged), as views on an in-memory DuckDB connection; the tables are
written to `<FUNNEL_LAKE_DIR>/analysis/<table>`, which the dbt source `analysis` reads
(transforms/models/analysis/_sources.yml), and the marts forecast, forecast_backtest and hypothesis_results are
built from them. As these assets depend on dbt models and dbt models on them, Dagster runs the dbt assets in two
steps, one before and one after this one.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.warehouse.lake import write_folder
from pipeline.warehouse.layers import REFERENCE
from pipeline.warehouse.marts import create_views, parquet_folders, spark_table_folders

#: The analysis tables' schema: the dbt models' on DuckDB, the dbt source's and the lake folder's on Spark.
ANALYSIS = "analysis"


def _key(schema: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([schema, name])


SETTINGS = _key("staging", "stg_reference__sales_pipeline_settings")
CALENDAR = _key("staging", "stg_reference__business_calendar")
AS_OF = _key("intermediate", "int_as_of")
SNAPSHOTS, TARGETS = _key("intermediate", "int_forecast_snapshots"), _key("intermediate", "int_forecast_targets")

#: The assets, with the dependencies the dbt Python models declare with dbt.ref().
SPECS = [
    dg.AssetSpec(_key(ANALYSIS, "forecast_backtest_rows"), deps=[SETTINGS, SNAPSHOTS, TARGETS]),
    dg.AssetSpec(
        _key(ANALYSIS, "forecast_rows"),
        deps=[
            SETTINGS,
            SNAPSHOTS,
            TARGETS,
            AS_OF,
            _key(ANALYSIS, "forecast_backtest_rows"),
            _key("stages", "field_sales_entries"),
            CALENDAR,
        ],
    ),
    dg.AssetSpec(_key(ANALYSIS, "hypothesis_tests"), deps=[AS_OF, _key("intermediate", "int_stage_tables")]),
]


def _inputs(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory connection reading Spark's intermediate and stage tables and the lake's reference data."""
    con = duckdb.connect(config={"memory_limit": settings.duckdb_memory_limit, "threads": settings.duckdb_threads})
    con.execute("SET TimeZone = 'UTC'")  # as dbt's connections (transforms/profiles.yml)
    for schema in ("intermediate", "stages"):
        con.execute(f"CREATE SCHEMA {schema}")
        create_views(con, spark_table_folders(settings.spark_dir, schema), schema)
    con.execute(f"CREATE SCHEMA {REFERENCE}")
    create_views(con, parquet_folders(Path(settings.lake_dir) / REFERENCE), REFERENCE)
    return con


@dg.multi_asset(
    specs=[spec.replace_attributes(group_name=ANALYSIS, kinds={"python", "parquet"}) for spec in SPECS],
    pool=WAREHOUSE_POOL,
)
def analysis_tables(settings: Settings):
    """The forecast's backtest, the forecast and the hypothesis tests on Spark's tables, written to the lake."""
    try:
        yield from _write_tables(settings)
    except duckdb.CatalogException as exc:  # a table this step reads is not there
        raise dg.Failure(
            f"the analysis step reads Spark's tables under {Path(settings.spark_dir) / 'tables'} and the lake's "
            f"reference data under {Path(settings.lake_dir) / REFERENCE}: {str(exc).splitlines()[0]} Materialize the "
            "dbt models first (the refresh job does)."
        ) from None


def _write_tables(settings: Settings) -> Iterator[dg.MaterializeResult]:
    # Imported here, as only a Spark run's step computes: the hypothesis tests' statsmodels takes a second to
    # import, which every process loading the definitions on DuckDB would pay for nothing.
    from pipeline.analysis.tables import forecast_backtest_rows, forecast_rows, hypothesis_tests

    lake = Path(settings.lake_dir) / ANALYSIS
    with _inputs(settings) as con:
        pipeline_settings = con.table(f"{REFERENCE}.sales_pipeline_settings")
        snapshots, targets = (
            con.table("intermediate.int_forecast_snapshots"),
            con.table("intermediate.int_forecast_targets"),
        )
        backtest = forecast_backtest_rows(con, pipeline_settings, snapshots, targets)
        forecast = forecast_rows(
            con,
            pipeline_settings,
            con.table("intermediate.int_as_of"),
            snapshots,
            targets,
            backtest,
            con.table("stages.field_sales_entries"),
            con.table(f"{REFERENCE}.business_calendar"),
        )
        hypotheses = hypothesis_tests(con, Path(settings.hypotheses), settings.reporting_tz)
        tables = {"forecast_backtest_rows": backtest, "forecast_rows": forecast, "hypothesis_tests": hypotheses}
        for name, rows in tables.items():
            count = write_folder(rows, lake / name)
            yield dg.MaterializeResult(asset_key=_key(ANALYSIS, name), metadata={"dagster/row_count": count})


def analysis_assets(engine: str) -> list[dg.AssetsDefinition]:
    """The analysis step's assets on the engine: none on DuckDB, whose dbt Python models are these assets."""
    return [] if engine == "duckdb" else [analysis_tables]
