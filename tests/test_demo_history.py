"""The demo's opportunity histories (demo/history.py), checked with pandas from the written CSVs: every path starts
at its opportunity's creation and ends in its record, closing rows sit at closed_at, steps back, pushed and
pulled-in close dates and amount changes come at about the stated shares, and the monthly exports hold each month's
changes and each opportunity as its path stood at the month's end. Generating needs no warehouse: 30,000 leads over
24 months (about 2,300 opportunities, enough for the shares to be more than noise) take about a second."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from demo import generator as demo
from demo import history as demo_history

LEADS, MONTHS, SEED = 30_000, 24, 23
END = pd.Timestamp(demo.DEFAULT_END)
OPEN_STAGES = ["Qualification", "Needs Analysis", "Proposal", "Negotiation"]
#: stage -> (probability, forecast category), as p14.md states them
PER_STAGE = {
    "Qualification": (10, "Pipeline"),
    "Needs Analysis": (20, "Pipeline"),
    "Proposal": (50, "Best Case"),
    "Negotiation": (75, "Commit"),
    "Closed Won": (100, "Closed"),
    "Closed Lost": (0, "Omitted"),
}
PATH_COLUMNS = ["stage_name", "amount", "close_date", "probability", "forecast_category"]


def _read(folder, entity: str, files: str = "*.csv") -> pd.DataFrame:
    return pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted((folder / entity).glob(files))],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    folder = tmp_path_factory.mktemp("whole")
    demo.generate(LEADS, MONTHS, SEED, folder)
    opportunities = _read(folder, "sfa/opportunities")
    history = _read(folder, "sfa/opportunity_history")
    history["at"] = pd.to_datetime(history["changed_at"], format="%Y/%m/%d %H:%M:%S")
    history = history.sort_values(["opportunity_id", "at"], kind="stable").reset_index(drop=True)
    history["position"] = history["stage_name"].map({s: i for i, s in enumerate(OPEN_STAGES)})
    return {"folder": folder, "opportunities": opportunities.set_index("opportunity_id"), "history": history}


def test_every_path_starts_at_creation_and_ends_in_its_record(whole):
    opp, history = whole["opportunities"], whole["history"]
    assert not history.duplicated(["opportunity_id", "changed_at"]).any()
    assert set(history["opportunity_id"]) == set(opp.index)
    created = pd.to_datetime(opp["created_at"], format="%Y/%m/%d %H:%M:%S")
    first = history.groupby("opportunity_id").head(1).set_index("opportunity_id")
    last = history.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    assert (first["at"] == created[first.index]).all()
    assert (history["at"] <= END).all()
    record = opp.loc[last.index]
    for column in [*PATH_COLUMNS, "currency"]:
        assert (last[column] == record[column]).all(), column
    assert set(opp["stage_name"]) == set(PER_STAGE)


def test_closed_deals_close_at_closed_at_and_open_ones_never_close(whole):
    opp, history = whole["opportunities"], whole["history"]
    closing = history[history["stage_name"].str.startswith("Closed")].set_index("opportunity_id")
    closed = opp[opp["is_closed"] == "true"]
    assert closing.index.is_unique and set(closing.index) == set(closed.index)
    closing = closing.loc[closed.index]
    assert (closing["changed_at"] == closed["closed_at"]).all()
    assert (closing["close_date"] == closed["closed_at"].str[:10]).all()
    assert ((closing["stage_name"] == "Closed Won") == (closed["is_won"] == "true")).all()
    # the closing row is the last
    assert (history.groupby("opportunity_id")["at"].max()[closed.index] == closing["at"]).all()


def test_probability_and_forecast_category_follow_the_stage(whole):
    for frame in (whole["history"], whole["opportunities"]):
        expected = frame["stage_name"].map(PER_STAGE)
        assert (frame["probability"].astype(int) == expected.str[0]).all()
        assert (frame["forecast_category"] == expected.str[1]).all()


def test_steps_back_pushes_and_amount_changes_at_the_stated_shares(whole):
    opp, history = whole["opportunities"], whole["history"]
    deals = len(opp)
    by_deal = history.groupby("opportunity_id")
    previous = by_deal["position"].shift()
    moves = history.assign(previous=previous).dropna(subset=["position", "previous"])
    backwards = moves[moves["position"] < moves["previous"]]
    assert (backwards.groupby("opportunity_id").size() == 1).all(), "a deal steps back at most once"
    assert (backwards["previous"] - backwards["position"] >= 1).all()
    passing_two = (history.dropna(subset=["position"]).groupby("opportunity_id")["position"].nunique() >= 2).sum()
    assert 0.07 <= backwards["opportunity_id"].nunique() / passing_two <= 0.13
    skips = moves[moves["position"] - moves["previous"] >= 2]
    assert 0.02 <= skips["opportunity_id"].nunique() / deals <= 0.25, "some deals skip a stage"

    close = pd.to_datetime(history["close_date"], format="%Y/%m/%d")
    shift = (close - close.groupby(history["opportunity_id"]).shift()).dt.days
    pushes = history[(shift > 0) & ~history["stage_name"].str.startswith("Closed")]
    assert pushes.assign(days=shift).eval("14 <= days <= 42").all()
    assert 0.25 <= pushes["opportunity_id"].nunique() / deals <= 0.35
    pulls = history[(shift < 0) & ~history["stage_name"].str.startswith("Closed")]
    assert pulls.assign(days=-shift).eval("7 <= days <= 21").all()
    assert (close[pulls.index] > pulls["at"].dt.normalize()).all(), "pulled in to a day still ahead"
    assert 0.05 <= pulls["opportunity_id"].nunique() / deals <= 0.11
    assert not set(pulls["opportunity_id"]) & set(pushes["opportunity_id"])

    amount = history["amount"].astype(float)
    changed = amount.groupby(history["opportunity_id"]).nunique() > 1
    assert 0.20 <= changed.mean() <= 0.30
    first = by_deal["amount"].first().astype(float)[changed]
    final = opp.loc[changed[changed].index, "amount"].astype(float)
    step = np.where(opp.loc[final.index, "currency"] == "JPY", 10_000, 100)
    assert ((first - final).abs() <= 0.30 * final + step / 2).all()


def test_expansion_and_renewal_paths_are_shorter_than_new_business(whole):
    rows = whole["history"].groupby("opportunity_id").size()
    kind = whole["opportunities"]["type"]
    per_kind = rows.groupby(kind[rows.index]).mean()
    assert set(per_kind.index) == {"new_business", "upsell", "cross_sell", "renewal"}
    assert per_kind.drop("new_business").max() < per_kind["new_business"]
    starts = whole["history"].groupby("opportunity_id")["stage_name"].first()
    assert (starts[kind[kind == "renewal"].index] == "Proposal").all()


def test_open_deals_expect_to_close_in_the_open_and_next_two_months(whole):
    opp = whole["opportunities"]
    open_deals = opp[opp["is_closed"] == "false"]
    close = pd.to_datetime(open_deals["close_date"], format="%Y/%m/%d")
    month = close.dt.to_period("M")
    open_month = END.to_period("M")
    assert close.max() <= (open_month + 2).end_time
    assert close.min() >= END.normalize() - pd.Timedelta(days=demo_history.OVERDUE_DAYS + 1)
    assert set(month) >= {open_month, open_month + 1, open_month + 2}
    assert 0.05 <= (close < END.normalize()).mean() <= 0.25, "some open deals are overdue"
    assert (close >= pd.to_datetime(open_deals["created_at"], format="%Y/%m/%d %H:%M:%S").dt.normalize()).all()


def test_the_history_stream_leaves_every_other_column_as_it_was(whole, tmp_path, monkeypatch):
    """Without the histories (paths replaced by records left as they are), every other file and column is the
    same: the histories draw from a stream of their own."""
    monkeypatch.setattr(demo_history, "paths", lambda opp, end, rng: (opp, pa.table({"opportunity_id": []})))
    demo.generate(LEADS, MONTHS, SEED, tmp_path)
    for path in sorted(tmp_path.rglob("*.csv")):
        entity = path.parent.relative_to(tmp_path).as_posix()
        if entity == "sfa/opportunity_history":
            continue
        before = pd.read_csv(path, dtype=str, keep_default_na=False)
        after = pd.read_csv(whole["folder"] / path.relative_to(tmp_path), dtype=str, keep_default_na=False)
        assert list(after.columns[: len(before.columns)]) == list(before.columns), entity
        pd.testing.assert_frame_equal(after[before.columns], before, obj=entity)


@pytest.fixture(scope="module")
def monthly(whole, tmp_path_factory):
    folder = tmp_path_factory.mktemp("months")
    demo.generate(LEADS, MONTHS, SEED, folder, by_month=True)
    return folder


def test_monthly_history_files_partition_the_history(whole, monthly):
    files = sorted((monthly / "sfa" / "opportunity_history").glob("*.csv"))
    assert len(files) == MONTHS
    parts = []
    for path in files:
        part = pd.read_csv(path, dtype=str, keep_default_na=False)
        assert (part["changed_at"].str[:7].str.replace("/", "-") == path.name[:7]).all(), path.name
        parts.append(part)
    columns = [c for c in whole["history"].columns if c not in ("at", "position")]
    ordered = ["opportunity_id", "changed_at"]
    pd.testing.assert_frame_equal(
        pd.concat(parts).sort_values(ordered).reset_index(drop=True),
        whole["history"][columns].sort_values(ordered).reset_index(drop=True),
    )


def test_each_months_opportunities_stand_where_their_paths_stood_at_its_end(whole, monthly):
    history = whole["history"]
    files = sorted((monthly / "sfa" / "opportunities").glob("*.csv"))
    assert len(files) == MONTHS
    checked_open = 0
    for path in files[:-1]:
        month_end = pd.Period(path.name[:7], "M").end_time.ceil("s")
        part = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("opportunity_id")
        state = history[history["at"] < month_end].groupby("opportunity_id").tail(1).set_index("opportunity_id")
        assert set(part.index) <= set(state.index), path.name
        expected = state.loc[part.index]
        for column in PATH_COLUMNS:
            assert (part[column] == expected[column]).all(), (path.name, column)
        assert ((part["is_closed"] == "true") == part["stage_name"].str.startswith("Closed")).all(), path.name
        # every opportunity with a change in the month is in its file
        month = history[history["changed_at"].str[:7].str.replace("/", "-") == path.name[:7]]
        assert set(month["opportunity_id"]) <= set(part.index), path.name
        checked_open += int((part["is_closed"] == "false").sum())
    assert checked_open > 100
    last = pd.read_csv(files[-1], dtype=str, keep_default_na=False).set_index("opportunity_id")
    final = whole["opportunities"].loc[last.index]
    pd.testing.assert_frame_equal(last, final)
