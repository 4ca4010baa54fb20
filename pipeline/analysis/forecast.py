"""The forecast of won deals and revenue and its backtest, from the pipeline counted into win-rate cells.

A weekly sales meeting asks how many deals the open and the next months will bring. The answer here is what was
won already, plus each open deal weighted by how often deals like it were won in such a month, plus what deals
not created yet usually bring. "Deals like it" are win-rate cells counted in SQL (intermediate
int_forecast_snapshots: horizon, where the expected close date falls against the month, stage, age, forecast
category); a cell with fewer than `min_history` observations backs off to a coarser one (LEVELS). A rate learns
only from instants whose target month had ended before the forecast is made, so a forecast as of a past week uses
only what was known that week: the backtest replays every week start that way, and its errors at the same horizon
become the interval of later forecasts (split-conformal). Until enough errors exist the interval is a normal
approximation of the outcome's variance (Poisson-binomial for the open deals, Poisson for the deals to come).

This module only adds up the SQL's rows; tables.py wires it, for the dbt Python models analysis.forecast_backtest_rows
and analysis.forecast_rows (published as marts.forecast_backtest and marts.forecast) and for Spark's analysis step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

#: Win-rate cells, finest first. A deal's rate comes from the finest cell with at least min_history observations
#: (deal-instants of ended months); the forecast category counts only where the SFA gives one. The week of the
#: month is in every cell but the coarsest: a deal open on the 27th has days, not weeks, left to close this month.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("horizon", "week_of_month", "close_position", "stage_name", "age_bucket", "forecast_category"),
    ("horizon", "week_of_month", "close_position", "stage_name", "age_bucket"),
    ("horizon", "week_of_month", "close_position", "stage_name"),
    ("horizon", "week_of_month", "close_position"),
    ("horizon", "week_of_month"),
    ("horizon",),
)
#: measure -> (already won, won from deals not created yet, actual) columns of int_forecast_targets, and the
#: open pipeline's (size, size squared, won) columns of int_forecast_snapshots.
MEASURES = {
    "won_deals": (
        ("already_won_deals", "won_later_created_deals", "actual_won_deals"),
        ("open_deals", "open_deals", "won_deals"),
    ),
    "revenue": (
        ("already_won_amount", "won_later_created_amount", "actual_won_amount"),
        ("open_amount", "open_amount_squared", "won_amount"),
    ),
}
NO_CATEGORY = ""
#: The keys of a row of int_forecast_targets (one forecast instant and target month) and of int_forecast_snapshots.
INSTANT_KEYS = ["snapshot_kind", "snapshot_at", "horizon"]
CELL_KEYS = [*INSTANT_KEYS, *LEVELS[0][1:]]
SUMMED = ["open_deals", "open_amount", "won_deals", "won_amount"]


@dataclass(frozen=True)
class Estimate:
    """One measure's forecast for one instant and target month, before its interval."""

    already_won: float
    from_pipeline: float
    from_not_yet_created: float
    variance: float
    observations: int
    observed_wins: int
    backed_off_share: float

    @property
    def forecast(self) -> float:
        return self.already_won + self.from_pipeline + self.from_not_yet_created


def prepare(snapshots: pd.DataFrame, targets: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two intermediate tables as this module reads them: a missing forecast category as NO_CATEGORY (pandas
    joins NaN keys to each other), each cell row with its target month's end, and both in the order of their keys.
    A table's rows come back in whatever order the engine's threads wrote them, and floating-point sums depend on
    the order of their terms: sorted, the same rows give the same forecast to the last bit."""
    snapshots = snapshots.assign(forecast_category=snapshots["forecast_category"].fillna(NO_CATEGORY))
    snapshots = snapshots.sort_values(CELL_KEYS, ignore_index=True)
    targets = targets.sort_values(INSTANT_KEYS, ignore_index=True)
    ends = targets[[*INSTANT_KEYS, "target_month_end"]]
    return snapshots.merge(ends, on=INSTANT_KEYS, how="left"), targets


def level_totals(training: pd.DataFrame) -> list[pd.DataFrame]:
    """The training observations summed per cell of each level of LEVELS."""
    return [training.groupby(list(keys), sort=False)[SUMMED].sum().reset_index() for keys in LEVELS]


def win_rates(totals: list[pd.DataFrame], open_cells: pd.DataFrame, min_history: int) -> pd.DataFrame:
    """Per open cell: the count win rate `p`, the amount-weighted rate `r` (won amount ÷ open amount), the level
    used (0 = finest) and its observations. Coarse levels first, each finer one replacing it where it has at
    least min_history observations; the coarsest is used with any observation at all."""
    out = open_cells.reset_index(drop=True)
    p = np.full(len(out), np.nan)
    r = np.full(len(out), np.nan)
    level = np.full(len(out), np.nan)
    observations = np.zeros(len(out))
    for depth in reversed(range(len(LEVELS))):
        keys = list(LEVELS[depth])
        matched = out[keys].merge(totals[depth], on=keys, how="left")
        n = matched["open_deals"].fillna(0).to_numpy()
        usable = n > 0 if depth == len(LEVELS) - 1 else n >= min_history
        if depth == 0:
            usable &= (out["forecast_category"] != NO_CATEGORY).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            cell_p = matched["won_deals"].to_numpy() / n
            amount = matched["open_amount"].to_numpy(dtype=float)
            cell_r = np.where(amount > 0, matched["won_amount"].to_numpy(dtype=float) / amount, cell_p)
        p = np.where(usable, cell_p, p)
        r = np.where(usable, np.clip(cell_r, 0, 1), r)
        level = np.where(usable, depth, level)
        observations = np.where(usable, n, observations)
    return out.assign(p=p, r=r, level=level, observations=observations)


def pipeline_estimates(
    totals: list[pd.DataFrame], open_cells: pd.DataFrame, min_history: int
) -> dict[tuple, dict[str, tuple[float, float, float]]]:
    """Per (snapshot_kind, snapshot_at, horizon) of `open_cells`, measure -> (expected, variance, share of open
    deals whose rate backed off from their finest cell) of its open deals: Σ size × rate and, as independent
    Bernoulli outcomes, Σ size² × rate × (1 − rate). NaN expected when no rate has any observation."""
    if open_cells.empty:
        return {}
    rated = win_rates(totals, open_cells, min_history)
    finest = np.where(rated["forecast_category"] == NO_CATEGORY, 1, 0)
    deals = rated["open_deals"].to_numpy(dtype=float)
    parts = {
        "deals": deals,
        "backed_off": deals * (rated["level"].to_numpy() > finest),
        "unrated": np.isnan(rated["level"].to_numpy()),
    }
    for measure, (_, (size, squared, _won)) in MEASURES.items():
        rate = rated["p" if measure == "won_deals" else "r"].to_numpy()
        parts[f"{measure}_mean"] = rated[size].to_numpy(dtype=float) * rate
        parts[f"{measure}_variance"] = rated[squared].to_numpy(dtype=float) * rate * (1 - rate)
    keys = INSTANT_KEYS
    sums = pd.DataFrame(parts).assign(**{key: rated[key] for key in keys}).groupby(keys).sum()
    return {
        key: {
            measure: (
                math.nan if row["unrated"] else row[f"{measure}_mean"],
                row[f"{measure}_variance"],
                row["backed_off"] / row["deals"],
            )
            for measure in MEASURES
        }
        for key, row in sums.iterrows()
    }


def not_yet_created(training_targets: pd.DataFrame) -> pd.DataFrame:
    """Per horizon and week of the month (week_of_month NaN: the whole horizon) the expected wins of a target month
    from deals created after the instant: the mean over past instants of ended months. Their variance: the larger
    of the variance between those instants and that of a Poisson count (a compound Poisson sum for revenue: the
    mean of Σ amount²). A forecast uses its own week of the month, else its horizon, else nothing."""
    columns = ["won_later_created_deals", "won_later_created_amount", "won_later_created_amount_squared"]
    frames = []
    for keys in (["horizon", "week_of_month"], ["horizon"]):
        groups = training_targets.groupby(keys)[columns]
        means, spread = groups.mean(), groups.var(ddof=1).fillna(0.0)
        frames.append(
            pd.DataFrame(
                {
                    "won_deals": means["won_later_created_deals"],
                    "won_deals_variance": np.maximum(
                        means["won_later_created_deals"], spread["won_later_created_deals"]
                    ),
                    "revenue": means["won_later_created_amount"],
                    "revenue_variance": np.maximum(
                        means["won_later_created_amount_squared"], spread["won_later_created_amount"]
                    ),
                }
            ).reset_index()
        )
    return pd.concat([frames[0], frames[1].assign(week_of_month=np.nan)], ignore_index=True)


def later_wins(table: pd.DataFrame) -> dict[tuple[int, int | None], dict[str, tuple[float, float]]]:
    """not_yet_created's table as a lookup: (horizon, week_of_month or None for the whole horizon) -> measure ->
    (expected, variance). A forecast uses its own week of the month, else its horizon, else nothing (zeros)."""
    return {
        (int(row["horizon"]), None if math.isnan(row["week_of_month"]) else int(row["week_of_month"])): {
            measure: (float(row[measure]), float(row[f"{measure}_variance"])) for measure in MEASURES
        }
        for row in table.to_dict("records")
    }


NO_LATER_WINS = {measure: (0.0, 0.0) for measure in MEASURES}
NO_PIPELINE = {measure: (0.0, 0.0, 0.0) for measure in MEASURES}


def scores(errors: pd.Series | np.ndarray, to_come: pd.Series | np.ndarray) -> np.ndarray:
    """Conformal scores of past points: each error (actual − forecast) ÷ what its forecast still expected to come
    (from_pipeline + from_not_yet_created); points that expected nothing more are left out. Scaled so that one
    interval fits the first and the last week of a month, and a business that grows."""
    errors, to_come = np.asarray(errors, dtype=float), np.asarray(to_come, dtype=float)
    return errors[to_come > 0] / to_come[to_come > 0]


def calibration(
    horizons: np.ndarray, errors: np.ndarray, to_come: np.ndarray, horizon: int, level: float
) -> np.ndarray:
    """The scores an interval at `horizon` is calibrated on, from past backtest points of one measure (their
    horizons, errors and what each still expected to come): those of the same horizon once there are enough for
    both conformal ranks (2/α − 1), else those of every horizon (the open month's points accumulate fastest), like
    a win rate backing off to a coarser cell."""
    needed = math.ceil(round(2 / (1 - level) - 1, 9))
    same = np.asarray(horizons) == horizon
    own = scores(np.asarray(errors)[same], np.asarray(to_come)[same])
    if len(own) >= needed:
        return own
    return scores(errors, to_come)


def interval(estimate: Estimate, past_scores: Iterable[float], level: float) -> tuple[float, float, str]:
    """(lower, upper, method) at `level`. Split-conformal once both ranks ⌊(n+1)α/2⌋ and ⌈(n+1)(1−α/2)⌉ of the n
    past scores at the same measure and horizon exist (n ≥ 2/α − 1): the forecast plus those scores times what it
    still expects to come. Before that a normal approximation with the outcome's variance. Never below what is
    won already."""
    ranked = np.sort(np.fromiter(past_scores, dtype=float))
    alpha = 1 - level
    n = len(ranked)
    # rounded first: (9 + 1) × (1 − 0.2 / 2) is 9.000000000000002 in floating point
    low_rank = math.floor(round((n + 1) * alpha / 2, 9))
    high_rank = math.ceil(round((n + 1) * (1 - alpha / 2), 9))
    forecast, to_come = estimate.forecast, estimate.from_pipeline + estimate.from_not_yet_created
    if low_rank >= 1 and high_rank <= n:
        lower, upper = forecast + ranked[low_rank - 1] * to_come, forecast + ranked[high_rank - 1] * to_come
        method = "conformal"
    else:
        spread = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(max(estimate.variance, 0.0))
        lower, upper, method = forecast - spread, forecast + spread, "normal"
    lower = max(lower, estimate.already_won)
    return lower, max(upper, lower), method


class Forecaster:
    """Forecasts at instants of the two intermediate tables, each from what was known then."""

    def __init__(self, snapshots: pd.DataFrame, targets: pd.DataFrame, min_history: int):
        self.cells, self.targets = prepare(snapshots, targets)
        self.min_history = min_history
        self.weekly_cells = self.cells[self.cells["snapshot_kind"] == "week"]
        self.weekly_targets = self.targets[self.targets["snapshot_kind"] == "week"]
        self.month_ends = np.sort(self.weekly_targets["target_month_end"].unique())
        self._training: dict[object, tuple[list[pd.DataFrame], pd.DataFrame, dict]] = {}

    def cutoff(self, at):
        """The end of the last target month that had ended by `at` (None before the first)."""
        position = np.searchsorted(self.month_ends, at, side="right")
        return self.month_ends[position - 1] if position else None

    def training(self, cutoff) -> tuple[list[pd.DataFrame], pd.DataFrame, dict]:
        """From the weekly instants whose target month had ended by `cutoff`: the cells' totals per level, the
        observations and their wins per horizon, and the deals-to-come lookup (computed once per cutoff)."""
        if cutoff not in self._training:
            if cutoff is None:
                cells, targets = self.weekly_cells.iloc[0:0], self.weekly_targets.iloc[0:0]
            else:
                cells = self.weekly_cells[self.weekly_cells["target_month_end"] <= cutoff]
                targets = self.weekly_targets[self.weekly_targets["target_month_end"] <= cutoff]
            self._training[cutoff] = (
                level_totals(cells),
                cells.groupby("horizon")[["open_deals", "won_deals"]].sum(),
                later_wins(not_yet_created(targets)),
            )
        return self._training[cutoff]

    def estimates(self, rows: pd.DataFrame) -> list[dict[str, Estimate]]:
        """Both measures for each row of int_forecast_targets, in order: the open deals of all rows sharing
        what was known (the same last ended month) rated in one pass."""
        keys = INSTANT_KEYS
        cutoffs = [self.cutoff(at) for at in rows["snapshot_at"]]
        pipelines: dict[tuple, dict[str, tuple[float, float, float]]] = {}
        for cutoff in dict.fromkeys(cutoffs):
            group = rows[[c == cutoff for c in cutoffs]]
            open_cells = self.cells.merge(group[keys].drop_duplicates(), on=keys)
            pipelines |= pipeline_estimates(self.training(cutoff)[0], open_cells, self.min_history)
        result = []
        for cutoff, target in zip(cutoffs, rows.to_dict("records"), strict=True):
            _, per_horizon, later_by_week = self.training(cutoff)
            horizon = int(target["horizon"])
            pipeline = pipelines.get(tuple(target[key] for key in keys), NO_PIPELINE)
            later = later_by_week.get((horizon, int(target["week_of_month"])), later_by_week.get((horizon, None)))
            later = later or NO_LATER_WINS
            result.append(
                {
                    measure: Estimate(
                        already_won=float(target[already]),
                        from_pipeline=pipeline[measure][0],
                        from_not_yet_created=later[measure][0],
                        variance=pipeline[measure][1] + later[measure][1],
                        observations=int(per_horizon["open_deals"].get(horizon, 0)),
                        observed_wins=int(per_horizon["won_deals"].get(horizon, 0)),
                        backed_off_share=pipeline[measure][2],
                    )
                    for measure, ((already, _, _), _) in MEASURES.items()
                }
            )
        return result


def backtest(snapshots: pd.DataFrame, targets: pd.DataFrame, level: float, min_history: int) -> pd.DataFrame:
    """A forecast at every week start whose target month has ended, from what was known that week, against what
    then happened; points whose horizon has fewer than min_history observations, or none won, are left out (their
    rates would say nothing yet of how deals close). The interval uses
    the errors of the earlier points at the same horizon whose month had ended by then."""
    forecaster = Forecaster(snapshots, targets, min_history)
    points = forecaster.weekly_targets[forecaster.weekly_targets["month_ended"]].sort_values(["snapshot_at", "horizon"])
    rows: list[dict] = []
    # per measure, the earlier points' (target month end, horizon, error, what was still to come), in columns
    past_points: dict[str, tuple[list, list, list, list]] = {measure: ([], [], [], []) for measure in MEASURES}
    for target, estimates in zip(points.to_dict("records"), forecaster.estimates(points), strict=True):
        known = estimates["won_deals"]
        if known.observations < min_history or known.observed_wins == 0:
            continue
        for measure, estimate in estimates.items():
            if math.isnan(estimate.from_pipeline):
                continue
            actual = float(target[MEASURES[measure][0][2]])
            month_ends, horizons, errors, to_come = past_points[measure]
            ended = np.asarray(month_ends) <= target["snapshot_at"] if month_ends else np.zeros(0, dtype=bool)
            past = calibration(
                np.asarray(horizons)[ended],
                np.asarray(errors)[ended],
                np.asarray(to_come)[ended],
                int(target["horizon"]),
                level,
            )
            lower, upper, method = interval(estimate, past, level)
            row = point_row(target, measure, estimate, level, (lower, upper, method), len(past)) | {
                "actual": actual,
                "error": actual - estimate.forecast,
                "absolute_error": abs(actual - estimate.forecast),
                "hit": lower <= actual <= upper,
            }
            rows.append(row)
            month_ends.append(row["target_month_end"])
            horizons.append(row["horizon"])
            errors.append(row["error"])
            to_come.append(row["from_pipeline"] + row["from_not_yet_created"])
    frame = pd.DataFrame(rows, columns=[*POINT_COLUMNS, "actual", "error", "absolute_error", "hit"])
    by_horizon = frame.groupby(["measure", "horizon"])
    return frame.assign(
        horizon_points=by_horizon["hit"].transform("size"),
        horizon_coverage=by_horizon["hit"].transform("mean"),
        horizon_mean_absolute_error=by_horizon["absolute_error"].transform("mean"),
        horizon_mean_error=by_horizon["error"].transform("mean"),
    ).drop(columns="target_month_end")


POINT_COLUMNS = [
    "forecast_at",
    "forecast_date",
    "horizon",
    "target_month",
    "target_month_end",
    "measure",
    "already_won",
    "from_pipeline",
    "from_not_yet_created",
    "forecast",
    "interval_level",
    "lower",
    "upper",
    "interval_method",
    "past_errors",
    "win_rate_observations",
    "backed_off_share",
]


def point_row(
    target: dict, measure: str, estimate: Estimate, level: float, bounds: tuple[float, float, str], errors: int
) -> dict:
    """One row of the backtest or the forecast, without the outcome."""
    lower, upper, method = bounds
    return {
        "forecast_at": target["snapshot_at"],
        "forecast_date": target["snapshot_date"],
        "horizon": int(target["horizon"]),
        "target_month": target["target_month"],
        "target_month_end": target["target_month_end"],
        "measure": measure,
        "already_won": estimate.already_won,
        "from_pipeline": estimate.from_pipeline,
        "from_not_yet_created": estimate.from_not_yet_created,
        "forecast": estimate.forecast,
        "interval_level": level,
        "lower": lower,
        "upper": upper,
        "interval_method": method,
        "past_errors": errors,
        "win_rate_observations": estimate.observations,
        "backed_off_share": estimate.backed_off_share,
    }


def forecast(
    snapshots: pd.DataFrame, targets: pd.DataFrame, backtested: pd.DataFrame, level: float, min_history: int
) -> pd.DataFrame:
    """The forecast at the as-of instant for each target month; the interval from every backtest error at the
    same horizon (all their months have ended). NULL forecast and interval when no rate has any observation."""
    forecaster = Forecaster(snapshots, targets, min_history)
    rows = []
    now = forecaster.targets[forecaster.targets["snapshot_kind"] == "as_of"].sort_values("horizon")
    for target, estimates in zip(now.to_dict("records"), forecaster.estimates(now), strict=True):
        open_cells = forecaster.cells[
            (forecaster.cells["snapshot_kind"] == "as_of") & (forecaster.cells["horizon"] == target["horizon"])
        ]
        in_month = open_cells[open_cells["close_position"] == "in"]
        for measure, estimate in estimates.items():
            size = MEASURES[measure][1][0]
            same = backtested[backtested["measure"] == measure]
            to_come = (same["from_pipeline"] + same["from_not_yet_created"]).to_numpy()
            past = calibration(
                same["horizon"].to_numpy(), same["error"].to_numpy(), to_come, int(target["horizon"]), level
            )
            unknown = math.isnan(estimate.from_pipeline)
            bounds = (math.nan, math.nan, None) if unknown else interval(estimate, past, level)
            rows.append(
                point_row(target, measure, estimate, level, bounds, len(past))
                | {
                    "open_pipeline": float(open_cells[size].sum()),
                    "open_pipeline_in_month": float(in_month[size].sum()),
                }
            )
    return pd.DataFrame(rows, columns=[*POINT_COLUMNS, "open_pipeline", "open_pipeline_in_month"]).drop(
        columns="target_month_end"
    )


def pacing(wins: pd.DataFrame, calendar: pd.DataFrame, as_of_date) -> dict[str, float]:
    """The open month's pace: the as-of day's business day of its month (business days up to and including it),
    the month's business days, and per measure the share of a month's wins usually reached by that business day:
    the wins of every earlier month (`wins`: won_on, deals, amount, one row per won deal or day) by their same
    business day ÷ all their wins, pooled over those months."""
    days = calendar.assign(day=pd.to_datetime(calendar["day"]))
    days = days.assign(month=days["day"].dt.to_period("M"))
    days = days.assign(business_day=days.groupby("month")["is_business_day"].cumsum())
    as_of_day = pd.Timestamp(as_of_date)
    month = as_of_day.to_period("M")
    this_month = days[days["month"] == month]
    business_day = int(this_month.loc[this_month["day"] == as_of_day, "business_day"].iloc[0])
    wins = wins.sort_values("won_on", ignore_index=True)  # a fixed order of terms: the same sums to the last bit
    won = wins.assign(day=pd.to_datetime(wins["won_on"])).merge(days[["day", "month", "business_day"]], on="day")
    earlier = won[won["month"] < month]
    result = {
        "business_day": float(business_day),
        "business_days_in_month": float(this_month["is_business_day"].sum()),
    }
    for measure, column in (("won_deals", "deals"), ("revenue", "amount")):
        total = float(earlier[column].sum())
        reached = float(earlier.loc[earlier["business_day"] <= business_day, column].sum())
        result[measure] = reached / total if total > 0 else math.nan
    return result


#: The marts' columns and their SQL types (an empty backtest keeps them).
BACKTEST_COLUMNS = {
    "forecast_at": "timestamptz",
    "forecast_date": "date",
    "horizon": "integer",
    "target_month": "date",
    "measure": "varchar",
    "already_won": "double",
    "from_pipeline": "double",
    "from_not_yet_created": "double",
    "forecast": "double",
    "interval_level": "double",
    "lower": "double",
    "upper": "double",
    "interval_method": "varchar",
    "past_errors": "integer",
    "win_rate_observations": "bigint",
    "backed_off_share": "double",
    "actual": "double",
    "error": "double",
    "absolute_error": "double",
    "hit": "boolean",
    "horizon_points": "integer",
    "horizon_coverage": "double",
    "horizon_mean_absolute_error": "double",
    "horizon_mean_error": "double",
}
FORECAST_COLUMNS = {
    **{name: kind for name, kind in BACKTEST_COLUMNS.items() if name in POINT_COLUMNS},
    "open_pipeline": "double",
    "open_pipeline_in_month": "double",
    "business_day": "integer",
    "business_days_in_month": "integer",
    "usual_share_by_business_day": "double",
    "pacing_forecast": "double",
}
