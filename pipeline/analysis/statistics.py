"""The statistics of hypothesis verification (仮説検証): from counts of entries to a verdict.

Given the judged entries before and after a change and those that advanced, a one-sided z-test of two
proportions (Fisher's exact test when counts are small) with a Newcomb interval for the difference, or,
with a comparison group, a difference-in-differences from a binomial GLM (statsmodels). Kept apart from
the SQL and from Dagster so the tests can give it counts directly.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import fisher_exact
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_effectsize, proportions_ztest

from pipeline.config.hypotheses import Hypothesis

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
        fit = GLM(x / n, design, family=families.Binomial(link=families.links.Identity()), var_weights=n).fit()
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


def rate(advanced: int, judged: int) -> float | None:
    return advanced / judged if judged else None
