"""The analysis step of a Spark run (pipeline/analysis/assets.py) gives the tables the dbt Python models give.

Checked without Spark, so that `make test` covers it: the DuckDB run's intermediate and stage tables are laid out
as Spark lays out its tables (`<spark_dir>/tables/<schema>.db/<table>/*.parquet`) and its reference data as the
lake holds it; the step reads those files on a connection of its own and writes its tables to the lake, and each
must equal, value for value, the table the dbt Python model built in the DuckDB run. (tests/spark runs the step
on Spark's own tables.)
"""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from pipeline.analysis.assets import ANALYSIS, SPECS, analysis_tables
from pipeline.config.settings import Settings
from pipeline.transforms.assets import WarehouseDbtTranslator
from pipeline.transforms.project import ensure_manifest
from pipeline.warehouse.lake import write_folder, write_lake
from pipeline.warehouse.marts import spark_table_folders
from pipeline.warehouse.resource import Warehouse

TABLES = [spec.key.path[-1] for spec in SPECS]


def spark_settings(run, spark_dir: Path, lake: Path) -> Settings:
    """The run's settings with Spark's folder and the lake in `spark_dir` and `lake`."""
    return Settings(**(run.settings.model_dump() | {"spark_dir": str(spark_dir), "lake_dir": str(lake)}))


def test_the_analysis_step_on_files_gives_the_tables_of_the_dbt_python_models(demo_run, tmp_path):
    spark_dir, lake = tmp_path / "spark", tmp_path / "lake"
    warehouse = Warehouse(path=demo_run.settings.warehouse_path)
    with warehouse.connect(read_only=True) as con:
        for schema in ("intermediate", "stages"):
            tables = con.execute(
                "select table_name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'",
                [schema],
            ).fetchall()
            for (table,) in tables:
                write_folder(con.table(f"{schema}.{table}"), spark_dir / "tables" / f"{schema}.db" / table)
    write_lake(warehouse, lake)
    assert "int_forecast_snapshots" in spark_table_folders(spark_dir, "intermediate")
    settings = spark_settings(demo_run, spark_dir, lake)

    result = dg.materialize([analysis_tables], resources={"settings": settings}, raise_on_error=False)

    assert result.success
    counts = {
        e.asset_key.path[-1]: e.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    for name in TABLES:
        expected = demo_run.query(f"select * from analysis.{name}")
        with duckdb.connect() as con:
            actual = con.execute(f"select * from read_parquet('{lake / ANALYSIS / name}/*.parquet')").df()
        assert len(expected) > 0 and counts[name] == len(expected), name
        pd.testing.assert_frame_equal(actual, expected, check_exact=True)


def test_a_lake_table_is_swapped_in_whole(tmp_path):
    folder = tmp_path / "analysis" / "rows"
    with duckdb.connect() as con:
        assert write_folder(con.sql("select range as n from range(5)"), folder) == 5
        assert write_folder(con.sql("select range as n from range(3)"), folder) == 3
        assert con.execute(f"select sum(n) from read_parquet('{folder}/*.parquet')").fetchone()[0] == 3
    assert sorted(p.name for p in folder.parent.iterdir()) == ["rows"]  # no .new or .old left
    assert [p.name for p in Path(folder).iterdir()] == ["part-0.parquet"]


def test_the_analysis_step_before_any_dbt_step_says_what_to_run_first(tmp_path, demo_run):
    settings = spark_settings(demo_run, tmp_path / "spark", tmp_path / "lake")
    (tmp_path / "lake" / "reference").mkdir(parents=True)

    result = dg.materialize([analysis_tables], resources={"settings": settings}, raise_on_error=False)

    assert not result.success
    failure = result.failure_data_for_node("analysis_tables").error.message
    assert f"reads Spark's tables under {tmp_path / 'spark' / 'tables'}" in failure
    assert "does not exist" in failure and "Materialize the dbt models first" in failure


def test_the_step_depends_on_what_the_dbt_python_models_ref():
    """The assets' dependencies are those dbt reads from the dbt Python models' dbt.ref() calls."""
    manifest = json.loads(ensure_manifest("duckdb").read_text(encoding="utf-8"))
    translator = WarehouseDbtTranslator()
    for spec in SPECS:
        model = manifest["nodes"][f"model.themodel.{spec.key.path[-1]}"]
        assert translator.get_asset_key(model) == spec.key
        refs = {translator.get_asset_key(manifest["nodes"][uid]) for uid in model["depends_on"]["nodes"]}
        assert {dep.asset_key for dep in spec.deps} == refs, spec.key
