"""marts.unit_economics_monthly and marts.unit_economics_fiscal_quarterly against an independent pandas computation
from the demo extracts: spend from ma/spend.csv, new customers and MRR from the contract extracts (the roll-forward
of test_improvement_loop), each customer's channel by following its won deal to the MA lead, row by row in Python.
LTV is customer_success_monthly's by definition; the Quick Ratio must agree with that mart's bridge exactly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.independent_mrr import account_months, as_of_date, dates, read_csvs

FISCAL_YEAR_START = 4  # the demo runs with the default FUNNEL_FISCAL_YEAR_START_MONTH
NAN = float("nan")
MONEY = ["marketing_spend", "sales_spend", "spend", "paid_spend"]
MOVEMENTS = ["start_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "end_mrr"]
COLUMNS = [
    *MONEY,
    "new_customers",
    "paid_new_customers",
    "new_mrr",
    "cac",
    "paid_cac",
    "cac_payback_months",
    "ltv",
    "ltv_to_cac",
    *MOVEMENTS,
    "net_new_arr",
    "quick_ratio",
    "magic_number",
]


def _improvement(run) -> dict:
    return yaml.safe_load(Path(run.settings.improvement_config).read_text(encoding="utf-8"))


def _spend(run) -> pd.DataFrame:
    """ma/spend.csv (or the files of ma/spend/), one row per line, month as the first day of its month."""
    landing = run.landing / "ma"
    files = [landing / "spend.csv"] if (landing / "spend.csv").exists() else sorted((landing / "spend").glob("*.csv"))
    spend = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]).replace({"": None})
    assert set(spend["currency"].dropna().str.upper()) <= {"JPY"}, "the demo's spend is in the reporting currency"
    month = pd.to_datetime(spend["month"].str.replace("/", "-")).dt.to_period("M").dt.to_timestamp().dt.date
    return pd.DataFrame(
        {
            "month": month,
            "cost_type": spend["cost_type"].str.lower(),
            "source": spend["source"].str.lower(),
            "amount": spend["amount"].astype(float),
        }
    )


def _channels(landing: Path) -> pd.Series:
    """account_id -> first-touch channel: the MA source of the lead behind the customer's won deal."""
    customers = read_csvs(landing, "crm", "customers").set_index("account_id")
    opportunities = read_csvs(landing, "sfa", "opportunities").set_index("opportunity_id")
    sfa_leads = read_csvs(landing, "sfa", "leads").set_index("lead_id")
    mql = read_csvs(landing, "ma", "mql_events").dropna(subset=["sfa_lead_id"]).sort_values("mql_at")
    ma_leads = read_csvs(landing, "ma", "leads").set_index("lead_id")
    won = customers["won_opportunity_id"]
    lead = won.map(opportunities["lead_id"])
    ma_lead = lead.map(sfa_leads["ma_lead_id"]).fillna(
        lead.map(mql.drop_duplicates("sfa_lead_id").set_index("sfa_lead_id")["lead_id"])
    )
    source = ma_lead.map(ma_leads["source"].str.lower()).fillna("(none)")
    return source.where(lead.notna(), "sales_sourced").where(won.notna(), "existing_customer")


def _as_of_local(run) -> pd.Timestamp:
    as_of = run.query("select as_of from intermediate.int_as_of")["as_of"][0]
    return pd.Timestamp(as_of).tz_convert("Asia/Tokyo").tz_localize(None)


def _ended(start, months: int, as_of: pd.Timestamp) -> bool:
    """Whether the period of `months` from `start` had ended (its last microsecond passed) by the as-of."""
    return as_of >= pd.Timestamp(start) + pd.DateOffset(months=months) - pd.Timedelta(microseconds=1)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator and not math.isnan(denominator) else NAN


def expected_monthly(run) -> pd.DataFrame:
    """Every row of unit_economics_monthly, computed one by one from the extracts."""
    improvement = _improvement(run)
    margin, paid = improvement["gross_margin"], set(improvement.get("paid_sources", []))
    as_of_month = as_of_date(run).to_period("M").to_timestamp().date()
    as_of = _as_of_local(run)
    accounts = account_months(run)
    accounts["channel"] = accounts["account_id"].map(_channels(run.landing)).fillna("(none)")
    new = accounts[(accounts["start_mrr"] == 0) & (accounts["end_mrr"] > 0)]
    spend = _spend(run)
    spend = spend[spend["month"] <= as_of_month]
    bridge = run.query("select period_start, segment, ltv from marts.customer_success_monthly")
    ltv = bridge.assign(period_start=dates(bridge["period_start"])).set_index(["period_start", "segment"])["ltv"]

    funnel = run.query("select min(period_start) as first from marts.funnel_kpi_monthly")["first"]
    first = min(spend["month"].min(), accounts["period_start"].min(), dates(funnel)[0])
    months = [p.to_timestamp().date() for p in pd.period_range(first, as_of_month, freq="M")]
    spend_channels = set(spend["source"].dropna())
    keys = [("all", s) for s in sorted({"all", *accounts["segment"]})]
    keys += [(c, "all") for c in sorted(spend_channels | set(new["channel"]))]
    rows = []
    for month in months:
        in_month, new_in_month = spend[spend["month"] == month], new[new["period_start"] == month]
        movements = accounts[accounts["period_start"] == month]
        for channel, segment in keys:
            known = len(in_month) > 0 and segment == "all" and (channel == "all" or channel in spend_channels)
            costs = in_month if channel == "all" else in_month[in_month["source"] == channel]

            def total(frame: pd.DataFrame, known: bool = known) -> float:
                return float(frame["amount"].sum()) if known else NAN

            acquired = new_in_month
            if channel != "all":
                acquired = acquired[acquired["channel"] == channel]
            if segment != "all":
                acquired = acquired[acquired["segment"] == segment]
            row = {
                "period_start": month,
                "channel": channel,
                "segment": segment,
                "is_complete": _ended(month, 1, as_of),
                "is_paid_channel": None if channel == "all" else channel in paid,
                "marketing_spend": total(costs[costs["cost_type"] == "marketing"]),
                "sales_spend": total(costs[costs["cost_type"] == "sales"]),
                "spend": total(costs),
                "paid_spend": total(costs[costs["source"].isin(paid)]),
                "new_customers": len(acquired),
                "paid_new_customers": int(acquired["channel"].isin(paid).sum()),
                "new_mrr": float(acquired["end_mrr"].sum()),
                "ltv": ltv.get((month, segment if channel == "all" else "all"), NAN),
            }
            row["cac"] = _ratio(row["spend"], row["new_customers"])
            row["paid_cac"] = _ratio(row["paid_spend"], row["paid_new_customers"])
            row["cac_payback_months"] = _ratio(row["cac"], margin * _ratio(row["new_mrr"], row["new_customers"]))
            row["ltv_to_cac"] = _ratio(row["ltv"], row["cac"])
            if channel == "all":
                of = movements if segment == "all" else movements[movements["segment"] == segment]
                s, e = of["start_mrr"], of["end_mrr"]
                row |= {
                    "start_mrr": float(s.sum()),
                    "expansion_mrr": float((e - s)[(s > 0) & (e > s)].sum()),
                    "contraction_mrr": float((s - e)[(s > 0) & (e > 0) & (e < s)].sum()),
                    "churned_mrr": float(s[(s > 0) & (e == 0)].sum()),
                    "end_mrr": float(e.sum()),
                }
                row["quick_ratio"] = _ratio(
                    row["new_mrr"] + row["expansion_mrr"], row["contraction_mrr"] + row["churned_mrr"]
                )
            else:
                row |= dict.fromkeys([*MOVEMENTS, "quick_ratio"], NAN)
            row["net_new_arr"] = 12 * (row["end_mrr"] - row["start_mrr"])
            rows.append(row)
    frame = pd.DataFrame(rows).set_index(["channel", "segment", "period_start"]).sort_index()

    # the magic number over the three months ending with each one: its ARR growth / spend of the three before
    magic = []
    for (channel, segment, month), row in frame.iterrows():
        at = months.index(month)
        before = [(channel, segment, m) for m in months[max(at - 5, 0) : max(at - 2, 0)]]
        spent = [frame.loc[k, "spend"] for k in before]
        growth = 12 * (row["end_mrr"] - frame.loc[(channel, segment, months[at - 3]), "end_mrr"]) if at >= 3 else NAN
        magic.append(_ratio(growth, sum(spent)) if len(spent) == 3 and not np.isnan(spent).any() else NAN)
    frame["magic_number"] = magic
    return frame


def _fiscal_quarter(month) -> object:
    shifted = (pd.Timestamp(month) - pd.DateOffset(months=FISCAL_YEAR_START - 1)).to_period("Q").to_timestamp()
    return (shifted + pd.DateOffset(months=FISCAL_YEAR_START - 1)).date()


def expected_quarterly(monthly: pd.DataFrame, margin: float, as_of: pd.Timestamp) -> pd.DataFrame:
    """The months added up per fiscal quarter; spend only for quarters with spend in every month to the as-of."""
    rows = []
    flat = monthly.reset_index()
    flat["quarter"] = flat["period_start"].map(_fiscal_quarter)
    for (channel, segment, quarter), months in flat.groupby(["channel", "segment", "quarter"]):
        months = months.sort_values("period_start")
        due = len(
            pd.period_range(
                quarter,
                min(pd.Timestamp(quarter) + pd.DateOffset(months=2), as_of.to_period("M").to_timestamp()),
                freq="M",
            )
        )
        known = months["spend"].notna().sum() == due
        row = {
            "channel": channel,
            "segment": segment,
            "period_start": quarter,
            "is_complete": _ended(quarter, 3, as_of),
        }
        row |= {c: months[c].sum() if known else NAN for c in MONEY}
        row |= {c: months[c].sum(min_count=1) for c in ["new_customers", "paid_new_customers", "new_mrr"]}
        row |= {c: months[c].sum(min_count=1) for c in ["expansion_mrr", "contraction_mrr", "churned_mrr"]}
        row |= {"start_mrr": months["start_mrr"].iloc[0], "end_mrr": months["end_mrr"].iloc[-1]}
        row["ltv"] = months["ltv"].iloc[-1]
        row["cac"] = _ratio(row["spend"], row["new_customers"])
        row["paid_cac"] = _ratio(row["paid_spend"], row["paid_new_customers"])
        row["cac_payback_months"] = _ratio(row["cac"], margin * _ratio(row["new_mrr"], row["new_customers"]))
        row["ltv_to_cac"] = _ratio(row["ltv"], row["cac"])
        row["net_new_arr"] = 12 * (row["end_mrr"] - row["start_mrr"])
        row["quick_ratio"] = _ratio(row["new_mrr"] + row["expansion_mrr"], row["contraction_mrr"] + row["churned_mrr"])
        rows.append(row)
    frame = pd.DataFrame(rows).set_index(["channel", "segment", "period_start"]).sort_index()
    previous = {q: (pd.Timestamp(q) - pd.DateOffset(months=3)).date() for q in frame.index.get_level_values(2)}
    frame["magic_number"] = [
        _ratio(row["net_new_arr"], frame["spend"].get((c, s, previous[q]), NAN)) for (c, s, q), row in frame.iterrows()
    ]
    return frame


def _mart(run, name: str) -> pd.DataFrame:
    mart = run.query(f"select * from marts.{name}")
    mart["period_start"] = dates(mart["period_start"])
    return mart.set_index(["channel", "segment", "period_start"]).sort_index()


def _assert_same(mart: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(mart.index) == list(expected.index)
    assert mart["is_complete"].tolist() == expected["is_complete"].tolist()
    for column in COLUMNS:
        got, want = mart[column].astype(float).to_numpy(), expected[column].astype(float).to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{column}: NULL in different rows"
        assert np.allclose(got, want, rtol=1e-9, equal_nan=True), column


@pytest.fixture(scope="module")
def expected(demo_run) -> pd.DataFrame:
    return expected_monthly(demo_run)


def test_every_monthly_number_matches_the_independent_computation(demo_run, expected):
    mart = _mart(demo_run, "unit_economics_monthly")
    _assert_same(mart, expected)
    paid = expected["is_paid_channel"].dropna()
    assert (mart.loc[paid.index, "is_paid_channel"] == paid.astype(bool)).all()
    company = expected.loc[("all", "all")]
    # the demo exercises what the formulas guard against: each number is somewhere known and somewhere NULL
    for column in ["cac", "paid_cac", "cac_payback_months", "ltv_to_cac", "quick_ratio", "magic_number"]:
        assert company[column].notna().any() and company[column].isna().any(), column
    channels = mart.xs("all", level="segment").drop(index="all", level="channel")
    assert (channels.groupby(level="period_start")["new_customers"].sum() == company["new_customers"]).all()


def test_every_quarterly_number_matches_the_months_added_up(demo_run, expected):
    want = expected_quarterly(expected, _improvement(demo_run)["gross_margin"], _as_of_local(demo_run))
    mart = _mart(demo_run, "unit_economics_fiscal_quarterly")
    _assert_same(mart, want)
    assert mart.loc[("all", "all"), "magic_number"].notna().any()
    # on a quarter's last month the monthly magic number is the quarter's
    monthly = _mart(demo_run, "unit_economics_monthly").loc[("all", "all"), "magic_number"]
    for quarter, magic in mart.loc[("all", "all"), "magic_number"].items():
        last = (pd.Timestamp(quarter) + pd.DateOffset(months=2)).date()
        if last in monthly.index:
            assert np.isclose(monthly[last], magic, equal_nan=True), quarter


def test_months_without_spend_leave_the_spend_columns_null(demo_run, expected):
    spend_months = set(_spend(demo_run)["month"])
    mart = _mart(demo_run, "unit_economics_monthly").loc[("all", "all")]
    silent = [m for m in mart.index if m not in spend_months]
    assert silent, "the demo has a month without spend"
    needs_spend = [*MONEY, "cac", "paid_cac", "cac_payback_months", "ltv_to_cac"]
    assert mart.loc[silent, needs_spend].isna().all().all()
    assert mart.loc[silent, ["new_customers", "new_mrr", "net_new_arr"]].notna().all().all()
    # a month after one without spend has no magic number either: its three months before are not all known
    assert mart.loc[[m for m in mart.index if m in spend_months], "spend"].notna().all()
    # segments never have spend: it is not split by segment
    segments = _mart(demo_run, "unit_economics_monthly").xs("all", level="channel").drop(index="all", level="segment")
    assert segments[needs_spend].isna().all().all() and segments["new_customers"].sum() > 0


def test_the_quick_ratio_is_the_mrr_bridge_of_customer_success_monthly_exactly(demo_run):
    bridge = demo_run.query("select * from marts.customer_success_monthly")
    bridge["period_start"] = dates(bridge["period_start"])
    bridge = bridge.set_index(["segment", "period_start"]).sort_index()
    mart = _mart(demo_run, "unit_economics_monthly").xs("all", level="channel")
    rows = mart.loc[bridge.index]
    quick = (bridge["new_mrr"] + bridge["expansion_mrr"]) / (bridge["contraction_mrr"] + bridge["churned_mrr"]).replace(
        0, np.nan
    )
    assert rows["quick_ratio"].isna().equals(quick.isna())
    assert (rows["quick_ratio"].dropna() == quick.dropna()).all(), "exactly, not approximately"
    assert quick.notna().sum() > 0
    for column in ["new_customers", "new_mrr", *MOVEMENTS]:
        assert (rows[column].astype(float) == bridge[column].astype(float)).all(), column
    # months the bridge has no row for (before a segment's first customer) have no movement and no ratio
    others = mart.drop(index=bridge.index)
    assert (others[["new_customers", *MOVEMENTS]].astype(float) == 0).all().all() and others["quick_ratio"].isna().all()


def test_the_report_panel_draws_the_company_rows_with_gaps_for_months_without_spend(demo_run):
    from pipeline.serving.paths import published_file
    from pipeline.serving.report import _unit_economics, load_marts

    marts = load_marts(published_file(demo_run.settings.warehouse_path))
    figure = _unit_economics(marts["unit_economics_monthly"], marts["unit_economics_fiscal_quarterly"])
    traces = {trace.name: trace for trace in figure.data}
    company = _mart(demo_run, "unit_economics_monthly").loc[("all", "all")]
    for name, column in [
        ("CAC (blended)", "cac"),
        ("CAC (paid sources)", "paid_cac"),
        ("payback", "cac_payback_months"),
        ("LTV / CAC", "ltv_to_cac"),
        ("Quick Ratio", "quick_ratio"),
    ]:
        drawn = np.asarray(traces[name].y, dtype=float)
        assert np.allclose(drawn, company[column].astype(float), equal_nan=True), name
    assert np.isnan(np.asarray(traces["CAC (blended)"].y, dtype=float)).any(), "no CAC drawn where spend is unknown"
    quarters = _mart(demo_run, "unit_economics_fiscal_quarterly").loc[("all", "all"), "magic_number"]
    assert np.allclose(np.asarray(traces["magic number"].y, dtype=float), quarters.astype(float), equal_nan=True)
    assert "no spend data for" in figure.layout.title.text
    open_quarters = [label for label in traces["magic number"].x if label.endswith("(so far)")]
    assert len(open_quarters) == 1, "the quarter of the as-of is the one still open"
