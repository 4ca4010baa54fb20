"""The same dbt models on Spark give the marts DuckDB gives, value for value (issue #16, item 4).

`make test-spark` runs this (it needs the `spark` extra and Java 17; `make test` leaves it out by its marker). The
demo extracts are materialized by the Dagster job on DuckDB as `make run` does; the lake (pipeline/warehouse/lake.py)
copies the extracted layer and the reference data to Parquet; `dbt build --target spark` builds the same models with
dbt-spark in session mode, Spark in local mode, from the lake, and runs the data tests on them (the unit tests are
DuckDB's); every mart Spark built is read back from its Parquet files and compared with DuckDB's: the same columns
holding the same kinds of values, the same rows, text and dates equal, numbers to 1e-9 relative.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.serving.publish import MARTS
from pipeline.transforms.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from pipeline.warehouse.lake import write_lake
from pipeline.warehouse.resource import Warehouse

pytestmark = pytest.mark.spark

#: Marts fed by dbt Python models (analysis/), which dbt-spark runs on Databricks only: not built on Spark yet.
DUCKDB_ONLY_MARTS = {"forecast", "forecast_backtest", "hypothesis_results"}


@pytest.fixture(scope="module")
def spark_marts(demo_run, tmp_path_factory) -> Path:
    """The folder of the marts `dbt build --target spark` wrote (one Parquet folder per mart)."""
    work = tmp_path_factory.mktemp("spark")
    written = write_lake(Warehouse.of(demo_run.settings), work / "lake")
    assert written["extracted.ma_leads"] > 0 and written["reference.business_calendar"] > 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DBT_"))}
    env |= demo_run.settings.dbt_env() | {
        "FUNNEL_LAKE_DIR": str(work / "lake"),
        "FUNNEL_SPARK_DIR": str(work / "spark"),
    }
    run = subprocess.run(
        [DBT_EXECUTABLE, "build", "--target", "spark", "--exclude-resource-type", "unit_test"]
        + ["--target-path", str(work / "target"), "--log-path", str(work)],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    return work / "spark" / "tables" / "marts.db"


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


def test_spark_builds_every_mart_but_those_of_python_models(spark_marts):
    built = {path.name for path in spark_marts.iterdir() if path.is_dir()}
    assert built == set(MARTS) - DUCKDB_ONLY_MARTS


@pytest.mark.parametrize("mart", sorted(set(MARTS) - DUCKDB_ONLY_MARTS))
def test_the_mart_is_the_same_on_spark(mart, demo_run, spark_marts):
    expected = demo_run.query(f"select * from marts.{mart}")
    expected_types = demo_run.query(f"describe marts.{mart}").set_index("column_name")["column_type"]
    parquet = f"read_parquet('{spark_marts / mart}/*.parquet')"
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        actual = con.execute(f"select * from {parquet}").df()
        actual_types = con.execute(f"describe select * from {parquet}").df().set_index("column_name")["column_type"]
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
