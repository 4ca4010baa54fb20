"""DuckDB's memory limit and threads: one setting each, applied to the pipeline's connections and to dbt's."""

from pathlib import Path

import pytest
import yaml

from pipeline.config.files import ConfigError
from pipeline.config.settings import PROJECT_ROOT, Environment, Settings, read_environment
from pipeline.warehouse.resource import Warehouse


def _settings(tmp_path, **values) -> Settings:
    return Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w.duckdb"), **values)


def test_every_warehouse_connection_runs_with_the_configured_memory_limit_and_threads(tmp_path):
    warehouse = Warehouse.of(_settings(tmp_path, duckdb_memory_limit="300MiB", duckdb_threads=1))
    with warehouse.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.execute("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall() == [
            ("300.0 MiB", 1)
        ]
    with warehouse.connect(read_only=True) as con:
        assert con.execute("SELECT current_setting('threads')").fetchall() == [(1,)]


def test_dbt_gets_the_same_values_and_its_profile_falls_back_to_the_defaults(tmp_path):
    env = _settings(tmp_path, duckdb_memory_limit="3GB", duckdb_threads=3).dbt_env()
    assert (env["FUNNEL_DUCKDB_MEMORY_LIMIT"], env["FUNNEL_DUCKDB_THREADS"]) == ("3GB", "3")
    profile = yaml.safe_load((PROJECT_ROOT / "transforms" / "profiles.yml").read_text())
    settings = profile["themodel"]["outputs"]["local"]["settings"]
    defaults = Environment.model_fields
    assert (
        settings["memory_limit"]
        == f"{{{{ env_var('FUNNEL_DUCKDB_MEMORY_LIMIT', '{defaults['duckdb_memory_limit'].default}') }}}}"
    )
    assert settings["threads"] == f"{{{{ env_var('FUNNEL_DUCKDB_THREADS', '{defaults['duckdb_threads'].default}') }}}}"


@pytest.mark.parametrize("value", ["2GB", "1500 MB", "4GiB", "25%"])
def test_a_memory_limit_is_a_size_or_a_share(value):
    assert read_environment({"FUNNEL_DUCKDB_MEMORY_LIMIT": value}).duckdb_memory_limit == value


@pytest.mark.parametrize(
    "name, value",
    [("FUNNEL_DUCKDB_MEMORY_LIMIT", "2 gigs"), ("FUNNEL_DUCKDB_MEMORY_LIMIT", "2"), ("FUNNEL_DUCKDB_THREADS", "0")],
)
def test_a_typo_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        read_environment({name: value})


def test_the_spark_profile_falls_back_to_the_same_defaults():
    """transforms/profiles.yml's spark output reads FUNNEL_SPARK_* with the defaults of pipeline/config/settings.py."""
    spark = yaml.safe_load((PROJECT_ROOT / "transforms" / "profiles.yml").read_text())["themodel"]["outputs"]["spark"]
    parameters = spark["server_side_parameters"]
    defaults = read_environment({})
    assert parameters["spark.master"] == f"{{{{ env_var('FUNNEL_SPARK_MASTER', '{defaults.spark_master}') }}}}"
    assert (
        parameters["spark.driver.memory"]
        == f"{{{{ env_var('FUNNEL_SPARK_DRIVER_MEMORY', '{defaults.spark_driver_memory}') }}}}"
    )
    fallback = "{{ env_var('FUNNEL_SPARK_DIR', '../warehouse/spark') }}"
    assert parameters["spark.sql.warehouse.dir"] == f"{fallback}/tables"
    assert (PROJECT_ROOT / "transforms" / "../warehouse/spark").resolve() == Path(defaults.spark_dir)
