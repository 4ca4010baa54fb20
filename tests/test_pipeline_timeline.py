"""The timeline marts (time in stage, stalled deals, the pipeline waterfall) on the demo extracts, against the
pandas route of tests/pipeline_timeline.py computed from the landing files; and the waterfall's identity on every
row, in count and amount, plus its telescoping: a close month's open_end of one complete period is its open_start
of the next."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import pipeline_timeline as expected_route

COUNTS = ["open_start", "created", "pulled_in", "pushed_out", "won", "lost", "open_end"]
AMOUNTS = [
    "open_start_amount",
    "created_amount",
    "pulled_in_amount",
    "amount_increased",
    "amount_decreased",
    "pushed_out_amount",
    "won_amount",
    "lost_amount",
    "open_end_amount",
]


@pytest.fixture(scope="module", params=["demo_run", "mid_month_run"])
def route(request):
    """A materialized run (the latest as-of, and a past mid-month one where later history rows and closings do not
    count yet) with the pandas timeline of its landing files as of its as-of instant."""
    run = request.getfixturevalue(request.param)
    as_of = pd.Timestamp(run.query("select as_of from intermediate.int_as_of")["as_of"][0]).tz_convert("UTC")
    pipeline = expected_route.sales_pipeline(Path(run.settings.sales_pipeline_config))
    return run, expected_route.timeline(run.landing, as_of), pipeline


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def test_the_demo_has_stage_history_with_every_kind_of_move(demo_run):
    spells = demo_run.query("select * from marts.opportunity_stage_durations")
    assert set(spells["history_source"]) == {"opportunity_history"}
    assert spells["moved_backwards"].any() and (~spells["is_current"]).any() and spells["is_current"].any()
    rows = demo_run.query("select * from marts.pipeline_waterfall")
    for column in ["created", "pulled_in", "pushed_out", "won", "lost", "amount_increased", "amount_decreased"]:
        assert rows[column].sum() > 0, f"the demo never shows {column}"


def test_stage_spells_match_the_pandas_walk(route):
    run, line, pipeline = route
    expected = expected_route.durations(line, pipeline).sort_values(["opportunity_id", "spell_number"])
    actual = run.query("select * from marts.opportunity_stage_durations order by opportunity_id, spell_number")
    assert len(actual) == len(expected) > 100
    assert actual["opportunity_id"].tolist() == expected["opportunity_id"].tolist()
    assert actual["spell_number"].tolist() == expected["spell_number"].tolist()
    assert actual["stage_name"].tolist() == expected["stage_name"].tolist()
    assert (_utc(actual["entered_at"]) == _utc(expected["entered_at"]).to_numpy()).all()
    assert actual["exited_at"].isna().tolist() == expected["exited_at"].isna().tolist()
    assert np.allclose(actual["days_in_stage"], expected["days_in_stage"].astype(float), atol=1e-6)
    assert actual["is_current"].tolist() == expected["is_current"].tolist()
    assert actual["next_stage_name"].fillna("-").tolist() == expected["next_stage_name"].fillna("-").tolist()
    assert actual["moved_backwards"].tolist() == expected["moved_backwards"].astype(bool).tolist()
    assert actual["owner_id"].fillna("-").tolist() == expected["owner_id"].fillna("-").tolist()


def test_median_and_p90_per_stage_and_month_match_pandas_quantiles(route):
    run, line, pipeline = route
    expected = expected_route.durations_monthly(expected_route.durations(line, pipeline))
    expected["period_start"] = expected["period_start"].dt.to_timestamp()
    expected = expected.sort_values(["period_start", "stage_name"]).reset_index(drop=True)
    actual = run.query("select * from marts.stage_durations_monthly order by period_start, stage_name")
    assert pd.to_datetime(actual["period_start"]).tolist() == expected["period_start"].tolist()
    assert actual["stage_name"].tolist() == expected["stage_name"].tolist()
    assert actual["spells"].tolist() == expected["spells"].tolist()
    assert np.allclose(actual["median_days"], expected["median_days"], atol=1e-6)
    assert np.allclose(actual["p90_days"], expected["p90_days"], atol=1e-6)
    assert actual["backward_moves"].tolist() == expected["backward_moves"].astype(int).tolist()


def test_stalled_deals_match(route):
    run, line, pipeline = route
    expected = expected_route.stalled(line, pipeline).sort_index()
    actual = run.query("select * from marts.stalled_opportunities").set_index("opportunity_id").sort_index()
    assert len(expected) > 0, "the demo has stalled deals"
    assert actual.index.tolist() == expected.index.tolist()
    assert actual["stage_name"].tolist() == expected["stage_name"].tolist()
    assert np.allclose(actual["days_since_change"], expected["days_since_change"], atol=1e-6)
    assert np.allclose(actual["amount"].astype(float), expected["amount"])
    assert actual["stalled_after_days"].tolist() == expected["stalled_after_days"].tolist()


def test_the_waterfall_matches_the_pandas_route_row_by_row(route):
    run, line, pipeline = route
    expected = expected_route.waterfall(line, pipeline)
    actual = run.query("select * from marts.pipeline_waterfall")
    actual["period_start"] = pd.to_datetime(actual["period_start"])
    actual["close_month"] = pd.to_datetime(actual["close_month"]).dt.strftime("%Y-%m")
    keys = ["grain", "period_start", "close_month"]
    actual, expected = (
        actual.sort_values(keys).reset_index(drop=True),
        expected.sort_values(keys).reset_index(drop=True),
    )
    assert len(actual) == len(expected)
    assert actual[keys].astype(str).values.tolist() == expected[keys].astype(str).values.tolist()
    for column in COUNTS:
        assert actual[column].tolist() == expected[column].tolist(), column
    for column in AMOUNTS:
        assert (expected_route.rounded(actual[column]) == expected_route.rounded(expected[column])).all(), column


def test_start_plus_inflows_minus_outflows_is_the_end_on_every_row(demo_run):
    rows = demo_run.query("select * from marts.pipeline_waterfall")
    counts = rows["open_start"] + rows["created"] + rows["pulled_in"] - rows["pushed_out"] - rows["won"] - rows["lost"]
    assert (counts == rows["open_end"]).all()
    amounts = (
        rows["open_start_amount"]
        + rows["created_amount"]
        + rows["pulled_in_amount"]
        + rows["amount_increased"]
        - rows["amount_decreased"]
        - rows["pushed_out_amount"]
        - rows["won_amount"]
        - rows["lost_amount"]
    )
    assert (amounts == rows["open_end_amount"]).all(), "exact, in decimals"
    # one period's end is the next one's start, for the close months both windows hold
    for grain, periods in rows.groupby("grain"):
        ordered = sorted(periods["period_start"].unique())
        following = dict(zip(ordered, ordered[1:]))
        cells = periods.set_index(["period_start", "close_month"])
        for (start, month), row in cells.iterrows():
            later = following.get(start)
            if later is not None and (later, month) in cells.index:
                assert row["open_end"] == cells.loc[(later, month), "open_start"], (grain, start, month)
                assert row["open_end_amount"] == cells.loc[(later, month), "open_start_amount"], (grain, start, month)
