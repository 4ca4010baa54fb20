"""Goals: back-calculation, targets-file validation, lag shifting, the business calendar, and statuses."""

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.config.files import ConfigError
from pipeline.config.targets import MonthPlan, load_plans
from pipeline.goals.back_calculation import back_calculate, target_rows
from pipeline.goals.calendar import business_calendar

RATES = {"field_sales": 0.25, "inside_sales": 0.6, "marketing": 0.1}


def _plan(**overrides) -> MonthPlan:
    values = dict(month=date(2026, 4, 1), won_deals=100, average_deal_size=5e6, conversion=RATES, goals={}, lag_days={})
    return MonthPlan(**(values | overrides))


def test_the_domain_example_back_calculates_with_rounding_up_at_every_step(tmp_path):
    path = tmp_path / "targets.yml"
    path.write_text(
        "average_deal_size: 5000000\nconversion: {field_sales: 0.25, inside_sales: 0.6, marketing: 0.1}\n"
        "months:\n  - {month: 2026-04, revenue: 500000000}\n"
    )
    (plan,) = load_plans(path)
    assert plan.won_deals == 100
    targets = back_calculate(plan)
    assert targets["field_sales"] == (400, 100)  # 100 wins at 25 % -> 400 opportunities
    assert targets["inside_sales"] == (667, 400)  # 400 opportunities at 60 % -> 667 MQLs (666.7 rounded up)
    assert targets["marketing"] == (6670, 667)  # 667 MQLs at 10 % -> 6,670 leads
    assert targets["customer_success"] == (100, None)  # no planned renewal rate: no goal


def test_an_explicit_goal_overrides_and_the_chain_still_holds():
    targets = back_calculate(_plan(goals={"marketing": 700}, conversion=RATES | {"customer_success": 0.9}))
    assert targets["marketing"] == (7000, 700)
    assert targets["inside_sales"][0] == 700  # marketing's goal is inside sales' base
    assert targets["customer_success"] == (100, 90)


@pytest.mark.parametrize(
    "body, where, message",
    [
        (
            "conversion: {field_sales: 0, inside_sales: 0.6, marketing: 0.1}\nmonths:\n  - {month: 2026-04, won_deals: 5}",
            "line 1: conversion.field_sales",
            "greater than 0 (got 0)",
        ),
        (
            "conversion: {field_sales: 1.2, inside_sales: 0.6, marketing: 0.1}\nmonths:\n  - {month: 2026-04, won_deals: 5}",
            "line 1: conversion.field_sales",
            "less than or equal to 1 (got 1.2)",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\n"
            "months:\n  - {month: 2026-04, won_deals: 5}\n  - {month: 2026-04, won_deals: 6}",
            "line 4: months[1].month",
            "month 2026-04 repeated",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\n"
            "months:\n  - {month: 2026-04, won_deals: 5}\n  - {month: 2026-07, won_deals: 6}",
            "line 2: months",
            "month(s) missing between 2026-04 and 2026-07: 2026-05, 2026-06",
        ),
        (
            "average_deal_size: 1000\nconversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\n"
            "months:\n  - {month: 2026-04, revenue: -5}",
            "line 4: months[0].revenue",
            "greater than or equal to 0 (got -5)",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6}\nmonths:\n  - {month: 2026-04, won_deals: 5}",
            "line 3: months[0].conversion",
            "planned conversion missing for marketing",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\nmonths:\n  - {month: 2026-04, revenue: 5}",
            "line 3: months[0].revenue",
            "a revenue target needs an average_deal_size above 0",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1, sales: 0.5}\nmonths: []",
            "line 1: conversion.sales",
            "unknown stage",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\nmonths:\n  - {month: 2026-04}",
            "line 3: months[0]",
            "give a revenue or a won_deals target",
        ),
        (
            "conversion: {field_sales: 0.2, inside_sales: 0.6, marketing: 0.1}\nmonths:\n  - {month: April, won_deals: 1}",
            "line 3: months[0].month",
            "not a month like 2026-04 (got 'April')",
        ),
    ],
)
def test_a_malformed_targets_file_is_rejected_with_the_key_and_line_named(tmp_path, body, where, message):
    path = tmp_path / "targets.yml"
    path.write_text(body + "\n")
    with pytest.raises(ConfigError) as error:
        load_plans(path)
    assert f"{path}, {where}: " in str(error.value) and message in str(error.value)


def test_month_defaults_and_overrides_resolve_into_each_plan(tmp_path):
    path = tmp_path / "targets.yml"
    path.write_text(
        "average_deal_size: 1000\nconversion: {field_sales: 0.25, inside_sales: 0.6, marketing: 0.1}\n"
        "lag_days: {marketing: 12}\n"
        "months:\n"
        "  - {month: 2026-05, revenue: 2500, average_deal_size: 500, conversion: {marketing: 0.2}}\n"
        "  - {month: 2026-04, won_deals: 3.2, revenue: 1, goals: {marketing: 10.5}}\n"
    )
    april, may = load_plans(path)
    assert (april.month, may.month) == (date(2026, 4, 1), date(2026, 5, 1))  # in order, whatever the file's
    assert april.won_deals == 4 and april.goals == {"marketing": 11}  # won_deals wins over revenue; rounded up
    assert april.average_deal_size == 1000 and april.conversion["marketing"] == 0.1
    assert may.won_deals == 5 and may.average_deal_size == 500 and may.conversion["marketing"] == 0.2
    assert may.conversion["field_sales"] == 0.25 and may.lag_days == april.lag_days == {"marketing": 12}
    assert (april.revenue, may.revenue) == (1.0, 2500.0)  # the file's revenue as it reads, also beside won_deals
    rows = target_rows([may]).set_index(["month", "stage"])["target_revenue"]
    assert rows.loc[(date(2026, 5, 1), "field_sales")] == 2500.0  # on the win stage's row of its own month
    assert rows.drop((date(2026, 5, 1), "field_sales")).isna().all()


def test_planned_lags_move_earlier_stages_into_earlier_months_and_keep_the_chain(tmp_path):
    plans = [
        _plan(
            month=date(2026, m, 1), won_deals=10 + m, lag_days={"marketing": 12, "inside_sales": 10, "field_sales": 45}
        )
        for m in (4, 5, 6)
    ]
    rows = target_rows(plans).set_index(["month", "stage"])
    # wins stay in their month; opportunities (45 days) one month earlier; MQLs (55 days) and leads (67 days) two
    assert rows.loc[(date(2026, 6, 1), "field_sales"), "target_goal"] == 16
    assert rows.loc[(date(2026, 5, 1), "field_sales"), "target_base"] == math.ceil(16 / 0.25)
    assert rows.loc[(date(2026, 4, 1), "inside_sales"), "target_base"] == math.ceil(math.ceil(16 / 0.25) / 0.6)
    assert rows.loc[(date(2026, 4, 1), "marketing"), "target_base"] == math.ceil(
        math.ceil(math.ceil(16 / 0.25) / 0.6) / 0.1
    )
    frame = target_rows(plans)
    for upstream, downstream in (("marketing", "inside_sales"), ("inside_sales", "field_sales")):
        goals = frame[frame["stage"] == upstream].set_index("month")["target_goal"]
        bases = frame[frame["stage"] == downstream].set_index("month")["target_base"]
        joined = pd.concat([goals, bases], axis=1).fillna(0)
        assert (joined.iloc[:, 0] == joined.iloc[:, 1]).all(), (upstream, downstream)


def test_the_japanese_business_calendar_skips_weekends_and_public_holidays():
    calendar = business_calendar("JP").set_index("day")
    holidays_2026 = [date(2026, 10, 12), date(2026, 5, 4), date(2026, 5, 5), date(2026, 5, 6), date(2026, 1, 1)]
    for day in holidays_2026:
        assert not calendar.loc[day, "is_business_day"], day
    for month, holidays in ((10, ["2026-10-12"]), (5, ["2026-05-04", "2026-05-05", "2026-05-06"])):
        start, end = np.datetime64(f"2026-{month:02d}-01"), np.datetime64(f"2026-{month + 1:02d}-01")
        days = calendar.loc[start.astype(date) : (end - 1).astype(date), "is_business_day"]
        assert days.sum() == np.busday_count(start, end, holidays=holidays)
    plain = business_calendar("none").set_index("day")
    assert plain.loc[date(2026, 10, 12), "is_business_day"]


def test_statuses_follow_the_targets_and_the_open_month_projection(demo_run):
    mart = demo_run.query("select * from marts.funnel_kpi_monthly where view = 'period' order by period_start")
    open_month = mart["period_start"].max()
    closed = mart[(mart["period_start"] < open_month) & mart["target_goal"].notna()]
    assert len(closed) > 0
    expected = np.where(closed["goal"] >= closed["target_goal"], "met", "missed")
    assert (closed["status"] == expected).all()
    assert set(mart[mart["target_goal"].isna()]["status"]) <= {"no_target"}
    current = mart[mart["period_start"] == open_month]
    # October 2026 up to the 20th (as of 18:00 JST): 13 of 21 business days (Sports Day on the 12th)
    assert (current["business_days"] == np.busday_count("2026-10-01", "2026-11-01", holidays=["2026-10-12"])).all()
    assert (
        current["business_days_elapsed"] == np.busday_count("2026-10-01", "2026-10-21", holidays=["2026-10-12"])
    ).all()
    projected = np.ceil(current["goal"] * 21 / 13).astype(int)
    assert (current["projected_goal"] == projected).all()
    assert (current["status"] == np.where(projected >= current["target_goal"], "on_track", "at_risk")).all()
    chain = mart.pivot(index="period_start", columns="stage_order", values=["target_goal", "target_base"])
    for order in (1, 2):
        both = chain[[("target_goal", order), ("target_base", order + 1)]].dropna()
        assert (both.iloc[:, 0] == both.iloc[:, 1]).all()


def test_the_bottleneck_is_the_stage_furthest_below_plan_with_its_downstream_cost(demo_run):
    kpis = demo_run.query(
        "select * from marts.funnel_kpi_monthly where view = 'period' "
        "and stage <> 'customer_success' and target_conversion_rate is not null"
    )
    bottleneck = demo_run.query("select * from marts.funnel_bottleneck").set_index(["period_start", "stage"])
    assert bottleneck["is_bottleneck"].sum() > 0
    for month, rows in kpis.groupby("period_start"):
        rows = rows.set_index("stage")
        gap = rows["conversion_rate"] / rows["target_conversion_rate"] - 1
        worst = gap.idxmin()
        flagged = bottleneck.loc[month]
        assert list(flagged.index[flagged["is_bottleneck"]]) == ([worst] if gap.min() < 0 else [])
        if set(rows.index) != {"marketing", "inside_sales", "field_sales"}:
            continue  # months at the edge of the plan have targets for some stages only
        shortfall = (
            max(rows.loc["marketing", "target_conversion_rate"] - rows.loc["marketing", "conversion_rate"], 0)
            * rows.loc["marketing", "base"]
        )
        wins = (
            shortfall
            * rows.loc["inside_sales", "target_conversion_rate"]
            * rows.loc["field_sales", "target_conversion_rate"]
        )
        assert abs(flagged.loc["marketing", "won_deals_shortfall"] - round(wins, 2)) < 0.011
