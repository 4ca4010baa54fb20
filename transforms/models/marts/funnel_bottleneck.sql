{#-
    Per month, each stage's conversion against its plan (target) and against its own history (the six
    months before), and what each shortfall costs downstream: the missing goal of the stage, carried
    through the later stages' planned (or historic) rates into won deals and revenue. Stages are ranked
    by that cost; the bottleneck of a month is the stage whose conversion fell furthest below plan
    (relative to the plan). Stages after the won deal (the registry's `wins` stage) have no won-deal cost.
-#}
{%- set win = win_stage_order() %}

-- Generated per stage or hand-over of the registry: Jinja, not sqlfluff, lays out what the loops write.
-- noqa: disable=LT02
-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with kpis as (
    select * from {{ ref('funnel_kpi_monthly') }}
    where view = 'period' and stage_order <= {{ win }}
),

deal_sizes as (
    select
        month as period_start,
        max(average_deal_size) as average_deal_size
    from {{ ref('stg_reference__funnel_targets') }}
    group by all
),

history as (
    select
        period_start,
        stage,
        cast(sum(goal) over previous_six as double) / nullif(sum(base) over previous_six, 0) as historic_rate
    from kpis
    window previous_six as (partition by stage order by period_start rows between 6 preceding and 1 preceding)
),

downstream as (
    select
        kpis.period_start,
        {%- for order in range(1, win + 1) %}
        max(case when kpis.stage_order = {{ order }} then kpis.target_conversion_rate end) as planned_rate_{{ order }},
        max(case when kpis.stage_order = {{ order }} then history.historic_rate end) as historic_rate_{{ order }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from kpis
    inner join history on history.period_start = kpis.period_start and history.stage = kpis.stage
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
        history.historic_rate,
        kpis.conversion_rate / nullif(kpis.target_conversion_rate, 0) - 1 as relative_gap,
        greatest(kpis.target_conversion_rate - kpis.conversion_rate, 0) * kpis.base as goal_shortfall,
        greatest(history.historic_rate - kpis.conversion_rate, 0) * kpis.base as goal_shortfall_vs_history,
        {#- a goal of stage k turns into won deals through the rates of the stages after it, up to the win -#}
        {%- for kind in ['planned', 'historic'] %}
        case kpis.stage_order
            {%- for order in range(1, win + 1) %}
            when {{ order }} then {% for later in range(order + 1, win + 1) -%}
                downstream.{{ kind }}_rate_{{ later }}{{ ' * ' if not loop.last }}
            {%- else %}1{% endfor %}
            {%- endfor %}
        end as {{ kind }}_wins_per_goal,
        {%- endfor %}
        deal_sizes.average_deal_size
    from kpis
    inner join history on history.period_start = kpis.period_start and history.stage = kpis.stage
    inner join downstream on downstream.period_start = kpis.period_start
    left join deal_sizes on deal_sizes.period_start = kpis.period_start
    where kpis.conversion_rate is not null
),

costs as (
    select
        *,
        goal_shortfall * planned_wins_per_goal as won_deals_shortfall,
        goal_shortfall_vs_history * historic_wins_per_goal as won_deals_shortfall_vs_history
    from gaps
),

ranked as (
    select
        *,
        row_number() over (partition by period_start order by relative_gap nulls last, stage_order) as gap_rank,
        case when won_deals_shortfall > 0 then
            rank() over (partition by period_start order by won_deals_shortfall desc nulls last)
        end as cost_rank,
        case when won_deals_shortfall_vs_history > 0 then
            rank() over (partition by period_start order by won_deals_shortfall_vs_history desc nulls last)
        end as cost_rank_vs_history
    from costs
)

select
    period_start,
    stage,
    stage_order,
    base,
    goal,
    actual_rate,
    planned_rate,
    historic_rate,
    relative_gap,
    round(goal_shortfall, 1) as goal_shortfall,
    round(won_deals_shortfall, 2) as won_deals_shortfall,
    round(won_deals_shortfall * average_deal_size) as revenue_shortfall,
    cast(cost_rank as integer) as cost_rank,
    round(goal_shortfall_vs_history, 1) as goal_shortfall_vs_history,
    round(won_deals_shortfall_vs_history, 2) as won_deals_shortfall_vs_history,
    round(won_deals_shortfall_vs_history * average_deal_size) as revenue_shortfall_vs_history,
    cast(cost_rank_vs_history as integer) as cost_rank_vs_history,
    coalesce(gap_rank = 1 and relative_gap < 0, false) as is_bottleneck
from ranked
order by period_start, stage_order
