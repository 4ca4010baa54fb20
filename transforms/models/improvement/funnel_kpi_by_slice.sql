{#-
    Base, goal and dropped per (grain, view, period, stage) cut by one slice dimension at a time: source
    (channel), campaign, owner, segment and industry. Each entry is counted under the value its own stage
    row knows when it enters ('(none)' otherwise), so for every dimension the slices add up to the
    unsliced marts funnel_kpi_monthly (grain month) and funnel_kpi_fiscal_quarterly (grain fiscal_quarter).
    Only combinations with at least one entry, hand-over or drop are listed.
-#}
{%- set dimensions = ['source', 'campaign_id', 'owner_id', 'segment', 'industry'] %}
{#- A stage's rows are cut only by what an entry knows when it enters (the registry's `slices`): field sales
    learns an account's segment and industry from the CRM, which only has won accounts; sliced by them, lost
    deals would all fall under '(none)' and every segment would look like a sure win. -#}

-- Generated per stage or hand-over of the registry: Jinja, not sqlfluff, lays out what the loops write.
-- noqa: disable=LT02
-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with stage_rows as (
    {%- for stage in funnel_stages() %}
    select
        '{{ stage.name }}' as stage,
        {{ loop.index }} as stage_order,
        entry_type,
        outcome,
        entered_at,
        advanced_at,
        dropped_at,
        {%- for dimension in dimensions %}
        {{ dimension if dimension | replace('_id', '') in stage.slices else 'cast(null as string) as ' ~ dimension }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ stage_table(stage) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- Stage rows alike in everything counted below, counted once per month (the one pass that reads each instant in
-- the reporting time zone): far fewer rows to repeat per dimension.
monthly as (
    select
        stage,
        stage_order,
        entry_type,
        outcome,
        {{ month_start('entered_at') }} as entered_period,
        {{ month_start('advanced_at') }} as advanced_period,
        {{ month_start('dropped_at') }} as dropped_period,
        {{ dimensions | join(', ') }},
        count(*) as entry_count
    from stage_rows
    group by all
),

-- A fiscal quarter is three whole months: its counts are its months' counts, summed.
alike as (
    select
        'month' as grain,
        *
    from monthly
    union all
    select
        'fiscal_quarter' as grain,
        stage,
        stage_order,
        entry_type,
        outcome,
        {{ fiscal_quarter_of('entered_period') }} as entered_period,
        {{ fiscal_quarter_of('advanced_period') }} as advanced_period,
        {{ fiscal_quarter_of('dropped_period') }} as dropped_period,
        {{ dimensions | join(', ') }},
        sum(entry_count) as entry_count
    from monthly
    group by all
),

events as (
    {%- for dimension in dimensions %}
    select
        grain,
        stage,
        stage_order,
        '{{ dimension | replace("_id", "") }}' as dimension,
        coalesce({{ dimension }}, '(none)') as slice_value,
        entry_type,
        outcome,
        entered_period,
        advanced_period,
        dropped_period,
        entry_count
    from alike
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

{{ period_counts('events', 'grain, stage, stage_order, dimension, slice_value', weight='entry_count') }},

combined as (
    select
        grain,
        stage,
        stage_order,
        dimension,
        slice_value,
        period_start,
        coalesce(entries.base, 0) as base,
        coalesce(entries.cohort_goal, 0) as cohort_goal,
        coalesce(entries.cohort_dropped, 0) as cohort_dropped,
        coalesce(advances.period_goal, 0) as period_goal,
        coalesce(drops.period_dropped, 0) as period_dropped
    from entries
    full outer join advances using (grain, stage, stage_order, dimension, slice_value, period_start)
    full outer join drops using (grain, stage, stage_order, dimension, slice_value, period_start)
),

views as (
    select
        'period' as view,
        *,
        period_goal as goal,
        period_dropped as dropped
    from combined
    union all
    select
        'cohort' as view,
        *,
        cohort_goal as goal,
        cohort_dropped as dropped
    from combined
    where base > 0
)

select
    grain,
    view,
    period_start,
    stage,
    stage_order,
    dimension,
    slice_value,
    cast(base as bigint) as base,
    cast(goal as bigint) as goal,
    cast(goal as double) / nullif(base, 0) as conversion_rate,
    cast(dropped as bigint) as dropped
from views
order by grain, view, dimension, period_start, stage_order, slice_value
