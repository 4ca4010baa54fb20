"""marts.forecast and marts.forecast_backtest on the demo data: against the forecast recomputed from the landing
files by the documented method (tests/independent_forecast.py), against the months' actual wins, and the backtest
done-when of #14: at least 50 weekly points and an 80 % interval covering between 65 % and 95 % of the outcomes."""

import numpy as np
import pandas as pd
import pytest

from pipeline.analysis import forecast
from pipeline.config.settings import PROJECT_ROOT
from tests import independent_forecast as independent

MEASURES = ("won_deals", "revenue")


@pytest.fixture(scope="module")
def backtest(demo_run) -> pd.DataFrame:
    return demo_run.query("select * from marts.forecast_backtest order by measure, forecast_at, horizon")


@pytest.fixture(scope="module")
def landing(demo_run) -> independent.Landing:
    as_of = pd.Timestamp(demo_run.query("select as_of from intermediate.int_as_of")["as_of"][0]).tz_convert("UTC")
    return independent.Landing(demo_run.landing, as_of)


def test_the_backtest_has_enough_points_and_its_80_percent_interval_covers_65_to_95_percent(backtest):
    for measure in MEASURES:
        points = backtest[backtest["measure"] == measure]
        assert len(points) >= 50, f"{measure}: {len(points)} weekly points"
        assert (points["interval_level"] == 0.8).all()
        coverage = points["hit"].mean()
        assert 0.65 <= coverage <= 0.95, f"{measure}: the 80 % interval covered {coverage:.0%}"
        # the per-horizon summary columns say what the points say
        for _, rows in points.groupby("horizon"):
            assert (rows["horizon_points"] == len(rows)).all()
            assert rows["horizon_coverage"].iloc[0] == pytest.approx(rows["hit"].mean())
            assert rows["horizon_mean_absolute_error"].iloc[0] == pytest.approx(rows["absolute_error"].mean())
        assert (points["hit"] == ((points["lower"] <= points["actual"]) & (points["actual"] <= points["upper"]))).all()
        assert points["error"].to_numpy() == pytest.approx((points["actual"] - points["forecast"]).to_numpy())
        assert (points["lower"] >= points["already_won"] - 1e-9).all()


def test_actuals_are_the_months_won_deals_of_the_landing_files(backtest, landing):
    actual = independent.actual_won(landing)
    for measure in MEASURES:
        points = backtest[backtest["measure"] == measure]
        months = pd.to_datetime(points["target_month"]).dt.to_period("M")
        expected = months.map(actual[measure]).fillna(0).astype(float)
        assert points["actual"].to_numpy() == pytest.approx(expected.to_numpy())


def test_forecasts_match_the_documented_method_recomputed_from_the_landing_files(demo_run, backtest, landing):
    config = independent.settings(PROJECT_ROOT / "sales_pipeline.yml")
    deals = backtest[backtest["measure"] == "won_deals"]
    # per horizon the first point (little history), the middle one and the last (most history)
    chosen = []
    for _, rows in deals.groupby("horizon"):
        chosen += [rows.iloc[0], rows.iloc[len(rows) // 2], rows.iloc[-1]]
    for row in chosen:
        t = pd.Timestamp(row["forecast_at"]).tz_convert("UTC")
        expected = independent.point(landing, config, t, int(row["horizon"]))
        assert expected["observations"] == row["win_rate_observations"]
        for measure in MEASURES:
            mart = backtest[
                (backtest["measure"] == measure)
                & (backtest["forecast_at"] == row["forecast_at"])
                & (backtest["horizon"] == row["horizon"])
            ].iloc[0]
            for column, value in expected[measure].items():
                assert mart[column] == pytest.approx(value, rel=1e-9, abs=1e-6), (t, row["horizon"], measure, column)


def test_the_forecast_takes_its_interval_from_the_backtest_errors(demo_run, backtest):
    forecast = demo_run.query("select * from marts.forecast order by measure, horizon")
    months = demo_run.query("select coverage_months from staging.stg_reference__sales_pipeline_settings")
    assert len(forecast) == 2 * months["coverage_months"][0]
    for row in forecast.itertuples():
        same = backtest[(backtest["measure"] == row.measure) & (backtest["horizon"] == row.horizon)]
        if ((same["from_pipeline"] + same["from_not_yet_created"]) > 0).sum() < 9:  # too few: every horizon's
            same = backtest[backtest["measure"] == row.measure]
        to_come = same["from_pipeline"] + same["from_not_yet_created"]
        ranked = sorted((same["error"] / to_come)[to_come > 0])  # each error per unit still expected to come
        assert row.past_errors == len(ranked)
        assert row.forecast == pytest.approx(row.already_won + row.from_pipeline + row.from_not_yet_created)
        expected = row.from_pipeline + row.from_not_yet_created
        if len(ranked) >= 9:  # 2 / (1 - 0.8) - 1: both conformal ranks exist
            low, high = (len(ranked) + 1) // 10, -(-(len(ranked) + 1) * 9 // 10)  # floor((n+1)0.1), ceil((n+1)0.9)
            assert row.interval_method == "conformal"
            assert row.lower == pytest.approx(max(row.forecast + ranked[low - 1] * expected, row.already_won))
            assert row.upper == pytest.approx(max(row.forecast + ranked[high - 1] * expected, row.lower))
        else:
            assert row.interval_method == "normal"
        # pacing only for the open month
        assert (row.horizon == 0) == (not pd.isna(row.usual_share_by_business_day))


def test_pacing_divides_the_won_so_far_by_the_usual_share_at_the_same_business_day(demo_run, landing):
    calendar = demo_run.query("select day, is_business_day from reference.business_calendar order by day")
    calendar["day"] = pd.to_datetime(calendar["day"])
    open_month = demo_run.query("select * from marts.forecast where horizon = 0").set_index("measure")
    as_of_day = pd.Timestamp(landing.as_of.tz_convert(independent.TZ).date())
    month = calendar[calendar["day"].dt.to_period("M") == as_of_day.to_period("M")]
    business_day = int(month.loc[month["day"] <= as_of_day, "is_business_day"].sum())
    assert open_month["business_day"].eq(business_day).all()
    assert open_month["business_days_in_month"].eq(int(month["is_business_day"].sum())).all()
    won = landing.won[landing.won["month"] < as_of_day.to_period("M")]
    won_day = won["closed_at"].dt.tz_convert(independent.TZ).dt.tz_localize(None).dt.normalize()
    # a won deal's business day: the business days of its month up to and including its day
    day_number = {
        row.day: number
        for _, days in calendar.groupby(calendar["day"].dt.to_period("M"))
        for row, number in zip(days.itertuples(), days["is_business_day"].cumsum(), strict=True)
    }
    reached = won_day.map(day_number) <= business_day
    for measure, values in (("won_deals", pd.Series(1.0, index=won.index)), ("revenue", won["amount"])):
        share = values[reached].sum() / values.sum()
        assert open_month.loc[measure, "usual_share_by_business_day"] == pytest.approx(share)
        assert open_month.loc[measure, "pacing_forecast"] == pytest.approx(
            open_month.loc[measure, "already_won"] / share
        )


def test_the_forecast_is_the_same_to_the_last_bit_in_whatever_order_the_engine_returns_rows(demo_run):
    # a table's rows come back in the order the engine's threads wrote them; floating-point sums depend on the order
    # of their terms, so a forecast summed in row order would differ in its last digits from one build to the next
    snapshots = demo_run.query("select * from intermediate.int_forecast_snapshots")
    targets = demo_run.query("select * from intermediate.int_forecast_targets")
    wins = demo_run.query("select advanced_at::date as won_on, 1 as deals, amount from stages.field_sales_entries")
    wins = wins.dropna(subset=["won_on"])
    calendar = demo_run.query("select day, is_business_day from reference.business_calendar")
    row = demo_run.query("select * from staging.stg_reference__sales_pipeline_settings").iloc[0]
    settings = {"level": float(row["forecast_interval"]), "min_history": int(row["forecast_min_history"])}
    as_of_day = calendar["day"].iloc[len(calendar) // 2]

    def computed(order):
        backtested = forecast.backtest(snapshots.iloc[order(snapshots)], targets.iloc[order(targets)], **settings)
        ahead = forecast.forecast(
            snapshots.iloc[order(snapshots)], targets.iloc[order(targets)], backtested, **settings
        )
        return backtested, ahead, forecast.pacing(wins.iloc[order(wins)], calendar, as_of_day)

    as_read = computed(lambda frame: np.arange(len(frame)))
    assert len(as_read[0]) >= 50 and as_read[1]["from_pipeline"].notna().any()
    for seed in (1, 2):
        shuffled = computed(lambda frame, seed=seed: np.random.default_rng(seed).permutation(len(frame)))
        for left, right in zip(as_read[:2], shuffled[:2], strict=True):
            pd.testing.assert_frame_equal(left, right, check_exact=True)
        assert as_read[2] == shuffled[2]
