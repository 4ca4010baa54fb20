{#-
    Per month, each stage's conversion against its planned (target) conversion, and what the shortfall
    costs downstream: the missing goal of the stage, carried through the downstream stages' planned rates
    into won deals and revenue. The bottleneck of a month is the stage whose conversion fell furthest below
    plan (relative to the plan). Customer success is downstream of the win, so it has no won-deal cost.
-#}

with kpis as (
    select * from {{ ref('funnel_kpi_monthly') }}
    where view = 'period' and stage <> 'customer_success'
),

deal_sizes as (
    select month as period_start, max(average_deal_size) as average_deal_size
    from {{ ref('stg_goals__funnel_targets') }}
    group by all
),

planned as (
    select
        period_start,
        max(case when stage = 'inside_sales' then target_conversion_rate end) as inside_sales_rate,
        max(case when stage = 'field_sales' then target_conversion_rate end) as field_sales_rate
    from kpis
    group by all
),

gaps as (
    select
        kpis.period_start,
        kpis.stage,
        kpis.stage_order,
        kpis.base,
        kpis.goal,
        kpis.conversion_rate as actual_rate,
        kpis.target_conversion_rate as planned_rate,
        kpis.conversion_rate / nullif(kpis.target_conversion_rate, 0) - 1 as relative_gap,
        greatest(kpis.target_conversion_rate - kpis.conversion_rate, 0) * kpis.base as goal_shortfall,
        case kpis.stage
            when 'marketing' then planned.inside_sales_rate * planned.field_sales_rate
            when 'inside_sales' then planned.field_sales_rate
            else 1
        end as wins_per_goal,
        deal_sizes.average_deal_size
    from kpis
    inner join planned on planned.period_start = kpis.period_start
    left join deal_sizes on deal_sizes.period_start = kpis.period_start
    where kpis.target_conversion_rate is not null and kpis.conversion_rate is not null
),

ranked as (
    select
        *,
        goal_shortfall * wins_per_goal as won_deals_shortfall,
        row_number() over (partition by period_start order by relative_gap, stage_order) as gap_rank
    from gaps
)

select
    period_start,
    stage,
    stage_order,
    base,
    goal,
    actual_rate,
    planned_rate,
    relative_gap,
    round(goal_shortfall, 1) as goal_shortfall,
    round(won_deals_shortfall, 2) as won_deals_shortfall,
    round(won_deals_shortfall * average_deal_size) as revenue_shortfall,
    gap_rank = 1 and relative_gap < 0 as is_bottleneck
from ranked
order by period_start, stage_order
