"""marts.campaign_performance against an independent pandas computation from the landing files (issue #15, item 4).

The expected mart is rebuilt here from the extracts by another route than the SQL: no stage tables, no windows
per marketing entry; a lead's MQLs are the distinct windows between its entries (creation, recycles) that hold an
MQL event by the as-of instant, its opportunities the new-business deals of the SFA leads that name it. The demo has
one currency (the reporting one), a month without spend and campaigns without a won deal; the tests say so first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline.transforms.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from tests.independent_funnel import TZ, _bool, _month, _read, _ts, stage_entries
from tests.test_dbt_standalone import funnel_environment

KEY = ["period_start", "source", "campaign_id"]
COUNTS = ["leads", "mqls", "opportunities", "won_deals"]
AMOUNTS = ["pipeline_amount", "won_amount", "spend"]
RATIOS = ["cost_per_lead", "cost_per_mql", "cost_per_opportunity", "cost_per_won_deal", "roi"]
NONE = "(none)"  # stands for a NULL source or campaign in the comparisons


def _spend(landing: Path) -> pd.DataFrame:
    """ma/spend.csv or the files of ma/spend/, as read by hand."""
    files = [landing / "ma" / "spend.csv"] + sorted((landing / "ma" / "spend").glob("*.csv"))
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files if f.is_file()]
    return pd.concat(frames, ignore_index=True).replace({"": None})


def expected_performance(landing: Path, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per cohort month, source and campaign (NULLs as NONE), with the mart's counts, amounts and ratios."""
    ma = _read(landing, "ma", "leads")
    mql = _read(landing, "ma", "mql_events")
    sfa = _read(landing, "sfa", "leads")
    opp = _read(landing, "sfa", "opportunities")
    ma["created"] = _ts(ma["created_at"])
    mql["at"] = _ts(mql["mql_at"])
    for column in ("created_at", "converted_at", "disqualified_at"):
        sfa[column] = _ts(sfa[column])
    for column in ("created_at", "closed_at"):
        opp[column] = _ts(opp[column])

    # Each lead's entries into marketing: its creation and every recycle back from inside sales.
    recycled = sfa[(sfa["status"].str.lower() == "recycled") & sfa["disqualified_at"].notna()]
    starts = pd.concat(
        [
            ma[["lead_id", "created"]].rename(columns={"created": "at"}),
            recycled[["ma_lead_id", "disqualified_at"]].rename(
                columns={"ma_lead_id": "lead_id", "disqualified_at": "at"}
            ),
        ]
    )
    starts = starts[starts["lead_id"].isin(ma["lead_id"]) & (starts["at"] <= as_of)]
    leads = ma.set_index("lead_id").loc[starts["lead_id"].unique()]
    leads["first_at"] = starts.groupby("lead_id")["at"].min()
    leads["period_start"] = _month(leads["first_at"]).dt.to_timestamp()

    # MQLs: an MQL event falls in the window of the lead's latest entry at or before it (the first one if it came
    # before the lead was created); a window counts once, whatever number of MQL events it holds.
    entry_times = starts.groupby("lead_id")["at"].apply(lambda s: np.sort(s.dt.tz_convert(None).to_numpy()))
    events = mql[mql["lead_id"].isin(leads.index) & (mql["at"] <= as_of)]
    windows = [
        (lead, max(int(np.searchsorted(entry_times[lead], np.datetime64(at.tz_convert(None)), "right")) - 1, 0))
        for lead, at in zip(events["lead_id"], events["at"])
    ]
    leads["mqls"] = pd.Series([lead for lead, _ in set(windows)], dtype=str).value_counts()
    leads["mqls"] = leads["mqls"].fillna(0)

    # Opportunities: new business converted from an SFA lead, reaching its MA lead through the SFA lead's MA id
    # or the MQL event that synced to it; entered (converted) by the as-of instant.
    synced = mql.dropna(subset=["sfa_lead_id"]).groupby("sfa_lead_id")["lead_id"].first()
    sfa["ma"] = sfa["ma_lead_id"].fillna(sfa["lead_id"].map(synced))
    deals = opp[(opp["type"].str.lower() == "new_business") & opp["lead_id"].notna()].merge(
        sfa[["lead_id", "ma", "converted_at"]], on="lead_id", suffixes=("", "_sfa")
    )
    deals = deals[deals["converted_at"].fillna(deals["created_at"]) <= as_of]
    deals["won"] = _bool(deals["is_won"]) & (deals["closed_at"] <= as_of)
    deals["amount"] = deals["amount"].astype(float)
    deals["won_amount"] = deals["amount"].where(deals["won"], 0.0)
    per_lead = deals.groupby("ma").agg(
        opportunities=("opportunity_id", "size"),
        won_deals=("won", "sum"),
        pipeline_amount=("amount", "sum"),
        won_amount=("won_amount", "sum"),
    )
    leads = leads.join(per_lead).fillna({c: 0 for c in per_lead.columns})
    leads["source"] = leads["source"].str.lower()
    cohorts = (
        leads.fillna({"source": NONE, "campaign_id": NONE})
        .groupby(KEY)
        .agg(
            leads=("created", "size"),
            mqls=("mqls", "sum"),
            opportunities=("opportunities", "sum"),
            won_deals=("won_deals", "sum"),
            pipeline_amount=("pipeline_amount", "sum"),
            won_amount=("won_amount", "sum"),
        )
    )

    # Marketing spend per month, source and campaign, up to the as-of month.
    spend = _spend(landing)
    spend = spend[spend["cost_type"].str.lower() == "marketing"].copy()
    spend["period_start"] = pd.to_datetime(spend["month"].str.replace("/", "-").str[:7] + "-01")
    spend["source"] = spend["source"].str.lower()
    spend["amount"] = spend["amount"].astype(float)
    as_of_month = pd.Timestamp(as_of.tz_convert(TZ).strftime("%Y-%m-01"))
    spend = spend[spend["period_start"] <= as_of_month].fillna({"source": NONE, "campaign_id": NONE})
    spent = spend.groupby(KEY)["amount"].sum().rename("spend")

    out = cohorts.join(spent, how="outer").reset_index()
    out[COUNTS + AMOUNTS[:2]] = out[COUNTS + AMOUNTS[:2]].fillna(0)
    for count, ratio in zip(COUNTS, RATIOS):
        out[ratio] = out["spend"] / out[count].replace(0, np.nan)
    out["roi"] = (out["won_amount"] - out["spend"]) / out["spend"].replace(0, np.nan)
    out[COUNTS] = out[COUNTS].astype("int64")
    return out.sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def mart(demo_run) -> pd.DataFrame:
    frame = demo_run.query("select * from marts.campaign_performance")
    frame["period_start"] = pd.to_datetime(frame["period_start"])
    frame[["source", "campaign_id"]] = frame[["source", "campaign_id"]].fillna(NONE)
    return frame.sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def expected(demo_run) -> pd.DataFrame:
    _, as_of = stage_entries(demo_run.landing)
    return expected_performance(demo_run.landing, as_of)


def test_the_demo_has_the_cases_the_mart_must_get_right(demo_run):
    spend = _spend(demo_run.landing)
    deals = _read(demo_run.landing, "sfa", "opportunities")
    # one currency: the extracts' amounts are already in the reporting currency
    currencies = [frame.get("currency", pd.Series(dtype=str)).dropna().str.upper() for frame in (spend, deals)]
    assert set().union(*currencies) <= {"JPY"}
    leads = _read(demo_run.landing, "ma", "leads")
    lead_months = set(_month(_ts(leads["created_at"])).dt.to_timestamp())
    spend_months = set(pd.to_datetime(spend.loc[spend["cost_type"] == "marketing", "month"].str[:7] + "-01"))
    assert lead_months - spend_months, "a month with leads and no marketing spend"


def test_campaign_performance_matches_an_independent_computation(mart, expected, demo_run):
    assert mart["as_of"].nunique() == 1
    assert pd.Timestamp(mart["as_of"].iloc[0]) == stage_entries(demo_run.landing)[1]
    assert mart[KEY].values.tolist() == expected[KEY].values.tolist()
    pd.testing.assert_frame_equal(mart[COUNTS], expected[COUNTS], check_dtype=False)
    pd.testing.assert_frame_equal(
        mart[AMOUNTS + RATIOS].astype(float), expected[AMOUNTS + RATIOS], check_exact=False, rtol=1e-9
    )


def test_no_spend_gives_null_costs_and_no_won_deal_an_roi_of_minus_one(mart):
    unspent = mart[mart["spend"].isna()]
    assert (unspent["leads"] > 0).all() and len(unspent) > 0
    assert unspent[RATIOS].isna().all().all(), "without spend every cost and the ROI are NULL, not 0"
    wins = mart.groupby("campaign_id")["won_deals"].sum()
    never_won = mart[mart["campaign_id"].isin(wins[wins == 0].index) & (mart["spend"] > 0)]
    assert len(never_won) > 0, "a campaign with spend and no won deal"
    assert (never_won["roi"] == -1).all() and never_won["cost_per_won_deal"].isna().all()
    assert np.allclose(never_won["cost_per_lead"], never_won["spend"] / never_won["leads"], rtol=1e-12)


def test_without_spend_rows_the_counts_stay_and_every_cost_is_null(demo_run, mart, tmp_path):
    """The spend extract is optional: with none loaded (extracted.ma_spend empty, as ingest leaves it without a
    file) `dbt run` by hand rebuilds the mart with the same counts and amounts, and spend, costs and ROI NULL."""
    copy = tmp_path / "no_spend.duckdb"
    shutil.copyfile(demo_run.settings.warehouse_path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from extracted.ma_spend")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DBT_"))}
    env |= funnel_environment(demo_run.settings, copy)
    done = subprocess.run(
        [DBT_EXECUTABLE, "run", "--select", "campaign_performance"]
        + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as con:
        unspent = con.execute("select * from marts.campaign_performance").df()
    unspent[["source", "campaign_id"]] = unspent[["source", "campaign_id"]].fillna(NONE)
    unspent["period_start"] = pd.to_datetime(unspent["period_start"])
    unspent = unspent.sort_values(KEY).reset_index(drop=True)
    with_leads = mart[mart["leads"] > 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(unspent[KEY + COUNTS], with_leads[KEY + COUNTS])
    pd.testing.assert_frame_equal(unspent[AMOUNTS[:2]], with_leads[AMOUNTS[:2]])
    assert unspent[["spend", *RATIOS]].isna().all().all()


def test_per_campaign_the_counts_agree_with_the_funnel_slices(mart, demo_run):
    """The mart reads the stage tables funnel_kpi_by_slice counts: per campaign, over all months, its MQLs are the
    marketing cohort goal, its opportunities the field-sales base and its won deals the field-sales cohort goal."""
    sliced = demo_run.query(
        "select slice_value as campaign_id, stage, sum(base) as base, sum(goal) as goal from marts.funnel_kpi_by_slice "
        "where grain = 'month' and view = 'cohort' and dimension = 'campaign' group by all"
    ).pivot(index="campaign_id", columns="stage", values=["base", "goal"])
    totals = mart[mart["campaign_id"] != NONE].groupby("campaign_id")[COUNTS].sum()
    funnel = sliced.reindex(totals.index).fillna(0).astype("int64")
    assert (totals["mqls"] == funnel[("goal", "marketing")]).all()
    assert (totals["opportunities"] == funnel[("base", "field_sales")]).all()
    assert (totals["won_deals"] == funnel[("goal", "field_sales")]).all()
    assert (totals["leads"] <= funnel[("base", "marketing")]).all()  # the funnel also counts recycled returns


def test_the_report_lists_the_campaigns_with_their_numbers(demo_run, expected):
    from pipeline.serving.campaign_table import MONTHS, ROWS

    page = (Path(demo_run.settings.warehouse_path).parent / "report" / "index.html").read_text(encoding="utf-8")
    table = page[page.index('<table class="campaigns">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>((?:<td>.*?</td>)+)</tr>", table)
    assert len(rows) == ROWS
    last = expected["period_start"].max()
    recent = expected[expected["period_start"] > last - pd.DateOffset(months=MONTHS)]
    for campaign, source, cells in rows[:5]:
        mine = recent[(recent["campaign_id"] == campaign) & (recent["source"] == source)]
        paid = mine[mine["spend"].notna()]
        values = re.findall(r"<td>(.*?)</td>", cells)
        assert values[1:5] == [f"{mine[c].sum():,}" for c in COUNTS]
        assert values[7] == f"{paid['spend'].sum():,.0f}"
        roi = (paid["won_amount"].sum() - paid["spend"].sum()) / paid["spend"].sum()
        assert values[11] == f"{roi:+.0%}"
