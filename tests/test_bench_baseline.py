"""The benchmark's baseline (bench/baseline.sql) is an honest equivalent of the product: over the demo extracts it
counts, month by month and stage by stage, in both views, what marts.funnel_kpi_monthly counts, by its own route
(one plain DuckDB script, no dbt, no Dagster). A ratio against a script that did less would flatter nobody."""

import duckdb
import pytest

from bench import baseline
from pipeline.ingest.contract import ENTITIES
from pipeline.warehouse.resource import Warehouse

COUNTS = "view, period_start, stage, base, base_handover, base_direct, goal, dropped, as_of"


@pytest.fixture(scope="module")
def baseline_run(demo_landing, tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    return folder, baseline.run(demo_landing, folder)


def baseline_counts(folder, table: str = "funnel_kpi_monthly") -> list[tuple]:
    warehouse, published = baseline.files(folder)
    with duckdb.connect(str(published if table == "published" else warehouse), read_only=True) as con:
        return con.execute(f"select {COUNTS} from funnel_kpi_monthly order by all").fetchall()


@pytest.mark.parametrize("view", ["period", "cohort"])
def test_baseline_counts_what_the_product_counts(demo_run, baseline_run, view):
    folder, _ = baseline_run
    with Warehouse(path=demo_run.settings.warehouse_path).connect(read_only=True) as con:
        sql = f"select {COUNTS} from marts.funnel_kpi_monthly where view = ? order by all"
        product = con.execute(sql, [view]).fetchall()
    ours = [row for row in baseline_counts(folder) if row[0] == view]
    assert len(ours) == len(product) > 4 * 12
    assert ours == product
    # not a table of zeros: every stage has entries and hand-overs
    assert {row[2] for row in ours if row[3] and row[6]} == {
        "marketing",
        "inside_sales",
        "field_sales",
        "customer_success",
    }


def test_baseline_times_each_section_and_publishes_the_kpi_table(baseline_run):
    folder, result = baseline_run
    assert list(result["sections"]) == ["ingest", "transforms", "publish"]
    assert all(seconds > 0 for seconds in result["sections"].values())
    warehouse, _ = baseline.files(folder)
    assert result["warehouse_bytes"] == warehouse.stat().st_size
    assert baseline_counts(folder, "published") == baseline_counts(folder)


def test_baseline_reads_every_extract_the_product_loads(demo_run, baseline_run):
    """The baseline's ingest does the product's ingest's reading: a table per contract entity, with the product's
    values and types (the product's bookkeeping columns aside; a column the files lack, which the product loads as
    empty, the baseline does not read), so the ingest ratio compares the same reading."""
    folder, _ = baseline_run
    warehouse, _ = baseline.files(folder)
    with Warehouse(path=demo_run.settings.warehouse_path).connect(read_only=True) as con:
        con.execute(f"attach '{warehouse}' as base (read_only)")
        for entity in ENTITIES:
            read = {r[0] for r in con.execute(f"describe base.{entity.table}").fetchall()}
            for absent in (c for c in entity.column_names if c not in read):
                assert absent in entity.may_be_absent, f"{entity.table}.{absent}"
                values = con.execute(f'select count("{absent}") from extracted.{entity.table}').fetchone()[0]
                assert values == 0, f"the product loaded {absent} of {entity.table}, which the baseline does not read"
            columns = ", ".join(f'"{c}"' for c in entity.column_names if c in read)
            ours = con.execute(f"describe select {columns} from base.{entity.table}").fetchall()
            theirs = con.execute(f"describe select {columns} from extracted.{entity.table}").fetchall()
            assert [r[:2] for r in ours] == [r[:2] for r in theirs], entity.table
            for first, second in (("base", "extracted"), ("extracted", "base")):
                differ = con.execute(
                    f"select count(*) from (select {columns} from {first}.{entity.table} "
                    f"except all select {columns} from {second}.{entity.table})"
                ).fetchone()[0]
                assert differ == 0, f"{entity.table}: {differ} rows of {first} are not in {second}"
        loaded = con.execute("select count(*) from extracted.ma_leads").fetchone()[0]
    assert loaded > 1000


def test_the_ratios_divide_by_the_mean_of_the_baseline_runs_around_the_products():
    """The baseline runs before and after the product's runs (the machine's speed drifts); a ratio divides by the
    mean of the two, and the drift between them is reported, with both runs as measured."""
    from bench.run_bench import bracketed, rows

    def run(wall, ingest, transforms, peak, size):
        phases = {"ingest": ingest, "transforms": transforms, "publish": 0.5, "overhead": wall - ingest - transforms}
        return {
            "wall_seconds": wall,
            "peak_rss_bytes": peak,
            "phases": phases,
            "warehouse_bytes": size,
            "published_bytes": 1000,
        }

    before, after = run(60.0, 20.0, 30.0, 3e9, 4e8), run(80.0, 30.0, 40.0, 4e9, 4e8)
    base = bracketed(before, after)
    assert base["wall_seconds"] == 70.0
    assert base["phases"] == {"ingest": 25.0, "transforms": 35.0, "publish": 0.5, "overhead": 10.0}
    assert (base["peak_rss_bytes"], base["warehouse_bytes"]) == (3.5e9, 4e8)
    assert base["drift"] == round(20 / 70, 4)
    assert base["runs"] == [before, after]

    product = run(210.0, 50.0, 140.0, 2e9, 7e8)
    table = {row.phase: row for row in rows(10_000_000, base, product, product, None)}
    assert table["end to end"].ratio == 3.0
    assert table["ingest"].ratio == 2.0
    assert table["warehouse file"].ratio == pytest.approx(1.75)
    assert [v["met"] for v in table["end to end"].verdicts if v["applies"]] == [True]
