{%- set fy_start = var('fiscal_year_start_month') | int -%}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with kpis as (
    {{ funnel_kpis(fiscal_quarter_start, "interval 3 month") }}
)

select
    view,
    -- the fiscal year is named by the calendar year it starts in (FY2024 = April 2024 - March 2025)
    cast(year(period_start) - case when month(period_start) < {{ fy_start }} then 1 else 0 end as integer)
        as fiscal_year,
    cast(((month(period_start) - {{ fy_start }} + 12) % 12) // 3 + 1 as integer) as fiscal_quarter,
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
