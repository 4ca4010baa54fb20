"""Published marts: a read-only copy and Parquet for BI, atomically replaced, with no personal data."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.conftest import materialize

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(\+\d{1,3}[ -]?)?\(?\d{2,4}\)?[ -]\d{2,4}[ -]\d{3,4}")
PERSONAL_COLUMNS = re.compile(r"email|e_mail|phone|tel|mobile|first_name|last_name|full_name|person", re.I)

READER = """
import duckdb, json, sys, time
from pathlib import Path
path, mode, stop, out = sys.argv[1:]
held = duckdb.connect(path, read_only=True) if mode == "hold" else None  # kept open for the whole run
seen, errors, queries = set(), [], 0
while not Path(stop).exists():
    try:
        con = held or duckdb.connect(path, read_only=True)
        months = con.execute("select max(as_of) from marts.funnel_kpi_monthly").fetchall()[0][0]
        quarters = con.execute("select max(as_of) from marts.funnel_kpi_fiscal_quarterly").fetchall()[0][0]
        if months != quarters:
            errors.append(f"inconsistent marts: {months} vs {quarters}")
        seen.add(str(months))
        if held is None:
            con.close()
        queries += 1
    except Exception as exc:
        errors.append(repr(exc))
    time.sleep(0.02)
Path(out).write_text(json.dumps({"seen": sorted(seen), "errors": errors, "queries": queries}))
"""


def _published(run) -> Path:
    return Path(run.settings.warehouse_path).parent / "marts.duckdb"


def test_marts_are_published_as_duckdb_and_parquet_with_the_same_rows(demo_run):
    published = _published(demo_run)
    with duckdb.connect(str(published), read_only=True) as con:
        tables = {t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        assert tables == {
            "funnel_kpi_monthly",
            "funnel_kpi_fiscal_quarterly",
            "funnel_bottleneck",
            "funnel_targets",
            "stage_velocity",
            "speed_to_lead",
            "owner_performance",
            "reconciliation",
            "reconciliation_exceptions",
            "funnel_kpi_by_slice",
            "reapproach_list",
            "reapproach_outcomes",
            "customer_success_monthly",
            "customer_retention_cohorts",
            "unit_economics_monthly",
            "unit_economics_fiscal_quarterly",
            "score_threshold_whatif",
            "hypothesis_results",
            "campaign_performance",
            "opportunity_stage_durations",
            "stage_durations_monthly",
            "stalled_opportunities",
            "pipeline_waterfall",
            "forecast",
            "forecast_backtest",
            "pipeline_coverage",
        }
        for table in tables:
            rows = con.execute(f"select count(*) from marts.{table}").fetchall()[0][0]
            assert rows == len(demo_run.query(f"select * from marts.{table}"))
            parquet = published.parent / "parquet" / f"{table}.parquet"
            assert con.execute(f"select count(*) from read_parquet('{parquet}')").fetchall()[0][0] == rows
    event = next(
        e
        for e in demo_run.result.get_asset_materialization_events()
        if e.asset_key.path == ["serving", "published_marts"]
    )
    metadata = event.materialization.metadata
    assert metadata["rows"].value > 0 and metadata["bytes"].value == published.stat().st_size


def _scan(con: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    hits = []
    columns = con.execute(f"select column_name, column_type from (describe select * from {relation})").fetchall()
    for name, data_type in columns:
        if PERSONAL_COLUMNS.search(name):
            hits.append(f"{relation}.{name}: personal-data column")
        if data_type == "VARCHAR":
            for (value,) in con.execute(
                f'select distinct "{name}" from {relation} where "{name}" is not null'
            ).fetchall():
                if EMAIL.search(value) or PHONE.search(value):
                    hits.append(f"{relation}.{name}: {value}")
    return hits


def test_no_personal_data_reaches_what_bi_reads(demo_run):
    published = _published(demo_run)
    with duckdb.connect(str(published), read_only=True) as con:
        tables = [t for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()]
        hits = [h for t in tables for h in _scan(con, f"marts.{t}")]
        hits += [
            h
            for p in sorted((published.parent / "parquet").glob("*.parquet"))
            for h in _scan(con, f"read_parquet('{p}')")
        ]
    assert hits == []
    with duckdb.connect(demo_run.settings.warehouse_path) as con:  # the scan does find what is there
        assert any("email" in h for h in _scan(con, "extracted.ma_leads"))


def test_a_reader_holding_the_published_file_neither_blocks_nor_breaks_a_run(demo_run, tmp_path):
    folder = tmp_path / "warehouse"
    shutil.copytree(Path(demo_run.settings.warehouse_path).parent, folder)
    published, stop = folder / "marts.duckdb", tmp_path / "stop"
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(published), mode, str(stop), str(tmp_path / f"{mode}.json")]
        )
        for mode in ("hold", "reconnect")
    }
    try:
        time.sleep(1.0)
        # a different as-of rebuilds every mart with other numbers while the readers query
        run = materialize(demo_run.landing, folder / "themodel.duckdb", as_of="2026-06-30")
        time.sleep(1.0)
    finally:
        stop.touch()
        for reader in readers.values():
            reader.wait(timeout=60)
    assert run.result.success
    held, reconnecting = (json.loads((tmp_path / f"{m}.json").read_text()) for m in ("hold", "reconnect"))
    old = str(demo_run.query("select max(as_of) as a from marts.funnel_kpi_monthly")["a"][0])
    with duckdb.connect(str(published), read_only=True) as con:
        new = str(con.execute("select max(as_of) from marts.funnel_kpi_monthly").fetchall()[0][0])
    assert old != new
    for seen in (held, reconnecting):
        assert seen["errors"] == [] and seen["queries"] > 20
    assert held["seen"] == [old], "a connection held open keeps reading the old marts"
    assert set(reconnecting["seen"]) == {old, new}, "new connections see the old marts, then the new ones"


def test_a_type_change_in_a_mart_fails_the_build_instead_of_reaching_dashboards(demo_run, tmp_path):
    from pipeline.transforms.project import DBT_EXECUTABLE, DBT_PROJECT_DIR

    project = tmp_path / "transforms"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    warehouse = tmp_path / "themodel.duckdb"
    shutil.copyfile(demo_run.settings.warehouse_path, warehouse)
    model = project / "models" / "marts" / "funnel_kpi_monthly.sql"
    model.write_text(
        "select * replace (cast(base as varchar) as base) from (\n"
        + model.read_text().replace("order by view, period_start, stage_order", "")
        + "\n)"
    )
    result = subprocess.run(
        [
            DBT_EXECUTABLE,
            "run",
            "--select",
            "funnel_kpi_monthly",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "FUNNEL_WAREHOUSE": str(warehouse)},
    )
    assert result.returncode != 0
    assert "contract" in result.stdout.lower() and "base" in result.stdout
