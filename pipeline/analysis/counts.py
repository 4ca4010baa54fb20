"""The counting side of hypothesis verification: the entries before and after a change, from the stage tables.

A team records each hypothesis in hypotheses.yml: the metric (a stage conversion), the slice it was
tried on, the day the change took effect, the direction expected and, optionally, a comparison group
that did not get the change. Here the entries before and after that day are counted from the stage
tables, each judged by whether it advanced within a fixed horizon (so young entries, which have had
less time, do not bias the later period), and every hypothesis becomes one row with the verdict of
statistics.py.
"""

import duckdb
import pandas as pd

from pipeline.analysis.statistics import Counts, evaluate, rate
from pipeline.config.hypotheses import HypothesesFile, Hypothesis

#: slice key in hypotheses.yml -> column of the stage tables (as in marts.funnel_kpi_by_slice)
SLICE_COLUMNS = {
    "source": "source",
    "campaign": "campaign_id",
    "owner": "owner_id",
    "segment": "segment",
    "industry": "industry",
}


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
            count(*) filter (where mature and ($decided_only = false or advanced_in_time or dropped_in_time)) as judged,
            count(*) filter (where mature and advanced_in_time) as advanced,
            count(*) filter (where not mature) as too_recent
        from entries
        where $window = 0
            or (entered_on >= $effective - to_days($window) and entered_on < $effective + to_days($window))
        group by all""",
        params,
    ).fetchall()
    by_side = {after: (judged, advanced, recent) for after, judged, advanced, recent in rows}
    before, after = by_side.get(False, (0, 0, 0)), by_side.get(True, (0, 0, 0))
    return Counts(n_before=before[0], x_before=before[1], n_after=after[0], x_after=after[1], recent_after=after[2])


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


#: The columns of analysis.hypothesis_tests with their types, in the order of a hypothesis row.
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
