"""marts.funnel_kpi_monthly against an independent pandas computation from the landing files."""

import pandas as pd
import pytest

from tests.conftest import EDGE_AS_OF
from tests.independent_funnel import TZ, monthly_kpis

COLUMNS = ["base", "base_handover", "base_direct", "goal", "dropped"]
KEY = ["view", "period_start", "stage"]


def _mart(run) -> pd.DataFrame:
    mart = run.query("select * from marts.funnel_kpi_monthly")
    mart["period_start"] = pd.to_datetime(mart["period_start"]).dt.date
    return mart


@pytest.mark.parametrize("fixture, as_of", [("demo_run", None), ("edge_run", EDGE_AS_OF)])
def test_every_month_matches_the_independent_computation(request, fixture, as_of):
    run = request.getfixturevalue(fixture)
    as_of_ts = (
        None
        if as_of is None
        else (pd.Timestamp(as_of).tz_localize(TZ) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1))
    )
    expected = monthly_kpis(run.landing, as_of_ts).set_index(KEY).sort_index()
    actual = _mart(run).set_index(KEY).sort_index()

    assert list(actual.index) == list(expected.index), "the mart must have one row per view, month and stage"
    assert len(expected.index.get_level_values("period_start").unique()) >= 12
    pd.testing.assert_frame_equal(actual[COLUMNS].astype("int64"), expected[COLUMNS].astype("int64"))
    rate = expected["goal"] / expected["base"].where(expected["base"] > 0)
    pd.testing.assert_series_equal(actual["conversion_rate"], rate, check_names=False)


def test_numbers_are_not_trivial(demo_run):
    mart = _mart(demo_run)
    period = mart[mart["view"] == "period"].groupby("stage")[["base", "goal"]].sum()
    for stage in ["marketing", "inside_sales", "field_sales", "customer_success"]:
        assert period.loc[stage, "base"] > 0 and period.loc[stage, "goal"] > 0, stage


def test_goal_of_each_stage_is_the_base_handover_of_the_next_in_the_period_view(demo_run):
    mart = _mart(demo_run)
    period = mart[mart["view"] == "period"].pivot(index="period_start", columns="stage_order")
    for order in (1, 2, 3):
        upstream_goal = period[("goal", order)]
        downstream_handover = period[("base_handover", order + 1)]
        assert (upstream_goal == downstream_handover).all(), f"stage {order} -> {order + 1}"
        assert upstream_goal.sum() > 0


def test_the_edge_cases_change_the_numbers_the_way_the_domain_says(edge_run, demo_run):
    edge = _mart(edge_run).set_index(KEY)
    plain = _mart(demo_run).set_index(KEY)
    march = pd.Timestamp("2026-03-01").date()
    april = pd.Timestamp("2026-04-01").date()
    # the SFA-created lead is direct inside-sales base; the duplicate SFA lead is one more hand-over
    # than marketing's goal in its MQL's month, which is what reconciliation must later flag
    assert (
        edge.loc[("period", march, "inside_sales"), "base_direct"]
        == plain.loc[("period", march, "inside_sales"), "base_direct"] + 1
    )
    assert (
        edge.loc[("period", march, "field_sales"), "base_handover"]
        == plain.loc[("period", march, "field_sales"), "base_handover"] + 1
    )
    # 2026-03-31 20:30 UTC is 05:30 on April 1 in Tokyo: an April lead
    assert edge.loc[("period", april, "marketing"), "base"] == plain.loc[("period", april, "marketing"), "base"] + 1
    # nothing after the as-of date counts
    last = max(edge.index.get_level_values("period_start"))
    assert last == pd.Timestamp("2026-06-01").date()


def test_fiscal_quarters_add_up_from_months(demo_run):
    monthly = _mart(demo_run)
    quarterly = demo_run.query("select * from marts.funnel_kpi_fiscal_quarterly")
    quarterly["period_start"] = pd.to_datetime(quarterly["period_start"])
    monthly["quarter_start"] = pd.to_datetime(monthly["period_start"]).dt.to_period("Q-MAR").dt.start_time
    period = monthly[monthly["view"] == "period"].groupby(["quarter_start", "stage"])[["base", "goal"]].sum()
    q = quarterly[quarterly["view"] == "period"].set_index(["period_start", "stage"])[["base", "goal"]]
    q.index.names = period.index.names
    pd.testing.assert_frame_equal(q.sort_index().astype("int64"), period.sort_index().astype("int64"))
    april = quarterly[quarterly["period_start"].dt.month == 4]
    assert (april["fiscal_quarter"] == 1).all()
    assert (april["fiscal_year"] == april["period_start"].dt.year).all()
