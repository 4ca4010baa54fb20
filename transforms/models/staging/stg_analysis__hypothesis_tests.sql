with source as (
    select * from {{ source('analysis', 'hypothesis_tests') }}
)

select
    hypothesis_id,
    statement,
    metric,
    stage,
    slice,
    comparison,
    effective_date,
    expected_direction,
    window_days,
    horizon_days,
    before_judged,
    before_advanced,
    before_rate,
    after_judged,
    after_advanced,
    after_rate,
    after_too_recent,
    comparison_before_rate,
    comparison_after_rate,
    difference,
    ci_low,
    ci_high,
    p_value,
    alpha,
    power,
    minimum_effect,
    required_per_group,
    additional_needed,
    verdict,
    reason,
    method
from source
