"""The improvement-loop marts against independent pandas computations (from the landing files where the
mart's inputs are raw extracts, from the already-tested stage tables otherwise)."""

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.config.settings import PROJECT_ROOT
from tests.conftest import MID_MONTH_AS_OF
from tests.independent_mrr import account_months, as_of_date, dates, read_csvs

TZ = "Asia/Tokyo"
DIMENSIONS = {
    "source": "source",
    "campaign": "campaign_id",
    "owner": "owner_id",
    "segment": "segment",
    "industry": "industry",
}
STAGES = ["marketing", "inside_sales", "field_sales", "customer_success"]


def _local(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).dt.tz_convert(TZ).dt.tz_localize(None)


# --- slices ----------------------------------------------------------------------------------------


def test_every_slice_dimension_adds_up_to_the_unsliced_marts(demo_run):
    sliced = demo_run.query("select * from marts.funnel_kpi_by_slice")
    sliced["period_start"] = dates(sliced["period_start"])
    assert set(sliced["dimension"]) == set(DIMENSIONS)
    for grain, mart in (("month", "funnel_kpi_monthly"), ("fiscal_quarter", "funnel_kpi_fiscal_quarterly")):
        unsliced = demo_run.query(f"select view, period_start, stage, base, goal, dropped from marts.{mart}")
        unsliced["period_start"] = dates(unsliced["period_start"])
        expected = unsliced.set_index(["view", "period_start", "stage"]).sort_index()
        for dimension in DIMENSIONS:
            rows = sliced[(sliced["grain"] == grain) & (sliced["dimension"] == dimension)]
            totals = rows.groupby(["view", "period_start", "stage"])[["base", "goal", "dropped"]].sum()
            assert set(totals.index) <= set(expected.index), (grain, dimension)  # no slice outside the mart
            assert (totals.reindex(expected.index, fill_value=0) == expected).all().all(), (grain, dimension)


def test_slices_by_source_recount_the_stage_tables(demo_run):
    sliced = demo_run.query("select * from marts.funnel_kpi_by_slice where grain = 'month' and dimension = 'source'")
    sliced["period_start"] = dates(sliced["period_start"])
    sliced = sliced.set_index(["view", "period_start", "stage", "slice_value"])
    for stage in STAGES:
        rows = demo_run.query(f"select entered_at, advanced_at, outcome, source from stages.{stage}_entries")
        rows["source"] = rows["source"].fillna("(none)")
        rows["entered"] = _local(rows["entered_at"]).dt.to_period("M").dt.to_timestamp().dt.date
        rows["advanced"] = _local(rows["advanced_at"]).dt.to_period("M").dt.to_timestamp().dt.date
        base = rows.groupby(["entered", "source"]).size()
        goal = rows.dropna(subset=["advanced_at"]).groupby(["advanced", "source"]).size()
        cohort = rows[rows["outcome"] == "advanced"].groupby(["entered", "source"]).size()
        for (month, source), n in base.items():
            assert sliced.loc[("period", month, stage, source), "base"] == n
            assert sliced.loc[("cohort", month, stage, source), "goal"] == cohort.get((month, source), 0)
        for (month, source), n in goal.items():
            assert sliced.loc[("period", month, stage, source), "goal"] == n


# --- customer success ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["demo_run", "mid_month_run", "foreign_run"])
def test_customer_success_monthly_matches_an_independent_mrr_roll_forward(request, fixture):
    run = request.getfixturevalue(fixture)
    accounts = account_months(run)
    s, e = accounts["start_mrr"], accounts["end_mrr"]
    accounts = accounts.assign(
        active_start=s > 0,
        active_end=e > 0,
        new=(s == 0) & (e > 0),
        churned=(s > 0) & (e == 0),
        new_mrr=np.where((s == 0) & (e > 0), e, 0),
        expansion_mrr=np.where((s > 0) & (e > s), e - s, 0),
        contraction_mrr=np.where((s > 0) & (e > 0) & (e < s), s - e, 0),
        churned_mrr=np.where((s > 0) & (e == 0), s, 0),
    )
    columns = [
        "active_start",
        "active_end",
        "new",
        "churned",
        "start_mrr",
        "end_mrr",
        "new_mrr",
        "expansion_mrr",
        "contraction_mrr",
        "churned_mrr",
    ]
    expected = pd.concat(
        [
            accounts.groupby(["period_start", "segment"])[columns].sum(),
            accounts.assign(segment="all").groupby(["period_start", "segment"])[columns].sum(),
        ]
    ).sort_index()
    mart = run.query("select * from marts.customer_success_monthly")
    mart = mart.assign(period_start=dates(mart["period_start"])).set_index(["period_start", "segment"]).sort_index()
    assert list(mart.index) == list(expected.index)
    pairs = {
        "customers_start": "active_start",
        "customers_end": "active_end",
        "new_customers": "new",
        "churned_customers": "churned",
        **{c: c for c in columns if c.endswith("mrr")},
    }
    for got, want in pairs.items():
        assert np.allclose(mart[got].astype(float), expected[want].astype(float)), got
    start = expected["start_mrr"].replace(0, np.nan)
    assert np.allclose(
        mart["grr"],
        (expected["start_mrr"] - expected["contraction_mrr"] - expected["churned_mrr"]) / start,
        equal_nan=True,
    )
    assert np.allclose(
        mart["nrr"],
        (expected["start_mrr"] - expected["contraction_mrr"] - expected["churned_mrr"] + expected["expansion_mrr"])
        / start,
        equal_nan=True,
    )
    assert expected.loc[(slice(None), "all"), "churned"].sum() > 0 and expected["expansion_mrr"].sum() > 0

    # LTV over the trailing 12 months, with the gross margin of improvement.yml
    margin = yaml.safe_load((PROJECT_ROOT / "improvement.yml").read_text())["gross_margin"]
    rolled = expected.groupby(level="segment")[["start_mrr", "active_start", "churned"]].transform(
        lambda c: c.rolling(12, min_periods=1).sum()
    )
    churn = rolled["churned"] / rolled["active_start"].replace(0, np.nan)
    ltv = rolled["start_mrr"] / rolled["active_start"].replace(0, np.nan) * margin / churn.replace(0, np.nan)
    assert np.allclose(mart["ltv"], ltv, equal_nan=True) and mart["ltv"].notna().any()


@pytest.mark.parametrize("fixture", ["demo_run", "mid_month_run"])
def test_renewal_rate_counts_contracts_due_and_their_renewals(request, fixture):
    run = request.getfixturevalue(fixture)
    contracts = read_csvs(run.landing, "crm", "contracts")
    customers = read_csvs(run.landing, "crm", "customers")
    as_of = as_of_date(run)
    contracts["end"] = pd.to_datetime(contracts["end_date"].str.replace("/", "-"))
    contracts["start"] = pd.to_datetime(contracts["start_date"].str.replace("/", "-"))
    successors = contracts.dropna(subset=["renewal_of_contract_id"]).groupby("renewal_of_contract_id")["start"].min()
    due = contracts[contracts["end"] <= as_of].copy()
    due["renewed"] = due["contract_id"].map(successors).le(as_of)
    due["month"] = due["end"].dt.to_period("M").dt.to_timestamp().dt.date
    expected = due.groupby("month").agg(due=("renewed", "size"), renewed=("renewed", "sum"))
    mart = run.query("select * from marts.customer_success_monthly where segment = 'all' and contracts_due > 0")
    mart = mart.assign(period_start=dates(mart["period_start"])).set_index("period_start")
    assert list(mart.index) == list(expected.index)
    assert (mart["contracts_due"] == expected["due"]).all() and (mart["contracts_renewed"] == expected["renewed"]).all()
    assert customers["account_id"].isin(contracts["account_id"]).all()


@pytest.mark.parametrize("fixture", ["demo_run", "mid_month_run", "foreign_run"])
def test_cohort_retention_follows_each_onboarding_month(request, fixture):
    run = request.getfixturevalue(fixture)
    accounts = account_months(run)
    mart = run.query("select * from marts.customer_retention_cohorts")
    mart = mart.assign(cohort_month=dates(mart["cohort_month"]), period_start=dates(mart["period_start"]))
    mart = mart.set_index(["cohort_month", "period_start"])
    for (cohort, month), group in accounts.groupby(["first_month", "period_start"]):
        row = mart.loc[(cohort, month)]
        members = accounts[accounts["first_month"] == cohort]
        start_mrr = members.loc[members["period_start"] == cohort, "end_mrr"].sum()
        assert row["cohort_customers"] == members["account_id"].nunique()
        assert row["active_customers"] == (group["end_mrr"] > 0).sum()
        assert np.isclose(float(row["mrr_retention"]), group["end_mrr"].sum() / start_mrr)
    assert len(mart) == accounts.groupby(["first_month", "period_start"]).ngroups


def test_customers_starting_after_a_mid_month_as_of_are_in_no_cohort(mid_month_run):
    """As of the 15th, that month's cohort is the customers whose first contract had started by then: the month's
    later customers, with no MRR yet, would dilute its month-0 retention. No month after the as-of month shows."""
    contracts = read_csvs(mid_month_run.landing, "crm", "contracts")
    for column in ("start_date", "end_date"):
        contracts[column] = pd.to_datetime(contracts[column].str.replace("/", "-"))
    contracts["churned_on"] = pd.to_datetime(contracts["churned_at"].str.slice(0, 10).str.replace("/", "-"))
    first = contracts.groupby("account_id")["start_date"].min()
    as_of = pd.Timestamp(MID_MONTH_AS_OF)
    month = first[first.dt.to_period("M") == as_of.to_period("M")]
    started = month[month <= as_of].index
    assert 0 < len(started) < len(month), "the demo must have customers on both sides of the as-of in its month"
    on_as_of = contracts[
        contracts["account_id"].isin(started)
        & (contracts["start_date"] <= as_of)
        & (contracts["end_date"] >= as_of)
        & (contracts["churned_on"].isna() | (contracts["churned_on"] > as_of))
    ]
    active = on_as_of["account_id"].nunique()

    cohorts = mid_month_run.query("select * from marts.customer_retention_cohorts")
    cohort = cohorts[dates(cohorts["cohort_month"]) == as_of.replace(day=1).date()]
    assert cohort[["months_since_onboarding", "cohort_customers", "active_customers"]].values.tolist() == [
        [0, len(started), active]
    ]
    assert np.isclose(cohort["logo_retention"].iloc[0], active / len(started))
    for model in (
        "marts.customer_retention_cohorts",
        "marts.customer_success_monthly",
        "intermediate.int_account_mrr_monthly",
    ):
        last = mid_month_run.query(f"select max(period_start) as last from {model}")["last"]
        assert dates(last).tolist() == [as_of.replace(day=1).date()], model


# --- lost deals and re-approach ---------------------------------------------------------------------


def test_reapproach_list_schedules_lost_deals_and_finds_their_reapproaches(demo_run):
    config = yaml.safe_load((PROJECT_ROOT / "improvement.yml").read_text())["reapproach"]
    opp = read_csvs(demo_run.landing, "sfa", "opportunities")
    opp = opp[opp["type"] == "new_business"].copy()
    opp["created"] = pd.to_datetime(opp["created_at"], format="%Y/%m/%d %H:%M:%S")
    opp["closed"] = pd.to_datetime(opp["closed_at"], format="%Y/%m/%d %H:%M:%S")
    lost = opp[(opp["is_closed"] == "true") & (opp["is_won"] == "false")].copy()
    waits = lost["lost_reason"].map(config["wait_days_by_reason"]).fillna(config["default_wait_days"])
    lost["eligible_on"] = (lost["closed"].dt.normalize() + pd.to_timedelta(waits, unit="D")).dt.date
    later = lost[["opportunity_id", "account_id", "closed"]].merge(
        opp[["account_id", "created", "is_won"]], on="account_id"
    )
    later = later[later["created"] > later["closed"]]
    first = later.sort_values("created").groupby("opportunity_id").head(1)  # the re-approach: the next one
    lost["reapproached"] = lost["opportunity_id"].isin(first["opportunity_id"])
    lost["won"] = lost["opportunity_id"].isin(first.loc[first["is_won"] == "true", "opportunity_id"])
    as_of = as_of_date(demo_run).date()
    lost["status"] = np.where(
        lost["reapproached"], "reapproached", np.where(lost["eligible_on"] <= as_of, "eligible", "waiting")
    )

    mart = demo_run.query("select * from marts.reapproach_list where kind = 'lost_opportunity'").set_index("record_id")
    expected = lost.set_index("opportunity_id")
    assert sorted(mart.index) == sorted(expected.index)
    mart = mart.loc[expected.index]
    assert (dates(mart["eligible_on"]) == expected["eligible_on"]).all()
    assert (mart["status"] == expected["status"]).all() and (mart["reapproach_won"] == expected["won"]).all()
    assert expected["won"].sum() > 0 and (expected["status"] == "eligible").sum() > 0

    outcomes = demo_run.query("select * from marts.reapproach_outcomes where kind = 'lost_opportunity'")
    per_reason = expected.groupby("lost_reason").agg(
        lost=("status", "size"), reapproached=("reapproached", "sum"), won=("won", "sum")
    )
    outcomes = outcomes.set_index("reason").loc[per_reason.index]
    assert (outcomes["lost"] == per_reason["lost"]).all() and (outcomes["reapproach_won"] == per_reason["won"]).all()
    assert (outcomes["reapproached"] == per_reason["reapproached"]).all()


def test_reapproach_list_has_every_recycled_and_disqualified_lead(demo_run):
    sfa = read_csvs(demo_run.landing, "sfa", "leads")
    left = sfa[sfa["status"].isin(["recycled", "disqualified"])].copy()
    left["at"] = pd.to_datetime(left["disqualified_at"], format="%Y/%m/%d %H:%M:%S")
    sfa["created"] = pd.to_datetime(sfa["created_at"], format="%Y/%m/%d %H:%M:%S")
    later = left[["lead_id", "ma_lead_id", "at"]].merge(sfa[["ma_lead_id", "created"]], on="ma_lead_id")
    retried = set(later.loc[later["created"] > later["at"], "lead_id"])
    mart = demo_run.query("select * from marts.reapproach_list where kind <> 'lost_opportunity'").set_index("record_id")
    assert sorted(mart.index) == sorted(left["lead_id"])
    kinds = left.set_index("lead_id")["status"].map({"recycled": "recycled_lead", "disqualified": "disqualified_lead"})
    assert (mart.loc[kinds.index, "kind"] == kinds).all()
    assert set(mart.index[mart["status"] == "reapproached"]) == retried and retried


# --- lead-score what-if ------------------------------------------------------------------------------


def test_score_threshold_whatif_recounts_mqls_above_each_threshold(demo_run):
    leads = demo_run.query("""
        select mql_score, outcome, converted_opportunity_id, entered_month from stages.inside_sales_entries
        where entry_type = 'handover' and mql_score is not null""")
    opps = demo_run.query("select opportunity_id, outcome from stages.field_sales_entries").set_index("opportunity_id")
    leads["opp_outcome"] = leads["converted_opportunity_id"].map(opps["outcome"])
    mart = demo_run.query("select * from marts.score_threshold_whatif").set_index("threshold")
    low = np.floor(leads["mql_score"].min() / 5) * 5
    assert list(mart.index) == list(np.arange(low, leads["mql_score"].max() + 1, 5))
    months = leads["entered_month"].nunique()
    for threshold, row in mart.iterrows():
        passing = leads[leads["mql_score"] >= threshold]
        resolved = passing["outcome"].isin(["advanced", "dropped"]).sum()
        opp_rate = (passing["outcome"] == "advanced").sum() / resolved
        closed = passing["opp_outcome"].isin(["advanced", "dropped"]).sum()
        win_rate = (passing["opp_outcome"] == "advanced").sum() / closed
        assert row["passing_mqls"] == len(passing) and row["resolved_leads"] == resolved
        assert np.isclose(row["opportunity_rate"], opp_rate) and np.isclose(row["win_rate"], win_rate)
        assert np.isclose(row["expected_won_deals"], len(passing) * opp_rate * win_rate)
        assert np.isclose(row["expected_won_deals_per_month"], len(passing) * opp_rate * win_rate / months)
    assert mart["passing_share"].iloc[0] == 1.0 and mart["passing_mqls"].is_monotonic_decreasing


# --- bottleneck ---------------------------------------------------------------------------------------


def test_bottleneck_ranks_stages_by_won_deals_lost_against_plan_and_history(demo_run):
    kpis = demo_run.query(
        "select period_start, stage, base, goal, target_conversion_rate from marts.funnel_kpi_monthly "
        "where view = 'period' and stage <> 'customer_success' order by period_start"
    )
    kpis["period_start"] = dates(kpis["period_start"])
    history = {}
    for stage, rows in kpis.groupby("stage"):
        rows = rows.set_index("period_start")
        sums = rows[["goal", "base"]].rolling(6, min_periods=1).sum().shift(1)
        history[stage] = sums["goal"] / sums["base"].replace(0, np.nan)
    history = pd.DataFrame(history)
    mart = demo_run.query("select * from marts.funnel_bottleneck")
    mart = mart.assign(period_start=dates(mart["period_start"])).set_index(["period_start", "stage"])
    checked = planned_checked = 0
    for month, rows in kpis.groupby("period_start"):
        rows = rows.set_index("stage")
        if rows["base"].eq(0).any() or history.loc[month].isna().any():
            continue
        actual = rows["goal"] / rows["base"]
        hist = history.loc[month]
        wins_per_goal = {
            "marketing": hist["inside_sales"] * hist["field_sales"],
            "inside_sales": hist["field_sales"],
            "field_sales": 1.0,
        }
        cost = {s: max(hist[s] - actual[s], 0) * rows.loc[s, "base"] * wins_per_goal[s] for s in rows.index}
        got = mart.loc[month]
        for stage, value in cost.items():
            assert np.isclose(got.loc[stage, "historic_rate"], hist[stage])
            assert abs(got.loc[stage, "won_deals_shortfall_vs_history"] - round(value, 2)) < 0.011
        worst = max(cost, key=cost.get)
        if cost[worst] > 0.01:
            assert got.loc[worst, "cost_rank_vs_history"] == 1
        plan = rows["target_conversion_rate"]
        if plan.notna().all():
            # against plan: the shortfall carried through the later stages' planned rates
            per_goal = {
                "marketing": plan["inside_sales"] * plan["field_sales"],
                "inside_sales": plan["field_sales"],
                "field_sales": 1.0,
            }
            planned = {s: max(plan[s] - actual[s], 0) * rows.loc[s, "base"] * per_goal[s] for s in rows.index}
            for stage, value in planned.items():
                assert abs(got.loc[stage, "won_deals_shortfall"] - round(value, 2)) < 0.011
            costliest = max(planned, key=planned.get)
            if planned[costliest] > 0.01:
                assert got.loc[costliest, "cost_rank"] == 1
            gap = actual / plan - 1
            assert list(got.index[got["is_bottleneck"]]) == ([gap.idxmin()] if gap.min() < 0 else [])
            planned_checked += 1
        checked += 1
    assert checked >= 6 and planned_checked >= 3


# --- configuration -----------------------------------------------------------------------------------


def test_a_malformed_improvement_config_names_the_file_key_and_line(tmp_path):
    from pipeline.config.files import ConfigError
    from pipeline.config.improvement import load_improvement_config

    path = tmp_path / "improvement.yml"
    path.write_text("gross_margin: 1.5\n")
    with pytest.raises(
        ConfigError, match=f"^{path}, line 1: gross_margin: Input should be less than or equal to 1 \\(got 1.5\\)$"
    ):
        load_improvement_config(path)
    path.write_text("reapproach:\n  wait_days_by_reason:\n    price: soon\n  default_wait_dayz: 30\n")
    with pytest.raises(ConfigError) as error:
        load_improvement_config(path)
    assert str(error.value).splitlines() == [
        f"{path}, line 3: reapproach.wait_days_by_reason.price: Input should be a valid integer (got 'soon')",
        f"{path}, line 4: reapproach.default_wait_dayz: unknown key (a typo?)",
    ]


def test_the_improvement_config_has_defaults_and_lower_case_reasons(tmp_path):
    from pipeline.config.improvement import load_improvement_config

    path = tmp_path / "improvement.yml"
    path.write_text("reapproach:\n  wait_days_by_reason: {Price: 180}\n")
    config = load_improvement_config(path)
    assert (config.gross_margin, config.reapproach.default_wait_days, config.wait_days()) == (0.75, 90, {"price": 180})
