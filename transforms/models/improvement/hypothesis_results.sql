{#-
    仮説検証: each hypothesis of hypotheses.yml with its rate before and after the change, the difference
    with its confidence interval, the one-sided p-value, the sample still needed and the verdict. The
    statistics are computed by the dbt Python model analysis.hypothesis_tests (statsmodels; on Spark by the
    analysis step with the same code, read from the lake: macros/lake.sql, analysis_rows); this model publishes
    them with the as-of instant they were computed at.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with tests as (
    select * from {{ analysis_rows('hypothesis_tests') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
)

select
    tests.hypothesis_id,
    tests.statement,
    tests.metric,
    tests.stage,
    tests.slice,
    tests.comparison,
    tests.effective_date,
    tests.expected_direction,
    tests.window_days,
    tests.horizon_days,
    tests.before_judged,
    tests.before_advanced,
    tests.before_rate,
    tests.after_judged,
    tests.after_advanced,
    tests.after_rate,
    tests.after_too_recent,
    tests.comparison_before_rate,
    tests.comparison_after_rate,
    tests.difference,
    tests.ci_low,
    tests.ci_high,
    tests.p_value,
    tests.alpha,
    tests.power,
    tests.minimum_effect,
    tests.required_per_group,
    tests.additional_needed,
    tests.verdict,
    tests.reason,
    tests.method,
    as_of.as_of
from tests
cross join as_of
order by tests.hypothesis_id
