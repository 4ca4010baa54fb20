"""The benchmark's baseline (bench/baseline.sql) is an honest equivalent of the product: over the demo extracts it
counts, month by month and stage by stage, in both views, what marts.funnel_kpi_monthly counts, by its own route
(one plain DuckDB script, no dbt, no Dagster). A ratio against a script that did less would flatter nobody."""

import duckdb
import pytest

from bench import baseline
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
