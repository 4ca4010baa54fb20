-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with kpis as (
    {{ funnel_kpis('fiscal_quarter') }}
)

select
    view,
    {{ fiscal_year_and_quarter('period_start') }},
    period_start,
    cast(period_start + interval 3 month - interval 1 day as date) as period_end,
    stage,
    stage_order,
    base,
    base_handover,
    base_direct,
    goal,
    conversion_rate,
    dropped,
    as_of,
    period_age_days,
    target_base,
    target_goal,
    target_conversion_rate,
    goal_attainment,
    projected_goal,
    business_days,
    business_days_elapsed,
    status
from kpis
order by view, period_start, stage_order
