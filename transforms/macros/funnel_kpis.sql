{#-
    Base, goal and conversion per (view, period, stage) from the four stage tables.
    period: the macro (month_start or fiscal_quarter_start) that maps an instant to the first day
    of its period; step: the period length as an interval.

    period view: base = entries in the period, goal = forward hand-overs dated in the period.
    cohort view: base = entries in the period, goal = those of them that advanced by the as-of instant.
    base = base_handover (handed over by the previous stage) + base_direct (started in this stage).
-#}
{% macro funnel_kpis(period, step) %}

with stage_rows as (
    {%- for stage in ['marketing', 'inside_sales', 'field_sales', 'customer_success'] %}
    select
        '{{ stage }}' as stage,
        {{ loop.index }} as stage_order,
        entry_type,
        outcome,
        {{ period('entered_at') }} as entered_period,
        {{ period('advanced_at') }} as advanced_period,
        {{ period('dropped_at') }} as dropped_period
    from {{ ref('stage_' ~ stage) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

as_of as (
    select as_of, {{ period('as_of') }} as as_of_period from {{ ref('int_as_of') }}
),

stages as (
    select * from (values ('marketing', 1), ('inside_sales', 2), ('field_sales', 3), ('customer_success', 4))
        as stage_list (stage, stage_order)
),

periods as (
    {{ period_spine('select min(entered_period) from stage_rows', 'select as_of_period from as_of', step) }}
),

entries as (
    select
        stage,
        entered_period as period_start,
        count(*) as base,
        count_if(entry_type = 'handover') as base_handover,
        count_if(outcome = 'advanced') as cohort_goal,
        count_if(outcome = 'dropped') as cohort_dropped
    from stage_rows
    group by all
),

advances as (
    select stage, advanced_period as period_start, count(*) as period_goal
    from stage_rows
    where advanced_period is not null
    group by all
),

drops as (
    select stage, dropped_period as period_start, count(*) as period_dropped
    from stage_rows
    where dropped_period is not null
    group by all
),

grid as (
    select
        stages.stage,
        stages.stage_order,
        periods.period_start,
        coalesce(entries.base, 0) as base,
        coalesce(entries.base_handover, 0) as base_handover,
        coalesce(entries.cohort_goal, 0) as cohort_goal,
        coalesce(entries.cohort_dropped, 0) as cohort_dropped,
        coalesce(advances.period_goal, 0) as period_goal,
        coalesce(drops.period_dropped, 0) as period_dropped
    from periods
    cross join stages
    left join entries on entries.stage = stages.stage and entries.period_start = periods.period_start
    left join advances on advances.stage = stages.stage and advances.period_start = periods.period_start
    left join drops on drops.stage = stages.stage and drops.period_start = periods.period_start
),

views as (
    select 'period' as view, grid.*, period_goal as goal, period_dropped as dropped from grid
    union all
    select 'cohort' as view, grid.*, cohort_goal as goal, cohort_dropped as dropped from grid
)

select
    views.view,
    views.period_start,
    views.stage,
    views.stage_order,
    cast(views.base as bigint) as base,
    cast(views.base_handover as bigint) as base_handover,
    cast(views.base - views.base_handover as bigint) as base_direct,
    cast(views.goal as bigint) as goal,
    cast(views.goal as double) / nullif(views.base, 0) as conversion_rate,
    cast(views.dropped as bigint) as dropped,
    as_of.as_of,
    datediff('day', views.period_start, cast({{ local_time('as_of.as_of') }} as date)) as period_age_days
from views
cross join as_of
{% endmacro %}
