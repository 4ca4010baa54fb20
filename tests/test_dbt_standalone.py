"""dbt stands on its own, and a repeated run does not parse the dbt project again (issue #11, items 3 and 6).

Settings reach dbt only through the FUNNEL_* environment (transforms/dbt_project.yml vars and profiles.yml read
them with env_var()), so `dbt build` run by hand from transforms/ with the pipeline's environment must compute the
marts a Dagster run computed, and a second run with unchanged settings must find dbt's partial-parse state valid.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.config.settings import Environment, Settings
from pipeline.serving.publish import MARTS
from pipeline.transforms.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_target_root
from tests.conftest import EDGE_AS_OF, Materialized, materialize

#: The schemas dbt owns (pipeline/warehouse/layers.py): dropped from the copy so `dbt build` must rebuild them.
DBT_SCHEMAS = ["staging", "intermediate", "stages", "analysis", "marts"]

#: Every setting dbt reads, none at its default, so a variable that does not reach dbt changes some mart.
NON_DEFAULT = {
    "as_of": EDGE_AS_OF,
    "reporting_tz": "UTC",
    "fiscal_year_start_month": 1,
    "marketing_aging_days": 90,
    "speed_to_lead_sla_business_days": 2,
}


def funnel_environment(settings: Settings, warehouse: Path) -> dict[str, str]:
    """The FUNNEL_* variables a user would set to get `settings` (the aliases Settings.from_env reads), with the
    warehouse moved to `warehouse`. Built from the settings, not from Settings.dbt_env, which is under test."""
    env = {
        field.alias: str(getattr(settings, name))
        for name, field in Environment.model_fields.items()
        if name in Settings.model_fields and getattr(settings, name) is not None
    }
    return env | {"FUNNEL_WAREHOUSE": str(warehouse)}


def dbt_build_by_hand(run: Materialized, tmp_path: Path) -> Path:
    """A copy of the run's warehouse with dbt's schemas dropped and rebuilt by `dbt build` from transforms/, in an
    environment holding no DBT_* or FUNNEL_* variable but the run's settings; artifacts and logs go to tmp_path."""
    copy = tmp_path / "by_hand.duckdb"
    shutil.copyfile(run.settings.warehouse_path, copy)
    with duckdb.connect(str(copy)) as con:
        for schema in DBT_SCHEMAS:
            con.execute(f"drop schema {schema} cascade")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DBT_"))}
    env |= funnel_environment(run.settings, copy)
    build = subprocess.run(
        [DBT_EXECUTABLE, "build", "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-2000:]
    return copy


def read_mart(warehouse: str | Path, mart: str) -> pd.DataFrame:
    """The mart's rows in a canonical order: by its non-float columns, then its floats."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.execute(f"select * from marts.{mart}").df()
    floats = [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c])]
    order = [c for c in frame.columns if c not in floats] + floats
    return frame.sort_values(order, na_position="first").reset_index(drop=True)


def mart_differences(dagster: str | Path, by_hand: Path) -> dict[str, str]:
    """Per mart that differs, how: columns, types, row counts and values. Doubles agree to 1e-12 relative, not
    bit for bit: a mean sums its rows in the order DuckDB happens to read them, which differs between two builds."""
    differences = {}
    for mart in MARTS:
        try:
            pd.testing.assert_frame_equal(
                read_mart(dagster, mart), read_mart(by_hand, mart), check_exact=False, rtol=1e-12, atol=1e-12
            )
        except AssertionError as difference:
            differences[mart] = str(difference)
    return differences


@pytest.fixture(scope="module")
def repeated_run(demo_landing, tmp_path_factory) -> tuple[Materialized, Materialized]:
    """The demo extracts materialized twice in a row into one warehouse with the same (non-default) settings.

    Back to back, because the partial-parse state dagster-dbt starts from is one file per target root
    (DBT_TARGET_PATH, one per test process: tests/conftest.py): a run with other settings in between would replace
    it."""
    warehouse = tmp_path_factory.mktemp("repeated") / "funnel.duckdb"
    runs = materialize(demo_landing, warehouse, **NON_DEFAULT), materialize(demo_landing, warehouse, **NON_DEFAULT)
    assert all(run.result.success for run in runs), "materializing the demo extracts with non-default settings failed"
    return runs


def test_dbt_build_by_hand_computes_the_marts_of_a_dagster_run(demo_run, tmp_path):
    assert mart_differences(demo_run.settings.warehouse_path, dbt_build_by_hand(demo_run, tmp_path)) == {}


def test_dbt_build_by_hand_reads_every_setting_from_the_environment(repeated_run, tmp_path):
    run = repeated_run[1]
    as_of = run.query(
        "select as_of = timestamptz '2026-07-01 00:00:00+00' - interval 1 microsecond as ok from intermediate.int_as_of"
    )
    assert as_of["ok"][0], "the run did not compute at the end of EDGE_AS_OF in UTC"
    assert mart_differences(run.settings.warehouse_path, dbt_build_by_hand(run, tmp_path)) == {}


def dbt_logs(run: Materialized) -> dict[str, str]:
    """dbt.log of every dbt invocation of the run: dagster-dbt gives each its own target and log path,
    <DBT_TARGET_PATH or transforms/target>/<step>-<first 7 characters of the run id>-<random>/ (DbtCliResource.cli)."""
    return {d.name: (d / "dbt.log").read_text() for d in dbt_target_root().glob(f"*-{run.result.run_id[:7]}-*")}


def test_a_repeated_run_reuses_the_parsed_project(repeated_run):
    """The first run may parse in full (the state it finds was parsed with another warehouse file name, which is the
    database name in dbt's profile hash, or other FUNNEL_* values, which dbt hashes as env vars of dbt_project.yml;
    the warehouse's folder is not hashed: tests/test_dbt_parse_state.py); the second must
    reuse the state the first copied back (pipeline/transforms/assets.py), in its one dbt invocation."""
    logs = dbt_logs(repeated_run[1])
    assert len(logs) == 1, f"expected one dbt invocation per run, found {sorted(logs)}"
    reparsed = {
        name: re.findall(r"Unable to do partial parsing[^\"\n]*|Starting full parse", log) for name, log in logs.items()
    }
    assert not any(reparsed.values()), reparsed
    assert all("Partial parsing enabled" in log for log in logs.values()), "dbt logged no partial parsing"
