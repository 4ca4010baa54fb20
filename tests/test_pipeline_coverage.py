"""marts.pipeline_coverage against an independent pandas computation from the landing files, targets.yml and
sales_pipeline.yml, and the coverage lines `make run` prints.

The pandas route shares no SQL with the mart: it reads the opportunity and SFA lead extracts itself, decides which
new-business deals are open at the as-of instant (entered by then, not closed by then), and takes each month's
target from targets.yml by hand (won deals = the file's won_deals, or its revenue ÷ the deal size rounded up). The
edge cases the demo lacks (a month already met, deals without a close date) are the mart's unit tests
(transforms/models/marts/pipeline_coverage.yml), which the `dbt build` of tests/test_dbt_standalone.py runs.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipeline.serving.coverage_table import coverage_table
from tests.independent_funnel import stage_entries

TZ = "Asia/Tokyo"


def _csvs(folder: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(folder.rglob("*.csv"))]
    return pd.concat(frames, ignore_index=True).replace({"": None})


def _instant(values: pd.Series) -> pd.Series:
    """The demo's naive `YYYY/MM/DD HH:MM:SS`, read in Tokyo, as UTC."""
    return pd.to_datetime(values.str.replace("/", "-"), format="ISO8601").dt.tz_localize(TZ).dt.tz_convert("UTC")


def _targets(path: Path) -> dict[pd.Period, tuple[int, float | None]]:
    """Per month of targets.yml: (won deals, revenue target) as the docs define them: the month's revenue, or for
    a month given in won deals, those deals at the planned deal size."""
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    targets = {}
    for month in plan["months"]:
        size = month.get("average_deal_size", plan.get("average_deal_size"))
        won = month["won_deals"] if month.get("won_deals") is not None else math.ceil(month["revenue"] / size)
        revenue = month.get("revenue") if month.get("revenue") is not None else (won * size if size else None)
        targets[pd.Period(str(month["month"]), "M")] = (won, revenue)
    return targets


def expected_coverage(landing: Path, targets_file: Path, pipeline_file: Path) -> pd.DataFrame:
    _, as_of = stage_entries(landing)  # its own as-of: the latest event of any extract
    settings = yaml.safe_load(pipeline_file.read_text(encoding="utf-8"))["coverage"]
    opp = _csvs(landing / "sfa" / "opportunities").drop_duplicates("opportunity_id", keep="last")
    leads = _csvs(landing / "sfa" / "leads").drop_duplicates("lead_id", keep="last")
    deals = opp[opp["type"].str.lower() == "new_business"].copy()
    converted = _instant(leads.set_index("lead_id")["converted_at"].dropna())
    deals["entered"] = deals["lead_id"].map(converted).fillna(_instant(deals["created_at"]))
    deals["closed"] = _instant(deals["closed_at"].dropna()).reindex(deals.index)
    deals = deals[deals["entered"] <= as_of]
    closed_by_then = deals["closed"].notna() & (deals["closed"] <= as_of)
    is_won = deals["is_won"].str.lower().eq("true") & closed_by_then
    deals["amount"] = pd.to_numeric(deals["amount"])
    open_deals = deals[~closed_by_then]
    close_month = pd.to_datetime(open_deals["close_date"].str.replace("/", "-")).dt.to_period("M")
    won = deals[is_won]
    won_month = won["closed"].dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M")
    first = as_of.tz_convert(TZ).tz_localize(None).to_period("M")
    targets = _targets(targets_file)
    rows = []
    for offset in range(settings["months"]):
        month = first + offset
        target_count, target_amount = targets.get(month, (None, None))
        pipeline = open_deals[close_month == month]
        won_here = won[won_month == month]
        remaining = None if target_count is None else max(target_count - len(won_here), 0)
        if target_count is None:
            status = "no_target"
        elif remaining == 0:
            status = "target_met"
        else:
            status = "covered" if len(pipeline) / remaining >= settings["minimum"] else "below_minimum"
        rows.append(
            {
                "month": month.start_time.date(),
                "pipeline_count": len(pipeline),
                "pipeline_amount": pipeline["amount"].sum(),
                "overdue_count": (close_month < first).sum() if offset == 0 else None,
                "overdue_amount": open_deals["amount"][close_month < first].sum() if offset == 0 else None,
                "undated_count": close_month.isna().sum() if offset == 0 else None,
                "won_count": len(won_here),
                "won_amount": won_here["amount"].sum(),
                "target_count": target_count,
                "target_amount": target_amount,
                "remaining_count": remaining,
                "coverage_remaining_count": len(pipeline) / remaining if remaining else None,
                "status": status,
            }
        )
    return pd.DataFrame(rows)


def test_the_coverage_of_the_demo_matches_an_independent_computation(demo_run):
    mart = demo_run.query("select * from marts.pipeline_coverage order by month")
    mart["month"] = pd.to_datetime(mart["month"]).dt.date
    expected = expected_coverage(
        demo_run.landing, Path(demo_run.settings.targets), Path(demo_run.settings.sales_pipeline_config)
    )
    assert len(mart) == len(expected) == 3
    assert expected["pipeline_count"].sum() > 0
    for column in expected.columns:
        actual = mart[column].astype(object).where(mart[column].notna(), None).tolist()
        wanted = expected[column].astype(object).where(expected[column].notna(), None).tolist()
        if column in ("month", "status"):
            assert actual == wanted, column
        else:
            for a, w in zip(actual, wanted, strict=True):
                assert (a is None and w is None) or np.isclose(float(a), float(w)), (column, actual, wanted)
    assert mart["is_open_month"].tolist() == [True, False, False]


def test_make_run_prints_the_open_and_next_month_as_the_mart_has_them(demo_run):
    text = coverage_table(demo_run.settings)
    mart = demo_run.query("select * from marts.pipeline_coverage where month_offset < 2 order by month")
    lines = text.splitlines()
    assert "minimum 3x" in lines[0]
    for row, line in zip(mart.itertuples(), lines[3:5], strict=True):
        cells = line.split()
        assert cells[0] == f"{row.month:%Y-%m}" and cells[-1] == row.status
        assert cells[1] == f"{row.pipeline_count:,}" and cells[2] == f"{row.pipeline_amount:,.0f}"
        expected = "-" if pd.isna(row.coverage_remaining_count) else f"{row.coverage_remaining_count:.2f}x"
        assert cells[6] == expected
    open_month = mart.iloc[0]
    if open_month["overdue_count"] or open_month["undated_count"]:
        assert f"{open_month['overdue_count']:,} open deal(s) with a close date before" in lines[5]
