"""The recipes in docs/bi.md run against a published warehouse, and `make export` writes Excel-ready CSV."""

import re
from pathlib import Path

import pandas as pd

from pipeline.serving.export import export_marts

DOC = Path(__file__).parent.parent / "docs" / "bi.md"


def test_every_python_recipe_in_the_bi_doc_runs(demo_run, monkeypatch):
    folder = Path(demo_run.settings.warehouse_path).parent
    monkeypatch.chdir(folder.parent)
    recipes = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(recipes) == 3
    for recipe in recipes:
        exec(compile(recipe.replace("warehouse/", f"{folder.name}/"), "docs/bi.md", "exec"), {})


def test_export_writes_utf8_csv_with_a_bom_matching_the_marts(demo_run, tmp_path):
    folder = Path(demo_run.settings.warehouse_path).parent
    files = export_marts(folder / "marts.duckdb", tmp_path)
    assert {f.name for f in files} == {
        "funnel_kpi_monthly.csv",
        "funnel_kpi_fiscal_quarterly.csv",
        "funnel_bottleneck.csv",
        "funnel_targets.csv",
        "stage_velocity.csv",
        "speed_to_lead.csv",
        "owner_performance.csv",
        "reconciliation.csv",
        "reconciliation_exceptions.csv",
        "funnel_kpi_by_slice.csv",
        "reapproach_list.csv",
        "reapproach_outcomes.csv",
        "customer_success_monthly.csv",
        "customer_retention_cohorts.csv",
        "unit_economics_monthly.csv",
        "unit_economics_fiscal_quarterly.csv",
        "score_threshold_whatif.csv",
        "hypothesis_results.csv",
        "campaign_performance.csv",
        "opportunity_stage_durations.csv",
        "stage_durations_monthly.csv",
        "stalled_opportunities.csv",
        "pipeline_waterfall.csv",
        "forecast.csv",
        "forecast_backtest.csv",
        "pipeline_coverage.csv",
    }
    monthly = tmp_path / "funnel_kpi_monthly.csv"
    assert monthly.read_bytes().startswith(b"\xef\xbb\xbfview,period_start,stage")
    exported = pd.read_csv(monthly, encoding="utf-8-sig")
    assert exported["base"].sum() == demo_run.query("select sum(base) as s from marts.funnel_kpi_monthly")["s"][0]


def test_every_example_query_in_the_marts_doc_runs_on_the_published_file(demo_run):
    import duckdb

    queries = re.findall(r"```sql\n(.*?)```", (DOC.parent / "marts.md").read_text(encoding="utf-8"), re.S)
    assert len(queries) >= 6
    published = Path(demo_run.settings.warehouse_path).parent / "marts.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        for query in queries:
            con.execute(query).fetchall()
