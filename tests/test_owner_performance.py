"""marts.owner_performance against an independent pandas computation from the landing files and targets.yml.

The stage rows come from tests/independent_funnel.py (its own parsing and linking, no pipeline code); owners,
the team list and the per-person goals are read here from the extracts and the YAML, and every count, amount,
median and target is recomputed: shares of the team's target pro rata to active days by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from demo import generator as demo
from pipeline.config.files import ConfigError
from pipeline.config.settings import PROJECT_ROOT
from pipeline.config.targets import load_person_targets
from tests.conftest import DEMO_SEED, Materialized, materialize
from tests.independent_funnel import TZ, _read, _ts, stage_entries

KEY = ["period_start", "stage", "owner"]
STAGES = ["inside_sales", "field_sales", "customer_success"]
TEAM_LEADS = 1_000
#: team_run's targets file gives this field-sales rep more than the team's whole target for May 2026 ...
GREEDY = "005AE0000000002"
#: ... and goals to someone the team list does not have and to its sales manager, who is in no stage.
STRANGER = "005XX0000000099"
MANAGER = "005MG0000000001"


def _months(ts: pd.Series) -> pd.Series:
    """First day of the instant's month in the reporting time zone, as a date (NaT stays NaN)."""
    local = ts.dt.tz_convert(TZ).dt.tz_localize(None)
    return local.dt.to_period("M").dt.to_timestamp().dt.date


def _mart(run) -> pd.DataFrame:
    mart = run.query("select * from marts.owner_performance")
    mart["period_start"] = pd.to_datetime(mart["period_start"]).dt.date
    mart["owner"] = mart["owner_id"].fillna("(none)")
    return mart.set_index(KEY).sort_index()


@pytest.fixture(scope="module")
def expected(demo_run) -> dict:
    """Independent numbers per (month, stage, owner), the team list and the as-of instant."""
    stages, as_of = stage_entries(demo_run.landing)
    customers = _read(demo_run.landing, "crm", "customers").set_index("account_id")
    cs = stages["customer_success"]
    cs["owner_id"] = cs["account_id"].map(customers["owner_id"])
    counts = []
    for stage in STAGES:
        rows = stages[stage].assign(owner=stages[stage]["owner_id"].fillna("(none)"))
        for column, at in (("entries", "entered_at"), ("handovers", "advanced_at"), ("dropped", "dropped_at")):
            dated = rows[rows[at].notna()]
            counts.append(
                dated.groupby([_months(dated[at]), "owner"])
                .size()
                .rename(column)
                .rename_axis(["period_start", "owner"])
                .reset_index()
                .assign(stage=stage)
            )
    frame = pd.concat(counts).groupby(KEY).sum().fillna(0).astype("int64")
    return {"counts": frame, "stages": stages, "as_of": as_of}


def test_counts_per_owner_match_the_stage_rows_and_add_up_to_the_funnel(demo_run, expected):
    mart = _mart(demo_run)
    counts = expected["counts"]
    got = mart[["entries", "handovers", "dropped"]].reindex(counts.index)
    pd.testing.assert_frame_equal(got.astype("int64"), counts, check_names=False)
    # rows the stage rows do not explain hold no counts (people active without a record, speed or book rows)
    rest = mart.drop(index=counts.index)
    assert (rest[["entries", "handovers", "dropped"]] == 0).all().all()
    # per stage and month the owners add up to the funnel's period view, the entries without an owner included
    funnel = demo_run.query(
        "select period_start, stage, base, goal, dropped from marts.funnel_kpi_monthly where view = 'period'"
    )
    funnel["period_start"] = pd.to_datetime(funnel["period_start"]).dt.date
    funnel = funnel[funnel["stage"].isin(STAGES)].set_index(["period_start", "stage"]).sort_index()
    summed = mart.groupby(["period_start", "stage"])[["entries", "handovers", "dropped"]].sum()
    summed = summed.reindex(funnel.index, fill_value=0)
    assert (summed["entries"] == funnel["base"]).all() and (summed["handovers"] == funnel["goal"]).all()
    assert (summed["dropped"] == funnel["dropped"]).all()
    assert funnel["goal"].sum() > 0 and mart.index.get_level_values("owner").nunique() > 10
    rate = mart["handovers"] / mart["entries"].where(mart["entries"] > 0)
    assert np.allclose(mart["conversion_rate"], rate, equal_nan=True)


def test_field_sales_win_rate_deal_size_and_sales_cycle(demo_run, expected):
    mart = _mart(demo_run).xs("field_sales", level="stage")
    rows = expected["stages"]["field_sales"]
    won = rows[rows["advanced_at"].notna()]
    won = won.assign(
        period_start=_months(won["advanced_at"]),
        owner=won["owner_id"].fillna("(none)"),
        days=(won["advanced_at"] - won["entered_at"]).dt.total_seconds() / 86400,
    )
    # one currency in the demo: the extract's amounts are the reporting currency's
    wins = won.groupby(["period_start", "owner"]).agg(
        amount=("amount", "sum"), size=("amount", "mean"), cycle=("days", "median"), won=("amount", "size")
    )
    got = mart.reindex(wins.index)
    assert np.allclose(got["won_amount"].astype(float), wins["amount"])
    assert np.allclose(got["average_deal_size"], wins["size"])
    assert np.allclose(got["median_sales_cycle_days"], wins["cycle"])
    lost = expected["counts"].xs("field_sales", level="stage")["dropped"].reindex(mart.index, fill_value=0)
    decided = mart["handovers"] + lost
    assert np.allclose(mart["win_rate"], mart["handovers"] / decided.where(decided > 0), equal_nan=True)
    without_wins = mart.drop(index=wins.index)
    assert (without_wins["won_amount"] == 0).all() and without_wins["average_deal_size"].isna().all()
    assert len(wins) > 10 and 0 < mart["win_rate"].mean() < 1


def test_inside_sales_speed_to_lead_per_owner(demo_run, expected):
    mart = _mart(demo_run).xs("inside_sales", level="stage")
    rows = expected["stages"]["inside_sales"]
    arrivals = rows[rows["entry_type"] == "handover"]
    arrivals = arrivals.assign(
        period_start=_months(arrivals["received_at"]),
        owner=arrivals["owner_id"].fillna("(none)"),
        hours=(arrivals["first_contact_at"] - arrivals["received_at"]).dt.total_seconds() / 3600,
    )
    medians = arrivals.groupby(["period_start", "owner"])["hours"].median()
    got = mart["median_hours_to_first_contact"].reindex(medians.index)
    assert np.allclose(got, medians, equal_nan=True) and medians.notna().sum() > 20
    other = _mart(demo_run).drop(index="inside_sales", level="stage")
    assert other["median_hours_to_first_contact"].isna().all() and other["sla_breach_rate"].isna().all()


def test_customer_success_book_renewals_and_churn_per_owner(demo_run, expected):
    """Customers held at each month's end and lost in it (MRR bridge), and contracts due and renewed, per owner."""
    mart = _mart(demo_run).xs("customer_success", level="stage")
    as_of = expected["as_of"]
    as_of_date = as_of.tz_convert(TZ).tz_localize(None).normalize()
    owners = _read(demo_run.landing, "crm", "customers").set_index("account_id")["owner_id"]
    contracts = _read(demo_run.landing, "crm", "contracts")
    contracts["start"] = pd.to_datetime(contracts["start_date"].str.replace("/", "-"))
    contracts["end"] = pd.to_datetime(contracts["end_date"].str.replace("/", "-"))
    churned = _ts(contracts["churned_at"])
    contracts["churned_on"] = churned.where(churned <= as_of).dt.tz_convert(TZ).dt.tz_localize(None).dt.normalize()
    contracts["mrr"] = pd.to_numeric(contracts["mrr"]).fillna(0)
    contracts = contracts[(contracts["start"].dt.tz_localize(TZ) <= as_of).to_numpy()].copy()
    contracts["owner"] = contracts["account_id"].map(owners).fillna("(none)")

    def paying(day: pd.Timestamp) -> pd.Series:
        """Per account with a contract with MRR active on the day, its owner."""
        active = (
            (contracts["start"] <= day)
            & (contracts["end"].isna() | (contracts["end"] >= day))
            & (contracts["churned_on"].isna() | (contracts["churned_on"] > day))
        )
        return contracts[active & (contracts["mrr"] > 0)].groupby("account_id")["owner"].first()

    rows = []
    month = pd.Period(min(contracts["start"]), "M")
    while month <= pd.Period(as_of_date, "M"):
        before = paying(month.start_time - pd.Timedelta(days=1))
        after = paying(min(month.end_time.normalize(), as_of_date))
        lost = before[~before.index.isin(after.index)]
        for owner in set(before) | set(after):
            rows.append(
                {
                    "period_start": month.start_time.date(),
                    "owner": owner,
                    "customers_owned": int((after == owner).sum()),
                    "churned_customers": int((lost == owner).sum()),
                }
            )
        month += 1
    book = pd.DataFrame(rows).set_index(["period_start", "owner"]).sort_index()
    got = mart.reindex(book.index)
    assert (got["customers_owned"] == book["customers_owned"]).all()
    assert (got["churned_customers"] == book["churned_customers"]).all()
    assert book["churned_customers"].sum() > 0
    rest = mart.drop(index=book.index)
    assert (rest["customers_owned"] == 0).all() and (rest["churned_customers"] == 0).all()

    due = contracts[contracts["end"].notna() & (contracts["end"] <= as_of_date)].copy()
    due["period_start"] = due["end"].dt.to_period("M").dt.to_timestamp().dt.date
    due["renewed"] = due["contract_id"].isin(contracts["renewal_of_contract_id"].dropna())
    renewals = due.groupby(["period_start", "owner"]).agg(due=("renewed", "size"), renewed=("renewed", "sum"))
    got = mart.reindex(renewals.index)
    assert (got["contracts_due"] == renewals["due"]).all() and (got["contracts_renewed"] == renewals["renewed"]).all()
    assert np.allclose(got["renewal_rate"], renewals["renewed"] / renewals["due"])
    assert 0 < renewals["renewed"].sum() < renewals["due"].sum()
    other = _mart(demo_run).drop(index="customer_success", level="stage")
    assert other[["customers_owned", "contracts_due", "churned_customers"]].isna().all().all()
    # per month the owners add up to customer success' totals
    totals = demo_run.query("select * from marts.customer_success_monthly where segment = 'all'")
    totals["period_start"] = pd.to_datetime(totals["period_start"]).dt.date
    summed = mart.groupby("period_start")[["customers_owned", "contracts_due", "churned_customers"]].sum()
    summed = summed.reindex(totals["period_start"], fill_value=0)
    assert (summed["customers_owned"].to_numpy() == totals["customers_end"].to_numpy()).all()
    assert (summed["contracts_due"].to_numpy() == totals["contracts_due"].to_numpy()).all()
    assert (summed["churned_customers"].to_numpy() == totals["churned_customers"].to_numpy()).all()


def _team(landing: Path) -> pd.DataFrame:
    users = _read(landing, "sfa", "users")
    for column in ("started_on", "ended_on"):
        users[column] = pd.to_datetime(users[column].str.replace("/", "-"))
    return users


def _active_days(users: pd.DataFrame, month: pd.Period) -> pd.Series:
    """Days of the month each user was active, from started_on to ended_on inclusive (0 when not at all)."""
    first, last = month.start_time, month.end_time.normalize()
    start = users["started_on"].clip(lower=first).fillna(first)
    end = users["ended_on"].clip(upper=last).fillna(last)
    return (end - start).dt.days.add(1).clip(lower=0)


@pytest.fixture(scope="module")
def team_run(tmp_path_factory) -> Materialized:
    """12 months of small demo extracts, where the customer-success manager who joins a third into the history
    joins in a month the targets plan, and a targets file whose people section also gives one person more than
    the team's whole target and names someone missing from the team list."""
    root = tmp_path_factory.mktemp("team")
    demo.generate(TEAM_LEADS, 12, DEMO_SEED, root / "landing")
    targets = root / "targets.yml"
    targets.write_text(
        (PROJECT_ROOT / "targets.yml").read_text(encoding="utf-8")
        + f"  - {{user_id: '{GREEDY}', goals: {{2026-05: 99}}}}\n"
        + f"  - {{user_id: '{STRANGER}', goals: {{2026-05: 1}}}}\n"
        + f"  - {{user_id: '{MANAGER}', goals: {{2026-05: 1}}}}\n",
        encoding="utf-8",
    )
    run = materialize(root / "landing", root / "themodel.duckdb", targets=str(targets))
    assert run.result.success, "materializing the team extracts failed"
    return run


@pytest.mark.parametrize("fixture", ["demo_run", "team_run"])
def test_targets_are_own_goals_or_shares_of_the_team_target_pro_rata_to_active_days(request, fixture):
    run = request.getfixturevalue(fixture)
    mart = _mart(run)
    users = _team(run.landing)
    people = yaml.safe_load(Path(run.settings.targets).read_text(encoding="utf-8")).get("people", [])
    own = {
        (pd.Period(str(month), "M"), person["user_id"]): float(goal)
        for person in people
        for month, goal in person["goals"].items()
    }
    team = run.query("select month, stage, target_goal from marts.funnel_targets")
    months = sorted({p for p in mart.index.get_level_values("period_start")})
    checked = 0
    for month in (pd.Period(m, "M") for m in months):
        days = _active_days(users, month)
        for stage in STAGES:
            target = team[(pd.to_datetime(team["month"]).dt.to_period("M") == month) & (team["stage"] == stage)]
            target = target[target["target_goal"].notna()]  # the lags leave some stage-months without a goal
            members = users[(users["role"] == stage) & (days > 0)]
            for user_id in members["user_id"]:
                row = mart.loc[(month.start_time.date(), stage, user_id)]
                assert row["active_days"] == days[members.index[members["user_id"] == user_id][0]]
            given = {
                u: g
                for (m, u), g in own.items()
                if m == month and u in set(users.loc[users["role"] == stage, "user_id"])
            }
            sharing = members[~members["user_id"].isin(given)]
            for user_id, goal in given.items():
                row = mart.loc[(month.start_time.date(), stage, user_id)]
                assert (row["target_goal"], row["target_source"]) == (goal, "person")
            if target.empty:
                assert all(
                    pd.isna(mart.loc[(month.start_time.date(), stage, u), "target_goal"]) for u in sharing["user_id"]
                )
                continue
            left = max(float(target["target_goal"].iloc[0]) - sum(given.values()), 0.0)
            weights = days[sharing.index]
            for user_id, weight in zip(sharing["user_id"], weights):
                row = mart.loc[(month.start_time.date(), stage, user_id)]
                assert row["target_source"] == "team_share"
                assert np.isclose(row["target_goal"], left * weight / weights.sum()), (month, stage, user_id)
                checked += 1
    assert checked > 50
    # rows of owners outside the team list, or of the entries without an owner, have no target
    listed = set(users["user_id"])
    outside = mart[~mart.index.get_level_values("owner").isin(listed)]
    assert outside["target_goal"].isna().all() and outside["active_days"].isna().all()
    attained = mart["handovers"] / mart["target_goal"].where(mart["target_goal"] > 0)
    assert np.allclose(mart["goal_attainment"], attained, equal_nan=True)


def test_a_person_who_joined_mid_month_gets_a_pro_rata_share(team_run):
    """Worked by hand for the first person of the team list who started on a day other than the 1st of a month
    the targets plan, and has no goal of their own."""
    users = _team(team_run.landing)
    team = team_run.query("select month, stage, target_goal from marts.funnel_targets")
    team["month"] = pd.to_datetime(team["month"])
    planned = set(zip(team["month"], team["stage"]))
    start_months = users["started_on"].dt.to_period("M").dt.to_timestamp()
    in_plan = pd.Series([(m, r) in planned for m, r in zip(start_months, users["role"])], index=users.index)
    joiners = users[(users["started_on"].dt.day > 1) & in_plan]
    assert len(joiners), "the demo team list has a person who joined mid-month in a planned month"
    joiner = joiners.iloc[0]
    month = joiner["started_on"].to_period("M")
    joined_days = month.days_in_month - joiner["started_on"].day + 1
    row = _mart(team_run).loc[(month.start_time.date(), joiner["role"], joiner["user_id"])]
    assert row["active_days"] == joined_days
    colleagues = users[(users["role"] == joiner["role"]) & (users["user_id"] != joiner["user_id"])]
    colleague_days = _active_days(colleagues, month)
    goal = team[(team["month"] == month.start_time) & (team["stage"] == joiner["role"])]["target_goal"].iloc[0]
    assert np.isclose(row["target_goal"], goal * joined_days / (colleague_days.sum() + joined_days))
    assert row["target_source"] == "team_share"
    assert row["target_goal"] < goal / (int((colleague_days > 0).sum()) + 1), "less than a headcount share"
    # by hand, for the demo's team: customer-success manager 5 joins on 2026-03-16, 16 of March's 31 days, beside
    # four managers who work all month (124 days); March's plan is 57.6M / 4M = 14.4 -> 15 won deals, and
    # 15 x 0.85 = 12.75 -> 13 first renewals. So 13 x 16 / 140 = 1.486 for the newcomer, 13 x 31 / 140 = 2.879 each
    # for the others. Manager 4 leaves on 2026-07-15: 15 of July's days, 12 renewals planned, 12 x 15 / 139.
    mart = _mart(team_run)
    march, july = pd.Timestamp("2026-03-01").date(), pd.Timestamp("2026-07-01").date()
    assert (joiner["user_id"], joined_days, goal) == ("005CS0000000005", 16, 13)
    assert np.isclose(row["target_goal"], 13 * 16 / 140) and np.isclose(row["target_goal"], 1.4857, atol=1e-4)
    for manager in ("005CS0000000001", "005CS0000000002", "005CS0000000003", "005CS0000000004"):
        assert np.isclose(mart.loc[(march, "customer_success", manager), "target_goal"], 13 * 31 / 140)
    leaver = mart.loc[(july, "customer_success", "005CS0000000004")]
    assert leaver["active_days"] == 15 and np.isclose(leaver["target_goal"], 12 * 15 / 139)


def test_own_goals_above_the_team_target_leave_the_others_nothing(team_run):
    may = _mart(team_run).xs((pd.Timestamp("2026-05-01").date(), "field_sales"), level=["period_start", "stage"])
    assert (may.loc[GREEDY, "target_goal"], may.loc[GREEDY, "target_source"]) == (99.0, "person")
    others = may[(may["target_source"] == "team_share")]
    assert len(others) >= 3 and (others["target_goal"] == 0).all()
    assert STRANGER not in may.index.get_level_values(0)


def test_a_goal_for_someone_off_the_team_list_or_in_no_stage_is_a_warning(team_run):
    checks = {
        e.check_name: e
        for e in team_run.result.get_asset_check_evaluations()
        if e.asset_key.path[-1] == "stg_reference__owner_targets"
    }
    warned = checks.pop("assert_owner_targets_name_people_of_a_stage")
    assert not warned.passed and warned.severity.value == "WARN"
    assert warned.metadata["dagster_dbt/failed_row_count"].value == 2  # the stranger and the manager
    assert checks and all(e.passed for e in checks.values())
    mart = _mart(team_run)
    assert not mart.index.get_level_values("owner").isin([STRANGER, MANAGER]).any()


def test_no_name_of_the_team_list_reaches_the_mart(demo_run):
    users = _team(demo_run.landing)
    names = set(users["name"].dropna())
    assert names
    published = Path(demo_run.settings.warehouse_path).parent / "marts.duckdb"
    import duckdb

    with duckdb.connect(str(published), read_only=True) as con:
        frame = con.execute("select * from owner_performance").df()
    values = {str(v) for column in frame.columns for v in frame[column].dropna().unique()}
    assert not names & values and "name" not in " ".join(frame.columns)


def test_people_targets_mistakes_name_the_file_line_and_key(tmp_path):
    text = (PROJECT_ROOT / "targets.yml").read_text(encoding="utf-8")
    assert load_person_targets(PROJECT_ROOT / "targets.yml"), "the demo targets.yml gives someone their own goal"
    broken = tmp_path / "targets.yml"
    broken.write_text(
        text.split("people:")[0]
        + "people:\n  - user_id: 005AE0000000001\n    goalz: {2026-09: 3}\n"
        + "  - user_id: 12\n    goals: {2026-13: 3, 2026-10: -1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_person_targets(broken)
    lines = str(error.value).splitlines()
    first = len(text.split("people:")[0].splitlines()) + 1  # the line of `people:`
    assert lines == [
        f"{broken}, line {first + 1}: people[0].goals: Field required",
        f"{broken}, line {first + 2}: people[0].goalz: unknown key (a typo?)",
        f"{broken}, line {first + 3}: people[1].user_id: Input should be a valid string (got 12)",
        f"{broken}, line {first + 4}: people[1].goals.2026-13: not a month like 2026-04",
        f"{broken}, line {first + 4}: people[1].goals.2026-10: Input should be greater than or equal to 0 (got -1)",
    ]
    broken.write_text(
        text.split("people:")[0]
        + "people:\n  - {user_id: a, goals: {2026-09: 3}}\n  - {user_id: a, goals: {2026-10: 1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"line {first + 2}: people\[1\].user_id: user_id a repeated"):
        load_person_targets(broken)


def test_the_report_shows_each_person_of_the_last_closed_month(demo_run):
    page = (Path(demo_run.settings.warehouse_path).parent / "report" / "index.html").read_text(encoding="utf-8")
    latest = demo_run.query("select max(period_start) as m from marts.funnel_kpi_monthly")["m"][0]
    month = (pd.Timestamp(latest) - pd.DateOffset(months=1)).date()
    assert f"<h2>Team performance, {month:%Y-%m} (marts.owner_performance)</h2>" in page
    rows = _mart(demo_run).xs(month, level="period_start")
    assert len(rows) >= 15
    for (_, owner), row in rows.iterrows():
        shown = owner if owner != "(none)" else "(no owner)"
        team = row["team"] if isinstance(row["team"], str) else ""
        assert f"<tr><td>{shown}</td><td>{team}</td><td>{row['entries']:,}</td><td>{row['handovers']:,}</td>" in page
