"""pipeline/analysis/forecast.py on hand-made cells: the back-off between win-rate cells and the interval's ranks,
each expected value worked out by hand from the rule docs/marts.md states."""

import math
from statistics import NormalDist

import pandas as pd
import pytest

from pipeline.analysis.forecast import NO_CATEGORY, Estimate, interval, level_totals, scores, win_rates


def cell(
    close="in", stage="Proposal", age="0-29", category="commit", week=0, deals=1, won=0, amount=100.0, won_amount=0.0
):
    return {
        "horizon": 0,
        "week_of_month": week,
        "close_position": close,
        "stage_name": stage,
        "age_bucket": age,
        "forecast_category": category,
        "open_deals": deals,
        "open_amount": amount,
        "won_deals": won,
        "won_amount": won_amount,
    }


def test_a_cell_below_min_history_backs_off_to_the_next_coarser_one():
    training = pd.DataFrame(
        [
            cell(deals=3, won=3, amount=300, won_amount=300),  # the finest cell: 3 observations, all won
            cell(category="pipeline", deals=7, won=0, amount=700),  # same stage and age, another category
            cell(stage="Qualification", deals=10, won=1, amount=1000, won_amount=50),
        ]
    )
    open_now = pd.DataFrame(
        [
            cell(),  # commit: 3 < 5 observations -> (close, stage, age): 3 of 10 won
            cell(category=NO_CATEGORY),  # no category: its finest cell is (close, stage, age) already
            cell(stage="Negotiation"),  # no such stage learnt -> (week, close): 4 of 20
            cell(close="after", stage="Negotiation"),  # nothing 'after' -> (week): 4 of 20
            cell(week=3),  # a week never seen -> the horizon: 4 of 20
        ]
    )
    rated = win_rates(level_totals(training), open_now, min_history=5)
    assert rated["p"].tolist() == pytest.approx([0.3, 0.3, 0.2, 0.2, 0.2])
    assert rated["level"].tolist() == [1, 1, 3, 4, 5]
    assert rated["observations"].tolist() == [10, 10, 20, 20, 20]
    # revenue: won amount ÷ open amount of the same cell
    assert rated["r"].tolist() == pytest.approx([0.3, 0.3, 350 / 2000, 350 / 2000, 350 / 2000])


def test_the_coarsest_cell_is_used_with_any_observation_and_none_gives_no_rate():
    training = pd.DataFrame([cell(deals=2, won=1)])
    rated = win_rates(level_totals(training), pd.DataFrame([cell(stage="Negotiation")]), min_history=5)
    assert rated["p"].tolist() == [0.5] and rated["level"].tolist() == [5]
    empty = win_rates(level_totals(training.iloc[0:0]), pd.DataFrame([cell()]), min_history=5)
    assert math.isnan(empty["p"][0])


def estimate(already=2.0, pipeline=6.0, later=2.0, variance=4.0) -> Estimate:
    return Estimate(already, pipeline, later, variance, observations=100, observed_wins=10, backed_off_share=0.0)


def test_nine_past_scores_give_a_conformal_interval_from_the_smallest_and_largest():
    # n = 9, level 0.8: ranks floor(10 * 0.1) = 1 and ceil(10 * 0.9) = 9; 8 still to come
    past = [-0.5, -0.25, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75]
    lower, upper, method = interval(estimate(), past, 0.8)
    assert method == "conformal"
    assert (lower, upper) == pytest.approx((10 - 0.5 * 8, 10 + 0.75 * 8))


def test_fewer_past_scores_fall_back_to_the_normal_approximation_never_below_what_is_won():
    z = NormalDist().inv_cdf(0.9)
    lower, upper, method = interval(estimate(), [0.1] * 8, 0.8)
    assert method == "normal"
    assert (lower, upper) == pytest.approx((10 - 2 * z, 10 + 2 * z))
    lower, _, _ = interval(estimate(already=9.0, pipeline=0.5, later=0.0, variance=25.0), [], 0.8)
    assert lower == 9.0


def test_scores_leave_out_points_that_expected_nothing_more():
    assert scores([2.0, 1.0, -3.0], [4.0, 0.0, 6.0]).tolist() == [0.5, -0.5]
