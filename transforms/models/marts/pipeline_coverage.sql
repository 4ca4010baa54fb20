{{ config(enabled=in_funnel('field_sales')) }}

{#-
    Pipeline coverage (パイプラインカバレッジ) of the open month (the month of the as-of instant) and the next
    coverage_months - 1 months: the new-business deals open at the as-of instant whose expected close date falls in
    the month (the close date of int_opportunity_states' version valid at the as-of), against the month's field-sales
    target (won deals, stg_reference__funnel_targets) and the revenue that
    target stands for (won deals x the planned average deal size). The open month also shows the open deals whose
    close date is already past (overdue) or not given (undated): they are pipeline nobody dated into a month, so they
    count in no month's coverage. status is decided by coverage_remaining_count (pipeline_count / (target_count -
    won_count)) against coverage_minimum; see pipeline_coverage.yml.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with as_of as (
    select
        as_of,
        {{ month_start('as_of') }} as open_month
    from {{ ref('int_as_of') }}
),

settings as (
    select
        coverage_minimum,
        coverage_months
    from {{ ref('stg_reference__sales_pipeline_settings') }}
),

months as (
    select
        offsets.month_offset,
        as_of.as_of,
        as_of.open_month,
        settings.coverage_minimum,
        {{ add_months('as_of.open_month', 'offsets.month_offset') }} as month
    from as_of
    cross join settings
    cross join {{ integer_series('0', 'settings.coverage_months - 1', 'offsets', 'month_offset') }}
),

-- the close date at the as-of: the state valid then (the last version: later changes are left out), from the
-- SFA's history where it has one; the as-of record's for a deal without states
states_at_as_of as (
    select
        opportunity_id,
        close_date
    from {{ ref('int_opportunity_states') }}
    where valid_to is null
),

entries as (
    select
        entries.outcome,
        entries.advanced_at,
        case
            when states_at_as_of.opportunity_id is not null then states_at_as_of.close_date
            else opportunities.close_date
        end as close_date,
        cast(entries.amount as double) as amount
    from {{ ref('field_sales_entries') }} as entries
    inner join {{ ref('int_opportunities_as_of') }} as opportunities
        on entries.opportunity_id = opportunities.opportunity_id
    left join states_at_as_of on entries.opportunity_id = states_at_as_of.opportunity_id
),

open_deals as (
    select
        {{ first_of_month('close_date') }} as close_month,
        close_date,
        amount
    from entries
    where outcome = 'open'
),

pipeline as (
    select
        months.month,
        count(open_deals.close_month) as pipeline_count,
        coalesce(sum(open_deals.amount), 0) as pipeline_amount
    from months
    left join open_deals on months.month = open_deals.close_month
    group by months.month
),

beyond_the_months as (
    select
        {{ count_where('open_deals.close_date < as_of.open_month') }} as overdue_count,
        coalesce(sum(case when open_deals.close_date < as_of.open_month then open_deals.amount end), 0)
            as overdue_amount,
        {{ count_where('open_deals.close_date is null') }} as undated_count,
        coalesce(sum(case when open_deals.close_date is null then open_deals.amount end), 0) as undated_amount
    from open_deals
    cross join as_of
),

won as (
    select
        months.month,
        count(entries.advanced_at) as won_count,
        coalesce(sum(entries.amount), 0) as won_amount
    from months
    left join entries
        on {{ month_start('entries.advanced_at') }} = months.month and entries.outcome = 'advanced'
    group by months.month
),

targets as (
    select
        month,
        target_goal as target_count,
        coalesce(target_revenue, target_goal * average_deal_size) as target_amount
    from {{ ref('stg_reference__funnel_targets') }}
    where stage = 'field_sales' and target_goal > 0
),

joined as (
    select
        months.month,
        months.month_offset,
        months.month_offset = 0 as is_open_month,
        months.as_of,
        pipeline.pipeline_count,
        pipeline.pipeline_amount,
        case when months.month_offset = 0 then beyond_the_months.overdue_count end as overdue_count,
        case when months.month_offset = 0 then beyond_the_months.overdue_amount end as overdue_amount,
        case when months.month_offset = 0 then beyond_the_months.undated_count end as undated_count,
        case when months.month_offset = 0 then beyond_the_months.undated_amount end as undated_amount,
        won.won_count,
        won.won_amount,
        targets.target_count,
        targets.target_amount,
        -- greatest() skips NULLs: without a target there is nothing to win, not 0
        case when targets.target_count is not null then greatest(targets.target_count - won.won_count, 0) end
            as remaining_count,
        case when targets.target_amount is not null then greatest(targets.target_amount - won.won_amount, 0) end
            as remaining_amount,
        months.coverage_minimum
    from months
    cross join beyond_the_months
    inner join pipeline on months.month = pipeline.month
    inner join won on months.month = won.month
    left join targets on months.month = targets.month
)

select
    month,
    month_offset,
    is_open_month,
    as_of,
    pipeline_count,
    pipeline_amount,
    overdue_count,
    overdue_amount,
    undated_count,
    undated_amount,
    won_count,
    won_amount,
    target_count,
    target_amount,
    remaining_count,
    remaining_amount,
    pipeline_count / target_count as coverage_count,
    pipeline_amount / target_amount as coverage_amount,
    pipeline_count / nullif(remaining_count, 0) as coverage_remaining_count,
    pipeline_amount / nullif(remaining_amount, 0) as coverage_remaining_amount,
    coverage_minimum,
    case
        when target_count is null then 'no_target'
        when remaining_count = 0 then 'target_met'
        when pipeline_count / remaining_count >= coverage_minimum then 'covered'
        else 'below_minimum'
    end as status
from joined
order by month
