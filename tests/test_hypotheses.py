"""Hypothesis verification: verdicts on simulated samples, the false-positive rate at alpha, and a planted
effect found end to end in generated demo data while a null effect is not."""

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from demo import generator as demo
from pipeline.analysis.counts import count_entries
from pipeline.analysis.statistics import Counts, evaluate
from pipeline.config.files import ConfigError
from pipeline.config.hypotheses import Hypothesis, load_hypotheses
from tests.conftest import materialize

ALPHA, POWER = 0.05, 0.8
LIFT = Hypothesis(
    id="h",
    statement="",
    metric="opportunity_rate",
    effective_date=date(2026, 4, 1),
    expected_direction="increase",
    slice={"source": "webinar"},
)


def _draw(rng: np.random.Generator, n: int, before: float, after: float) -> Counts:
    return Counts(n_before=n, x_before=int(rng.binomial(n, before)), n_after=n, x_after=int(rng.binomial(n, after)))


def test_a_large_effect_is_supported_with_an_interval_around_it():
    counts = Counts(n_before=1000, x_before=300, n_after=1000, x_after=400)
    result = evaluate(counts, LIFT, ALPHA, POWER)
    assert result.verdict == "supported" and np.isclose(result.difference, 0.10)
    assert result.ci_low < 0.10 < result.ci_high and result.ci_low > 0
    # the same change, expected the other way, is rejected
    down = Hypothesis(**{**LIFT.__dict__, "expected_direction": "decrease"})
    assert evaluate(counts, down, ALPHA, POWER).verdict == "rejected"


def test_a_small_sample_is_inconclusive_with_the_sample_still_needed():
    result = evaluate(Counts(n_before=40, x_before=12, n_after=40, x_after=16), LIFT, ALPHA, POWER)
    assert result.verdict == "inconclusive"
    # an independent route to the needed sample: the textbook formula for two proportions (Fleiss),
    # n = (z_a sqrt(2 p q) + z_b sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2, from 30 % to 35 %
    from statistics import NormalDist

    p1, p2 = 0.30, 0.35
    pooled = (p1 + p2) / 2
    n = (
        NormalDist().inv_cdf(1 - ALPHA) * np.sqrt(2 * pooled * (1 - pooled))
        + NormalDist().inv_cdf(POWER) * np.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2
    assert abs(result.required_per_group / n - 1) < 0.02
    assert result.additional_needed == result.required_per_group - 40


def test_enough_data_and_no_change_rejects_the_hypothesis():
    result = evaluate(Counts(n_before=5000, x_before=1500, n_after=5000, x_after=1510), LIFT, ALPHA, POWER)
    assert result.verdict == "rejected" and result.required_per_group < 5000


def test_the_interval_agrees_with_the_one_sided_test():
    # one-sided at alpha = 0.05 pairs with a two-sided 90 % interval: supported here, and the interval excludes 0
    result = evaluate(Counts(n_before=400, x_before=120, n_after=400, x_after=142), LIFT, ALPHA, POWER)
    assert result.verdict == "supported" and result.p_value > 0.04 and result.ci_low > 0


def test_small_counts_use_an_exact_test():
    # 0 of 6 before, 2 of 4 after: the z-test would call it (p = 0.026); Fisher's exact test does not (p = 0.133)
    result = evaluate(Counts(n_before=6, x_before=0, n_after=4, x_after=2), LIFT, ALPHA, POWER)
    assert result.method.startswith("Fisher's exact test") and result.verdict == "inconclusive"
    assert abs(result.p_value - 2 / 15) < 1e-9  # hypergeometric: P(both advanced are in the after group)
    rng = np.random.default_rng(5)
    trials = 600
    # right after a change: a large before group, a small after group, a rare outcome
    supported = sum(
        evaluate(
            Counts(n_before=40, x_before=int(rng.binomial(40, 0.1)), n_after=5, x_after=int(rng.binomial(5, 0.1))),
            LIFT,
            ALPHA,
            POWER,
        ).verdict
        == "supported"
        for _ in range(trials)
    )
    assert supported / trials <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / trials), supported / trials


def test_a_rate_that_cannot_move_as_expected_is_inconclusive_not_an_error():
    result = evaluate(Counts(n_before=4, x_before=4, n_after=6, x_after=3), LIFT, ALPHA, POWER)
    assert result.verdict == "inconclusive" and result.required_per_group is None
    assert "cannot increase by 5%" in result.reason


def test_no_data_on_one_side_is_inconclusive():
    result = evaluate(Counts(n_before=0, x_before=0, n_after=50, x_after=20), LIFT, ALPHA, POWER)
    assert result.verdict == "inconclusive" and result.difference is None


def test_the_false_positive_rate_of_a_null_effect_is_near_alpha():
    rng = np.random.default_rng(20261128)
    trials = 600
    supported = sum(
        evaluate(_draw(rng, 300, 0.3, 0.3), LIFT, ALPHA, POWER).verdict == "supported" for _ in range(trials)
    )
    spread = 3 * np.sqrt(ALPHA * (1 - ALPHA) / trials)
    assert abs(supported / trials - ALPHA) < spread, supported / trials


def test_difference_in_differences_separates_the_change_from_a_shared_trend():
    rng = np.random.default_rng(7)
    # both groups rise by 5 points (a market trend); only the treated gets 10 more from the change
    treated, control = _draw(rng, 3000, 0.30, 0.45), _draw(rng, 3000, 0.30, 0.35)
    result = evaluate(treated, LIFT, ALPHA, POWER, comparison=control)
    expected = (treated.x_after / 3000 - treated.x_before / 3000) - (control.x_after / 3000 - control.x_before / 3000)
    assert result.verdict == "supported" and np.isclose(result.difference, expected)
    # the trend alone is not mistaken for an effect of the change
    rng = np.random.default_rng(8)
    trials = 300
    false = sum(
        evaluate(_draw(rng, 500, 0.3, 0.35), LIFT, ALPHA, POWER, comparison=_draw(rng, 500, 0.3, 0.35)).verdict
        == "supported"
        for _ in range(trials)
    )
    assert false / trials < ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / trials)


HYPOTHESES = """
alpha: 0.05
hypotheses:
  - id: planted
    statement: webinar leads convert more often from April
    metric: opportunity_rate
    slice: {source: webinar}
    effective_date: 2026-04-01
    expected_direction: increase
  - id: planted-vs-content
    metric: opportunity_rate
    slice: {source: webinar}
    comparison: {source: content_download}
    effective_date: 2026-04-01
    expected_direction: increase
  - id: too-early
    metric: opportunity_rate
    slice: {source: webinar}
    effective_date: 2026-08-01
    window_days: 3
    expected_direction: increase
  - id: overlapping-comparison
    metric: opportunity_rate
    slice: {source: webinar}
    comparison: {owner: 005IS0000000001}
    effective_date: 2026-04-01
    expected_direction: increase
  - id: win-rate
    metric: win_rate
    slice: {source: webinar}
    effective_date: 2026-04-01
    expected_direction: increase
  - id: null-effect
    metric: opportunity_rate
    slice: {source: web_form}
    effective_date: 2026-04-01
    expected_direction: increase
"""


@pytest.fixture(scope="session")
def effect_run(tmp_path_factory):
    """Demo data where webinar leads convert 25 points more often from 2026-04-01, with a hypotheses file."""
    folder = tmp_path_factory.mktemp("effect")
    demo.generate(30_000, 12, 5, folder / "landing", effect=demo.Effect("webinar", datetime(2026, 4, 1), 0.25))
    (folder / "hypotheses.yml").write_text(HYPOTHESES)
    run = materialize(folder / "landing", folder / "themodel.duckdb", hypotheses=str(folder / "hypotheses.yml"))
    assert run.result.success
    return run


def test_a_planted_effect_is_found_and_a_null_one_is_not(effect_run):
    results = effect_run.query("select * from marts.hypothesis_results").set_index("hypothesis_id")
    assert results.loc["planted", "verdict"] == "supported"
    assert results.loc["planted-vs-content", "verdict"] == "supported"
    assert results.loc["too-early", "verdict"] == "inconclusive" and results.loc["too-early", "additional_needed"] > 0
    assert results.loc["null-effect", "verdict"] != "supported"
    assert results.loc["planted", "ci_low"] > 0.1  # the planted lift is 0.25 on the conversion probability


def test_hypothesis_counts_judge_each_entry_over_a_fixed_horizon(effect_run):
    rows = effect_run.query("select entered_at, advanced_at from stages.inside_sales_entries where source = 'webinar'")
    as_of = effect_run.query("select as_of from intermediate.int_as_of")["as_of"][0]
    entered = pd.to_datetime(rows["entered_at"], utc=True)
    after = entered.dt.tz_convert("Asia/Tokyo").dt.date >= date(2026, 4, 1)
    horizon = pd.Timedelta(days=60)  # the default for opportunity_rate
    judged = entered + horizon <= pd.Timestamp(as_of)
    advanced = judged & (pd.to_datetime(rows["advanced_at"], utc=True) <= entered + horizon)
    got = effect_run.query("select * from marts.hypothesis_results where hypothesis_id = 'planted'").iloc[0]
    assert got["horizon_days"] == 60
    assert got["before_judged"] == (judged & ~after).sum() and got["before_advanced"] == (advanced & ~after).sum()
    assert got["after_judged"] == (judged & after).sum() and got["after_advanced"] == (advanced & after).sum()
    assert got["after_too_recent"] == (~judged & after).sum() > 0
    # win rate: won / (won + lost), both within the horizon (120 days by default)
    deals = effect_run.query(
        "select entered_at, advanced_at, dropped_at from stages.field_sales_entries where source = 'webinar'"
    )
    started = pd.to_datetime(deals["entered_at"], utc=True)
    long = pd.Timedelta(days=120)
    won = pd.to_datetime(deals["advanced_at"], utc=True) <= started + long
    lost = pd.to_datetime(deals["dropped_at"], utc=True) <= started + long
    before = (started.dt.tz_convert("Asia/Tokyo").dt.date < date(2026, 4, 1)) & (started + long <= pd.Timestamp(as_of))
    win = effect_run.query("select * from marts.hypothesis_results where hypothesis_id = 'win-rate'").iloc[0]
    assert win["before_judged"] == (before & (won | lost)).sum() and win["before_advanced"] == (before & won).sum()
    assert (before & ~(won | lost)).sum() > 0  # deals still open after 120 days are left out, not counted lost
    # a comparison group that overlaps the slice keeps only its entries outside the slice
    owner = effect_run.query("select entered_at, advanced_at, source, owner_id from stages.inside_sales_entries")
    entered = pd.to_datetime(owner["entered_at"], utc=True)
    control = (
        (owner["owner_id"] == "005IS0000000001")
        & (owner["source"] != "webinar")
        & (entered.dt.tz_convert("Asia/Tokyo").dt.date < date(2026, 4, 1))
        & (entered + horizon <= pd.Timestamp(as_of))
    )
    control_rate = (pd.to_datetime(owner["advanced_at"], utc=True)[control] <= entered[control] + horizon).mean()
    overlap = effect_run.query("select * from marts.hypothesis_results where hypothesis_id = 'overlapping-comparison'")
    assert np.isclose(overlap["comparison_before_rate"][0], control_rate)


def test_a_malformed_hypotheses_file_names_every_key_and_line(tmp_path):
    path = tmp_path / "hypotheses.yml"
    path.write_text(
        "alpha: 1.5\n"
        "hypotheses:\n"
        "  - id: a\n"
        "    metric: revenue\n"
        "    effective_date: '13 April'\n"
        "    expected_direction: up\n"
        "  - id: b\n"
        "    metric: win_rate\n"
        "    expected_direction: increase\n"
        "    effective_date: 2026-01-01\n"
        "    slice: {region: kanto}\n"
        "    horizon: 30\n"
    )
    with pytest.raises(ConfigError) as error:
        load_hypotheses(path)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{path}, line 1: alpha: Input should be less than 1 (got 1.5)"
    assert lines[1].startswith(f"{path}, line 4: hypotheses[0].metric: unknown metric; the metrics are mql_rate")
    assert lines[2] == f"{path}, line 5: hypotheses[0].effective_date: not a date like 2026-04-01 (got '13 April')"
    assert lines[3].startswith(f"{path}, line 6: hypotheses[0].expected_direction: Input should be 'increase' or")
    assert lines[4].startswith(f"{path}, line 11: hypotheses[1].slice.region: Input should be 'source', ")
    assert lines[5] == f"{path}, line 12: hypotheses[1].horizon: unknown key (a typo?)"
    assert len(lines) == 6


def test_a_slice_the_stage_does_not_know_at_entry_and_a_repeated_id_are_rejected(tmp_path):
    path = tmp_path / "hypotheses.yml"
    path.write_text(
        "hypotheses:\n"
        "  - {id: a, metric: win_rate, expected_direction: increase, effective_date: 2026-01-01,\n"
        "     slice: {segment: smb}}\n"
        "  - {id: a, metric: mql_rate, expected_direction: decrease, effective_date: 2026-01-01,\n"
        "     slice: {source: web}, comparison: {source: web}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_hypotheses(path)
    assert str(error.value).splitlines() == [
        f"{path}, line 3: hypotheses[0].slice: win_rate is a field_sales rate, which cannot be sliced by "
        "['segment']; use ['source', 'campaign', 'owner']",
        f"{path}, line 5: hypotheses[1].comparison: a comparison group needs a slice other than it",
    ]
    path.write_text(
        "hypotheses:\n"
        "  - {id: a, metric: win_rate, expected_direction: increase, effective_date: 2026-01-01}\n"
        "  - {id: a, metric: mql_rate, expected_direction: increase, effective_date: 2026-01-01}\n"
    )
    with pytest.raises(ConfigError, match=f"^{path}, line 3: hypotheses\\[1\\].id: used by an earlier hypothesis"):
        load_hypotheses(path)


def test_a_hypothesis_takes_its_stage_horizon_and_decided_only_from_the_registry(tmp_path):
    path = tmp_path / "hypotheses.yml"
    path.write_text(
        "hypotheses:\n"
        "  - {id: 7011, metric: win_rate, expected_direction: increase, effective_date: '2026-01-01',\n"
        "     slice: {campaign: 7011}}\n"
        "  - {id: b, metric: renewal_rate, expected_direction: increase, effective_date: 2026-01-01,\n"
        "     horizon_days: 30}\n"
    )
    config = load_hypotheses(path)
    win, renewal = config.hypotheses
    assert (config.alpha, config.power) == (0.05, 0.8)
    assert win.id == "7011" and win.slice == {"campaign": "7011"} and win.effective_date == date(2026, 1, 1)
    assert (win.stage, win.horizon_days, win.decided_only) == ("field_sales", 120, True)
    assert (renewal.stage, renewal.horizon_days, renewal.decided_only) == ("customer_success", 30, False)
    assert load_hypotheses(tmp_path / "missing.yml").hypotheses == []


def test_entries_none_of_which_could_advance_in_time_count_zero_not_null():
    """A slice whose entries all lack an advance or drop date (NULL conditions on every row) is 0 advanced
    of n judged, not NULL: DuckDB's count_if gives NULL there, which failed the run on small data."""
    con = duckdb.connect()
    con.execute("create schema stages; create schema intermediate")
    con.execute("create table intermediate.int_as_of as select timestamptz '2026-11-30 00:00:00+09' as as_of")
    con.execute(
        "create table stages.inside_sales_entries as select timestamptz '2026-01-10 10:00:00+09' + to_days(i) "
        "as entered_at, null::timestamptz as advanced_at, null::timestamptz as dropped_at, 'webinar' as source "
        "from range(60) as t(i)"
    )
    counts = count_entries(con, LIFT.model_copy(update={"decided_only": False}), "Asia/Tokyo", {"source": "webinar"})
    assert (counts.n_before, counts.x_before) == (60, 0)
    assert evaluate(counts, LIFT, ALPHA, POWER).verdict == "inconclusive"
