"""A warehouse written by the previous version (schemas landed, raw and funnel; alerts in marts) is brought to the
current layout by the first run, unasked: the loaded rows, load log, quarantine and alert history carry over
(pipeline/warehouse/migrate.py) and every mart comes out as a clean run's."""

import shutil

import duckdb
import pandas as pd

from pipeline.serving.publish import MARTS
from tests.conftest import materialize


def _to_previous_layout(warehouse) -> None:
    """Rename a current warehouse's Python-owned tables to where the previous version kept them."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema landed; create schema raw; create schema funnel")
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'extracted'"
        ).fetchall():
            target = "raw" if table in ("load_log", "quarantine") else "landed"
            con.execute(f"create table {target}.{table} as select * from extracted.{table}")
            if target == "landed":  # the deduplicated copy the previous version also kept
                con.execute(f"create table raw.{table} as select * from extracted.{table}")
        con.execute("drop schema extracted cascade")
        con.execute("create table funnel.stage_marketing as select * from stages.marketing_entries")
        con.execute("drop schema stages cascade")
        con.execute("""
            create table marts.alerts (
                alert_id varchar primary key, kind varchar, month varchar, stage varchar, status varchar,
                previous_status varchar, title varchar, body varchar, run_id varchar, raised_at timestamptz,
                delivery_status varchar, attempts integer, delivered_at timestamptz, last_error varchar)""")
        con.execute(
            "insert into marts.alerts (alert_id, title, delivery_status) "
            "values ('missed|marketing|2026-05', 'delivered before the upgrade', 'delivered')"
        )


def test_the_first_run_migrates_a_warehouse_of_the_previous_layout(demo_run, tmp_path):
    warehouse = tmp_path / "themodel.duckdb"
    shutil.copy(demo_run.settings.warehouse_path, warehouse)
    _to_previous_layout(warehouse)

    run = materialize(demo_run.landing, warehouse)
    assert run.result.success
    skipped = {
        e.asset_key.path[-1]: e.materialization.metadata["files_skipped"].value
        for e in run.result.get_asset_materialization_events()
        if "files_skipped" in e.materialization.metadata
    }
    loaded = {
        e.asset_key.path[-1]: e.materialization.metadata["files"].value
        for e in run.result.get_asset_materialization_events()
        if "files" in e.materialization.metadata
    }
    assert skipped == loaded and sum(skipped.values()) > 0  # the load log carried over: nothing was read again

    schemas = {
        s
        for (s,) in duckdb.connect(str(warehouse), read_only=True)
        .execute("select schema_name from duckdb_schemas()")
        .fetchall()
    }
    assert not schemas & {"landed", "raw", "funnel"}
    assert run.query("select title from alerting.alerts")["title"].tolist() == ["delivered before the upgrade"]
    for mart in MARTS:
        got = run.query(f"select * from marts.{mart}")
        want = demo_run.query(f"select * from marts.{mart}")
        pd.testing.assert_frame_equal(got, want, check_dtype=False, obj=mart)
