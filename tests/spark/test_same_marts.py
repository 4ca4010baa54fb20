"""The Dagster job on Spark gives the marts the job on DuckDB gives, value for value (issue #16, items 3 and 4).

`make test-spark` runs this, and CI with every other test (it needs the `spark` extra and Java 17; `make test`
leaves it out by its marker). The demo extracts are materialized twice by the `refresh` job: as `make run` does, on
DuckDB, and with the engine set to Spark (FUNNEL_ENGINE=spark), where the dbt step writes the lake
(pipeline/warehouse/lake.py) from what ingest wrote and runs `dbt build --target spark` (dbt-spark in session mode,
Spark in local mode; the models and their data tests) in two steps around the analysis step (the dbt Python models'
tables, pipeline/analysis/assets.py), and publishing reads Spark's marts. Every mart the Spark run published is
compared with DuckDB's: the same columns holding the same kinds of values, the same rows, text and dates equal,
numbers to 1e-9 relative; and the summary `make run` prints is the same from either.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.analysis.assets import ANALYSIS, SPECS
from pipeline.run import funnel_table, improvement_loop
from pipeline.serving.coverage_table import coverage_table
from pipeline.serving.paths import parquet_dir, published_file, report_dir
from pipeline.serving.publish import MARTS
from pipeline.transforms.project import ensure_manifest
from pipeline.warehouse.marts import spark_table_folders
from tests.conftest import Materialized, materialize
from tests.test_dbt_project_rules import layer, models

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_run(demo_landing, tmp_path_factory) -> Materialized:
    """The demo extracts materialized by the refresh job with FUNNEL_ENGINE=spark, in folders of its own."""
    work = tmp_path_factory.mktemp("spark")
    (work / "warehouse").mkdir()
    run = materialize(
        demo_landing,
        work / "warehouse" / "themodel.duckdb",
        engine="spark",
        lake_dir=str(work / "lake"),
        spark_dir=str(work / "spark"),
    )
    failed = [e.step_key for e in run.result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert run.result.success, f"the Spark run failed at {failed}"
    return run


def published(run: Materialized, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(published_file(run.settings.warehouse_path)), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).df()


def type_class(duckdb_type: str) -> str:
    """What a column holds, as both engines must agree on it: whole numbers, fractions, text, dates, instants (Spark's
    TIMESTAMP, DuckDB's TIMESTAMPTZ), wall times (TIMESTAMP_NTZ, TIMESTAMP) or booleans. Widths and DECIMAL vs DOUBLE
    may differ (Parquet has no HUGEINT; Spark's percentile is a DOUBLE)."""
    name = duckdb_type.upper()
    if name in {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}:
        return "whole"
    if name.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL")):
        return "fraction"
    return {"VARCHAR": "text", "DATE": "date", "TIMESTAMP WITH TIME ZONE": "instant", "TIMESTAMP": "wall time"}.get(
        name, name.lower()
    )


def in_order(frame: pd.DataFrame, floats: list[str]) -> pd.DataFrame:
    """The rows sorted by the non-float columns, then the floats (DuckDB's frame says which are floats)."""
    order = [c for c in frame.columns if c not in floats] + floats
    return frame.sort_values(order, na_position="first").reset_index(drop=True)


def test_the_spark_run_builds_and_publishes_every_mart(spark_run):
    tables = published(spark_run, "select table_name from duckdb_tables()")["table_name"]
    assert set(tables) == set(MARTS)
    assert {p.stem for p in parquet_dir(spark_run.settings.warehouse_path).glob("*.parquet")} == set(MARTS)
    assert set(MARTS) <= set(spark_table_folders(spark_run.settings.spark_dir, "marts"))
    assert (report_dir(spark_run.settings.warehouse_path) / "index.html").is_file()


def staging_models(engine: str) -> dict[str, str]:
    """The models under models/staging in the engine's manifest, with their materialization."""
    manifest = json.loads(ensure_manifest(engine).read_text())
    return {n["name"]: n["config"]["materialized"] for n in models(manifest).values() if layer(n) == "staging"}


def test_the_staging_models_are_tables_on_spark():
    """Spark would plan a staging view again inside each of its readers (docs/scale.md); DuckDB keeps views."""
    spark = staging_models("spark")
    assert set(spark.values()) == {"table"}
    assert spark.keys() == staging_models("duckdb").keys()


def test_the_analysis_step_runs_between_two_dbt_steps(spark_run):
    """dbt-spark runs no Python model: the analysis tables come from a pipeline step, written to the lake."""
    steps = [e.step_key for e in spark_run.result.all_events if e.event_type_value == "STEP_START"]
    analysis = steps.index("analysis_tables")
    dbt_steps = [i for i, step in enumerate(steps) if step.startswith("dbt_models")]
    assert len(dbt_steps) == 2 and dbt_steps[0] < analysis < dbt_steps[1], steps
    lake = Path(spark_run.settings.lake_dir) / ANALYSIS
    assert {p.name for p in lake.iterdir() if (p / "part-0.parquet").is_file()} == {s.key.path[-1] for s in SPECS}


@pytest.mark.parametrize("mart", sorted(MARTS))
def test_the_mart_is_the_same_on_spark(mart, demo_run, spark_run):
    expected = demo_run.query(f"select * from marts.{mart}")
    expected_types = demo_run.query(f"describe marts.{mart}").set_index("column_name")["column_type"]
    actual = published(spark_run, f"select * from main.{mart}")
    actual_types = published(spark_run, f"describe main.{mart}").set_index("column_name")["column_type"]
    assert list(actual.columns) == list(expected.columns)
    assert {c: type_class(t) for c, t in actual_types.items()} == {c: type_class(t) for c, t in expected_types.items()}
    assert len(actual) == len(expected)
    for column in expected.columns:
        if pd.api.types.is_datetime64_any_dtype(expected[column]):
            actual[column] = pd.to_datetime(actual[column], utc=expected[column].dt.tz is not None)
            actual[column] = actual[column].astype(expected[column].dtype)
    floats = [c for c in expected.columns if pd.api.types.is_float_dtype(expected[c])]
    expected, actual = in_order(expected, floats), in_order(actual, floats)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9)


def test_the_run_summary_reads_the_marts_spark_built(demo_run, spark_run):
    assert funnel_table(spark_run.settings, 6) == funnel_table(demo_run.settings, 6)
    assert coverage_table(spark_run.settings) == coverage_table(demo_run.settings)
    assert improvement_loop(spark_run.settings) == improvement_loop(demo_run.settings)
