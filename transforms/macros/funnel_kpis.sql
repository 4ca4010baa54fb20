{#-
    Base, goal and conversion per (view, period, stage), grain 'month' or 'fiscal_quarter'. Months are counted
    from the stage tables of the registry (macros/registry.sql); a fiscal quarter's counts are its three months'
    counts in funnel_kpi_monthly, summed (reading every stage row's instants again in the reporting time zone, for
    quarters, took longer at 10 M leads than the whole monthly count). Targets, pace and status are the period's own.

    period view: base = entries in the period, goal = forward hand-overs dated in the period.
    cohort view: base = entries in the period, goal = those of them that advanced by the as-of instant.
    base = base_handover (handed over by the previous stage) + base_direct (started in this stage).
    Period-view rows carry the period's targets (stg_reference__funnel_targets), goal attainment, and a
    status: met / missed for closed periods; on_track / at_risk for the open period, by projecting its
    goal to the period's end over business days (stg_reference__business_calendar); no_target otherwise.
-#}
{% macro funnel_kpis(grain) %}
{%- set period = {'month': month_start, 'fiscal_quarter': fiscal_quarter_start}[grain] %}

with as_of as (
    select
        as_of,
        {{ period('as_of') }} as as_of_period,
        cast({{ local_time('as_of') }} as date) as as_of_date
    from {{ ref('int_as_of') }}
),

targets as (
    select
        {{ period(date_to_instant('month')) }} as period_start,
        stage,
        sum(target_base) as target_base,
        sum(target_goal) as target_goal
    from {{ ref('stg_reference__funnel_targets') }}
    group by all
),

pace as (
    select
        {{ period(date_to_instant('calendar.day')) }} as period_start,
        {{ count_where("calendar.is_business_day") }} as business_days,
        {{ count_where("calendar.is_business_day and calendar.day <= as_of.as_of_date") }} as business_days_elapsed
    from {{ ref('stg_reference__business_calendar') }} as calendar
    cross join as_of
    where {{ period(date_to_instant('calendar.day')) }} = as_of.as_of_period
    group by all
),

{%- if grain == 'month' %}

stage_rows as (
    {{ union_stage_tables(
        "entry_type, outcome, " ~ period('entered_at') ~ " as entered_period, "
        ~ period('advanced_at') ~ " as advanced_period, " ~ period('dropped_at') ~ " as dropped_period"
    ) }}
),

stages as (
    {{ stage_list() }}
),

periods as (
    {{ period_spine('select min(entered_period) from stage_rows', 'select as_of_period from as_of', 'interval 1 month') }}
),

{{ period_counts('stage_rows', 'stage') }},

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
{%- else %}

-- per stage and quarter, the months' counts: base and hand-overs are the same in both views of a month
grid as (
    select
        stage,
        stage_order,
        {{ fiscal_quarter_of('period_start') }} as period_start,
        sum(case when view = 'period' then base end) as base,
        sum(case when view = 'period' then base_handover end) as base_handover,
        sum(case when view = 'cohort' then goal end) as cohort_goal,
        sum(case when view = 'cohort' then dropped end) as cohort_dropped,
        sum(case when view = 'period' then goal end) as period_goal,
        sum(case when view = 'period' then dropped end) as period_dropped
    from {{ ref('funnel_kpi_monthly') }}
    group by all
),
{%- endif %}

views as (
    select 'period' as view, grid.*, period_goal as goal, period_dropped as dropped from grid
    union all
    select 'cohort' as view, grid.*, cohort_goal as goal, cohort_dropped as dropped from grid
),

projected as (
    select
        views.*,
        targets.target_base,
        targets.target_goal,
        pace.business_days,
        pace.business_days_elapsed,
        case
            when views.view = 'period' and pace.period_start is not null
                then case when pace.business_days_elapsed > 0
                    then ceil(views.goal * pace.business_days / pace.business_days_elapsed) else views.goal end
        end as projected_goal
    from views
    left join targets
        on views.view = 'period' and targets.period_start = views.period_start and targets.stage = views.stage
    left join pace on pace.period_start = views.period_start
)

select
    projected.view,
    projected.period_start,
    projected.stage,
    projected.stage_order,
    cast(projected.base as bigint) as base,
    cast(projected.base_handover as bigint) as base_handover,
    cast(projected.base - projected.base_handover as bigint) as base_direct,
    cast(projected.goal as bigint) as goal,
    cast(projected.goal as double) / nullif(projected.base, 0) as conversion_rate,
    cast(projected.dropped as bigint) as dropped,
    as_of.as_of,
    {{ days_from('projected.period_start', 'as_of.as_of_date') }} as period_age_days,
    cast(projected.target_base as bigint) as target_base,
    cast(projected.target_goal as bigint) as target_goal,
    cast(projected.target_goal as double) / nullif(projected.target_base, 0) as target_conversion_rate,
    cast(projected.goal as double) / nullif(projected.target_goal, 0) as goal_attainment,
    cast(projected.projected_goal as bigint) as projected_goal,
    cast(projected.business_days as bigint) as business_days,
    cast(projected.business_days_elapsed as bigint) as business_days_elapsed,
    case
        when projected.target_goal is null then 'no_target'
        when projected.period_start < as_of.as_of_period
            then case when projected.goal >= projected.target_goal then 'met' else 'missed' end
        when projected.projected_goal >= projected.target_goal then 'on_track'
        else 'at_risk'
    end as status
from projected
cross join as_of
{% endmacro %}
