"""Hypothesis verification (仮説検証): did a change move a stage's conversion, or is it too early to tell?

A team records each hypothesis in hypotheses.yml: the metric (a stage conversion), the slice it was
tried on, the day the change took effect, the direction expected and, optionally, a comparison group
that did not get the change. Here the entries before and after that day are counted from the stage
tables, each judged by whether it advanced within a fixed horizon (so young entries, which have had
less time, do not bias the later period), and tested with statsmodels: a one-sided z-test of two
proportions (Fisher's exact test when counts are small) with a Newcomb interval for the difference, or,
with a comparison group, a difference-in-differences from a binomial GLM. The verdicts land in
analysis.hypothesis_tests, which the dbt mart marts.hypothesis_results publishes.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import fisher_exact
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

from pipeline.config.hypotheses import HypothesesFile, Hypothesis, load_hypotheses
from pipeline.config.registry import funnel
from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.warehouse.layers import ANALYSIS
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.tables import replace_table

#: slice key in hypotheses.yml -> column of the stage tables (as in marts.funnel_kpi_by_slice)
SLICE_COLUMNS = {
    "source": "source",
    "campaign": "campaign_id",
    "owner": "owner_id",
    "segment": "segment",
    "industry": "industry",
}
VERDICTS = ("supported", "rejected", "inconclusive")


@dataclass(frozen=True)
class Counts:
    """Judged entries (n) and those that advanced within the horizon (x), before and after the change."""

    n_before: int
    x_before: int
    n_after: int
    x_after: int
    recent_after: int = 0  # entries after the change too recent to judge yet


@dataclass(frozen=True)
class Verdict:
    difference: float | None  # after - before (or the difference-in-differences), as a rate
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided, in the expected direction
    required_per_group: int | None  # judged entries per group to detect minimum_effect
    additional_needed: int | None  # still missing in the smaller group, when inconclusive
    verdict: str
    reason: str
    method: str


def _required_per_group(
    baseline: float, minimum_effect: float, direction: str, alpha: float, power: float
) -> int | None:
    """Judged entries per group for a one-sided test to detect `minimum_effect` with `power`; None when the
    rate cannot move that far from `baseline` (e.g. an increase from 100 %)."""
    target = baseline + (minimum_effect if direction == "increase" else -minimum_effect)
    if not 0 < target < 1:
        return None
    effect = abs(proportion_effectsize(target, float(np.clip(baseline, 0.001, 0.999))))
    n = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=1.0, alternative="larger")
    return int(np.ceil(n))


def _smallest_expected_cell(groups: list[Counts]) -> float:
    """The smallest expected count of advanced or not-advanced entries under one pooled rate."""
    n = sum(c.n_before + c.n_after for c in groups)
    pooled = sum(c.x_before + c.x_after for c in groups) / n
    sizes = [size for c in groups for size in (c.n_before, c.n_after)]
    return min(size * min(pooled, 1 - pooled) for size in sizes)


def _did(treated: Counts, control: Counts, alpha: float) -> tuple[float, float, float, float]:
    """Difference-in-differences of the rates with its two-sided (1 - 2 alpha) interval and two-sided p-value,
    from a saturated binomial GLM (identity link) on the four groups."""
    n = np.array([treated.n_before, treated.n_after, control.n_before, control.n_after], dtype=float)
    x = np.array([treated.x_before, treated.x_after, control.x_before, control.x_after], dtype=float)
    # columns: constant, after, treated, after x treated (the difference-in-differences)
    design = np.array([[1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identity link outside the canonical domain; saturated fit
        fit = sm.GLM(x / n, design, family=sm.families.Binomial(link=sm.families.links.Identity()), var_weights=n).fit()
    low, high = fit.conf_int(alpha=2 * alpha)[3]
    return float(fit.params[3]), float(low), float(high), float(fit.pvalues[3])


def _one_sided(difference: float, two_sided_p: float, sign: float) -> tuple[float, float]:
    """(p in the expected direction, p in the opposite one) from a two-sided p-value."""
    if np.isnan(two_sided_p):
        return 1.0, 1.0
    half = two_sided_p / 2
    return (half, 1 - half) if sign * difference > 0 else (1 - half, half)


#: below this expected count in any cell, the normal approximation overstates significance
MIN_EXPECTED_CELL = 10


def evaluate(
    counts: Counts, hypothesis: Hypothesis, alpha: float, power: float, comparison: Counts | None = None
) -> Verdict:
    """Test the change in the rate (after vs before) in the expected direction and give the verdict.

    supported: significant at `alpha` in the expected direction. rejected: significant the other way,
    or every group has the sample needed to detect `minimum_effect` and none was found. Otherwise
    inconclusive, with the judged entries still needed per group. Intervals are two-sided at 1 - 2 alpha,
    so an interval that excludes 0 agrees with a one-sided test at alpha.
    """
    groups = [counts] + ([comparison] if comparison is not None else [])
    smallest = min(min(c.n_before, c.n_after) for c in groups)
    method = "difference-in-differences, binomial GLM" if comparison else "two-proportion z-test, Newcomb interval"
    if smallest == 0:
        return Verdict(
            None,
            None,
            None,
            None,
            None,
            None,
            "inconclusive",
            "no entries old enough to judge before or after the effective date",
            method,
        )
    baseline = counts.x_before / counts.n_before
    required = _required_per_group(baseline, hypothesis.minimum_effect, hypothesis.expected_direction, alpha, power)
    if comparison is not None and required is not None:
        required *= 2  # the difference of two differences has about twice the variance of one
    sign = 1.0 if hypothesis.expected_direction == "increase" else -1.0
    small = _smallest_expected_cell(groups) < MIN_EXPECTED_CELL
    if comparison is not None:
        difference, low, high, two_sided = _did(counts, comparison, alpha)
        p_expected, p_opposite = _one_sided(difference, two_sided, sign)
        if small:  # no exact test for a difference-in-differences: do not trust the approximation
            p_expected = p_opposite = 1.0
            method += f"; too few entries to test (an expected count under {MIN_EXPECTED_CELL})"
    else:
        difference = counts.x_after / counts.n_after - baseline
        low, high = confint_proportions_2indep(
            counts.x_after,
            counts.n_after,
            counts.x_before,
            counts.n_before,
            method="newcomb",
            compare="diff",
            alpha=2 * alpha,
        )
        table = [
            [counts.x_after, counts.n_after - counts.x_after],
            [counts.x_before, counts.n_before - counts.x_before],
        ]
        if counts.x_after + counts.x_before in (0, counts.n_after + counts.n_before):
            p_expected = p_opposite = 1.0  # every entry had the same outcome: no evidence of a change
        elif small:
            method = "Fisher's exact test (small counts), Newcomb interval"
            greater, less = (
                fisher_exact(table, alternative="greater").pvalue,
                fisher_exact(table, alternative="less").pvalue,
            )
            p_expected, p_opposite = (greater, less) if sign > 0 else (less, greater)
        else:
            x, n = [counts.x_after, counts.x_before], [counts.n_after, counts.n_before]
            expected, opposite = ("larger", "smaller") if sign > 0 else ("smaller", "larger")
            p_expected = float(proportions_ztest(x, n, alternative=expected)[1])
            p_opposite = float(proportions_ztest(x, n, alternative=opposite)[1])
    p_expected, p_opposite = float(p_expected), float(p_opposite)
    additional = None
    if p_expected < alpha:
        verdict, reason = "supported", f"the rate moved as expected (one-sided p = {p_expected:.3g} < {alpha})"
    elif p_opposite < alpha:
        verdict, reason = "rejected", f"the rate moved the other way (one-sided p = {p_opposite:.3g} < {alpha})"
    elif required is None:
        verdict = "inconclusive"
        reason = (
            f"not significant (p = {p_expected:.3g}); from a rate of {baseline:.0%} the rate cannot "
            f"{hypothesis.expected_direction} by {hypothesis.minimum_effect:.0%}"
        )
    elif smallest >= required:
        verdict = "rejected"
        reason = (
            f"no change of {hypothesis.minimum_effect:.0%} or more: {smallest} judged entries per group "
            f"had {power:.0%} power to detect it (p = {p_expected:.3g})"
        )
    else:
        verdict = "inconclusive"
        additional = required - smallest
        reason = f"not significant yet (p = {p_expected:.3g}); about {additional} more judged entries per group needed"
    return Verdict(
        float(difference), float(low), float(high), p_expected, required, additional, verdict, reason, method
    )


def count_entries(
    con: duckdb.DuckDBPyConnection,
    hypothesis: Hypothesis,
    reporting_tz: str,
    group: dict[str, str],
    exclude: dict[str, str] | None = None,
) -> Counts:
    """Entries of the slice `group` (less those also in `exclude`) old enough to be judged (entered at
    least horizon_days before the as-of instant) and those that advanced within horizon_days, by local
    entry date before / after the change; and the entries after it still too recent."""
    params: dict[str, object] = {
        "tz": reporting_tz,
        "effective": hypothesis.effective_date,
        "horizon": hypothesis.horizon_days,
        "window": hypothesis.window_days or 0,
        "decided_only": hypothesis.decided_only,
    }
    condition = ["true"]
    for index, (key, value) in enumerate(group.items()):
        condition.append(f"{SLICE_COLUMNS[key]} = $v{index}")
        params[f"v{index}"] = value
    if exclude:
        excluded = []
        for index, (key, value) in enumerate(exclude.items()):
            excluded.append(f"coalesce({SLICE_COLUMNS[key]} = $x{index}, false)")
            params[f"x{index}"] = value
        condition.append(f"not ({' and '.join(excluded)})")
    rows = con.execute(
        f"""
        with as_of as (
            select as_of from intermediate.int_as_of
        ),

        entries as (
            select
                cast(timezone($tz, stage_rows.entered_at) as date) >= $effective as after,
                stage_rows.entered_at + to_days($horizon) <= as_of.as_of as mature,
                stage_rows.advanced_at <= stage_rows.entered_at + to_days($horizon) as advanced_in_time,
                stage_rows.dropped_at <= stage_rows.entered_at + to_days($horizon) as dropped_in_time,
                cast(timezone($tz, stage_rows.entered_at) as date) as entered_on
            from stages.{hypothesis.stage}_entries as stage_rows
            cross join as_of
            where {" and ".join(condition)}
        )

        select
            after,
            count_if(mature and ($decided_only = false or advanced_in_time or dropped_in_time)) as judged,
            count_if(mature and advanced_in_time) as advanced,
            count_if(not mature) as too_recent
        from entries
        where $window = 0
            or (entered_on >= $effective - to_days($window) and entered_on < $effective + to_days($window))
        group by all""",
        params,
    ).fetchall()
    by_side = {after: (judged, advanced, recent) for after, judged, advanced, recent in rows}
    before, after = by_side.get(False, (0, 0, 0)), by_side.get(True, (0, 0, 0))
    return Counts(n_before=before[0], x_before=before[1], n_after=after[0], x_after=after[1], recent_after=after[2])


def rate(advanced: int, judged: int) -> float | None:
    return advanced / judged if judged else None


def _describe(group: dict[str, str] | None) -> str | None:
    if group is None:
        return None
    return ", ".join(f"{k}={v}" for k, v in group.items()) or "all"


def hypothesis_rows(con: duckdb.DuckDBPyConnection, config: HypothesesFile, reporting_tz: str) -> pd.DataFrame:
    rows = []
    for h in config.hypotheses:
        counts = count_entries(con, h, reporting_tz, h.slice)
        # an entry in both groups got the change: it belongs to the slice only
        control = count_entries(con, h, reporting_tz, h.comparison, exclude=h.slice) if h.comparison else None
        result = evaluate(counts, h, config.alpha, config.power, control)
        rows.append(
            {
                "hypothesis_id": h.id,
                "statement": h.statement,
                "metric": h.metric,
                "stage": h.stage,
                "slice": _describe(h.slice),
                "comparison": _describe(h.comparison),
                "effective_date": h.effective_date,
                "expected_direction": h.expected_direction,
                "window_days": h.window_days,
                "horizon_days": h.horizon_days,
                "before_judged": counts.n_before,
                "before_advanced": counts.x_before,
                "before_rate": rate(counts.x_before, counts.n_before),
                "after_judged": counts.n_after,
                "after_advanced": counts.x_after,
                "after_rate": rate(counts.x_after, counts.n_after),
                "after_too_recent": counts.recent_after,
                "comparison_before_rate": rate(control.x_before, control.n_before) if control else None,
                "comparison_after_rate": rate(control.x_after, control.n_after) if control else None,
                "difference": result.difference,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "p_value": result.p_value,
                "alpha": config.alpha,
                "power": config.power,
                "minimum_effect": h.minimum_effect,
                "required_per_group": result.required_per_group,
                "additional_needed": result.additional_needed,
                "verdict": result.verdict,
                "reason": result.reason,
                "method": result.method,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


COLUMNS = {
    "hypothesis_id": "VARCHAR",
    "statement": "VARCHAR",
    "metric": "VARCHAR",
    "stage": "VARCHAR",
    "slice": "VARCHAR",
    "comparison": "VARCHAR",
    "effective_date": "DATE",
    "expected_direction": "VARCHAR",
    "window_days": "INTEGER",
    "horizon_days": "INTEGER",
    "before_judged": "BIGINT",
    "before_advanced": "BIGINT",
    "before_rate": "DOUBLE",
    "after_judged": "BIGINT",
    "after_advanced": "BIGINT",
    "after_rate": "DOUBLE",
    "after_too_recent": "BIGINT",
    "comparison_before_rate": "DOUBLE",
    "comparison_after_rate": "DOUBLE",
    "difference": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "p_value": "DOUBLE",
    "alpha": "DOUBLE",
    "power": "DOUBLE",
    "minimum_effect": "DOUBLE",
    "required_per_group": "BIGINT",
    "additional_needed": "BIGINT",
    "verdict": "VARCHAR",
    "reason": "VARCHAR",
    "method": "VARCHAR",
}


@dg.asset(
    key=[ANALYSIS, "hypothesis_tests"],
    group_name="analysis",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "yaml"},
    deps=[dg.AssetKey(["stages", stage.table]) for stage in funnel().stages],
)
def hypothesis_tests(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings
) -> dg.MaterializeResult:
    """The hypotheses of hypotheses.yml tested against the stage tables (published as marts.hypothesis_results)."""
    path = Path(settings.hypotheses)
    config = load_hypotheses(path)
    with warehouse.connect() as con:
        frame = hypothesis_rows(con, config, settings.reporting_tz)
        replace_table(con, ANALYSIS, "hypothesis_tests", frame, COLUMNS)
    if not config.hypotheses:
        context.log.info(f"{path}: no hypotheses recorded")
    summary = frame[["hypothesis_id", "before_rate", "after_rate", "difference", "p_value", "verdict"]]
    return dg.MaterializeResult(
        metadata={
            "hypotheses_file": str(path),
            "dagster/row_count": len(frame),
            **{f"verdict_{v}": int((frame["verdict"] == v).sum()) for v in VERDICTS},
            "results": dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".4g") if len(frame) else "none"),
        }
    )
