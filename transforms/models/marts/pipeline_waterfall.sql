{#-
    The pipeline waterfall (Salesforce's pipeline inspection): per week (from sales_pipeline.yml's week_start) and
    per month, and per close month of the period's window (coverage_months months from the month the period starts
    in), how the new-business pipeline whose expected close date falls in that month moved from the period's start
    to its end (the as-of instant for the open period).

    A deal is in the window of close month M at an instant when it is open then (created_at <= t < closed_at) and
    its close_date then falls in M. Per deal only three states matter: at the period's start, at its end, and at
    its closing when it closes in the period (the version valid at closed_at). Each deal and close month falls in
    exactly one case, so start + inflows - outflows = end holds per deal, hence per row:
      in at start and at end:               amount change as amount_increased / amount_decreased
      in at start, closed in M in period:   change up to the closing amount, then won / lost at it
      in at start, not at end, not closed:  pushed_out at its start amount
      not in at start, in at end or closed in M in period: created (created in the period) or else pulled_in,
                                            at its end or closing amount (a closing one then won / lost too)
    pulled_in / pushed_out are moves of the close date into / out of the month, whichever direction.
    A deal without an amount counts in the counts and as 0 in the amounts.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with settings as (
    select
        week_start,
        coverage_months
    from {{ ref('stg_reference__sales_pipeline_settings') }}
),

as_of as (
    select as_of from {{ ref('int_as_of') }}
),

records as (
    select
        opportunities.opportunity_id,
        opportunities.created_at,
        case
            when opportunities.is_closed and opportunities.closed_at <= as_of.as_of then opportunities.closed_at
        end as closed_at,
        opportunities.is_won
    from {{ ref('int_opportunities_as_of') }} as opportunities
    cross join as_of
    where
        opportunities.opportunity_type = 'new_business'
        and opportunities.created_at <= as_of.as_of
),

opportunities as (
    select
        *,
        coalesce(closed_at, {{ instant_infinity() }}) as open_until
    from records
),

states as (
    select
        states.opportunity_id,
        states.valid_from,
        coalesce(states.valid_to, {{ instant_infinity() }}) as valid_until,
        {{ first_of_month('states.close_date') }} as close_month,
        cast(coalesce(states.amount, 0) as decimal(18, 2)) as amount  -- exact sums, whatever the type upstream
    from {{ ref('int_opportunity_states') }} as states
    inner join opportunities on states.opportunity_id = opportunities.opportunity_id
),

first_day as (
    select cast({{ local_time('min(created_at)') }} as date) as first_day from opportunities
),

last_day as (
    select cast({{ local_time('as_of') }} as date) as last_day from as_of
),

periods as (
    select
        'week' as grain,
        weeks.period_start,
        weeks.period_start + 7 as next_start
    from ({{ period_spine(
        'select ' ~ week_start_of('first_day', 'week_start') ~ ' from first_day cross join settings',
        'select ' ~ week_start_of('last_day', 'week_start') ~ ' from last_day cross join settings',
        'interval 7 day'
    ) }}) as weeks
    union all
    select
        'month' as grain,
        months.period_start,
        cast(months.period_start + interval 1 month as date) as next_start
    from ({{ period_spine(
        'select ' ~ first_of_month('first_day') ~ ' from first_day',
        'select ' ~ first_of_month('last_day') ~ ' from last_day',
        'interval 1 month'
    ) }}) as months
),

cuts as (
    select
        periods.grain,
        periods.period_start,
        periods.next_start,
        {{ date_to_instant('periods.period_start') }} as starts_at,
        least({{ date_to_instant('periods.next_start') }}, as_of.as_of) as ends_at,
        -- the period has ended by the as-of instant (a date's as-of is its last microsecond)
        as_of.as_of >= {{ date_to_instant('periods.next_start') }} - interval 1 microsecond as is_complete
    from periods
    cross join as_of
),

instants as (
    select starts_at as at from cuts
    union
    select ends_at as at from cuts
),

-- every deal at every period boundary while it is open, with its version then
open_at_instants as (
    select
        opportunities.opportunity_id,
        instants.at
    from opportunities
    inner join instants on opportunities.created_at <= instants.at and instants.at < opportunities.open_until
),

states_at_instants as (
    select
        open_at_instants.opportunity_id,
        open_at_instants.at,
        states.close_month,
        states.amount
    from open_at_instants
    inner join states
        on
        open_at_instants.opportunity_id = states.opportunity_id
        and open_at_instants.at >= states.valid_from
        and open_at_instants.at < states.valid_until
),

closing_states as (
    select
        opportunities.opportunity_id,
        states.close_month,
        states.amount
    from opportunities
    inner join states
        on
        opportunities.opportunity_id = states.opportunity_id
        and opportunities.closed_at >= states.valid_from
        and opportunities.closed_at < states.valid_until
    where opportunities.closed_at is not null
),

-- every deal in every period it was open in at some point (the join's two conditions)
spans as (
    select
        cuts.grain,
        cuts.period_start,
        opportunities.opportunity_id,
        opportunities.created_at > cuts.starts_at as is_created,
        coalesce(opportunities.closed_at <= cuts.ends_at, false) as closes,
        opportunities.is_won,
        start_states.close_month as start_month,
        start_states.amount as start_amount,
        end_states.close_month as end_month,
        end_states.amount as end_amount,
        closing_states.close_month as closing_month,
        closing_states.amount as closing_amount
    from cuts
    inner join opportunities on opportunities.created_at <= cuts.ends_at and cuts.starts_at < opportunities.open_until
    left join states_at_instants as start_states
        on opportunities.opportunity_id = start_states.opportunity_id and cuts.starts_at = start_states.at
    left join states_at_instants as end_states
        on opportunities.opportunity_id = end_states.opportunity_id and cuts.ends_at = end_states.at
    left join closing_states on opportunities.opportunity_id = closing_states.opportunity_id
),

-- one row per deal, period and close month it touched
touched as (
    select
        spans.*,
        {{ distinct_values([
            'spans.start_month', 'spans.end_month', 'case when spans.closes then spans.closing_month end'
        ]) }} as close_month
    from spans
),

cases as (
    select
        grain,
        period_start,
        cast(close_month as date) as close_month,
        is_won,
        coalesce(start_month = close_month, false) as in_at_start,
        coalesce(end_month = close_month, false) as in_at_end,
        closes and coalesce(closing_month = close_month, false) as closes_in,
        is_created,
        start_amount,
        case when coalesce(end_month = close_month, false) then end_amount else closing_amount end as after_amount
    from touched
),

moves as (
    select
        grain,
        period_start,
        close_month,
        in_at_start,
        in_at_end,
        closes_in and is_won as is_won_in,
        closes_in and not is_won as is_lost_in,
        not in_at_start and (in_at_end or closes_in) and is_created as is_created_in,
        not in_at_start and (in_at_end or closes_in) and not is_created as is_pulled_in,
        in_at_start and not in_at_end and not closes_in as is_pushed_out,
        case when in_at_start and (in_at_end or closes_in) then after_amount - start_amount end as amount_change,
        start_amount,
        after_amount
    from cases
),

sums as (
    select
        grain,
        period_start,
        close_month,
        {{ count_where('in_at_start') }} as open_start,
        {{ count_where('is_created_in') }} as created,
        {{ count_where('is_pulled_in') }} as pulled_in,
        {{ count_where('is_pushed_out') }} as pushed_out,
        {{ count_where('is_won_in') }} as won,
        {{ count_where('is_lost_in') }} as lost,
        {{ count_where('in_at_end') }} as open_end,
        sum(case when in_at_start then start_amount end) as open_start_amount,
        sum(case when is_created_in then after_amount end) as created_amount,
        sum(case when is_pulled_in then after_amount end) as pulled_in_amount,
        sum(case when amount_change > 0 then amount_change end) as amount_increased,
        sum(case when amount_change < 0 then -amount_change end) as amount_decreased,
        sum(case when is_pushed_out then start_amount end) as pushed_out_amount,
        sum(case when is_won_in then after_amount end) as won_amount,
        sum(case when is_lost_in then after_amount end) as lost_amount,
        sum(case when in_at_end then after_amount end) as open_end_amount
    from moves
    group by grain, period_start, close_month
),

grid as (
    select
        cuts.grain,
        cuts.period_start,
        cast(cuts.next_start - 1 as date) as period_end,
        cuts.is_complete,
        cast(offsets.close_month_offset as integer) as close_month_offset,
        {{ add_months(first_of_month('cuts.period_start'), 'offsets.close_month_offset') }} as close_month
    from cuts
    cross join settings
    cross join {{ integer_series('0', 'settings.coverage_months - 1', 'offsets', 'close_month_offset') }}
)

select
    grid.grain,
    grid.period_start,
    grid.period_end,
    grid.is_complete,
    grid.close_month,
    grid.close_month_offset,
    cast(coalesce(sums.open_start, 0) as bigint) as open_start,
    cast(coalesce(sums.created, 0) as bigint) as created,
    cast(coalesce(sums.pulled_in, 0) as bigint) as pulled_in,
    cast(coalesce(sums.pushed_out, 0) as bigint) as pushed_out,
    cast(coalesce(sums.won, 0) as bigint) as won,
    cast(coalesce(sums.lost, 0) as bigint) as lost,
    cast(coalesce(sums.open_end, 0) as bigint) as open_end,
    cast(coalesce(sums.open_start_amount, 0) as decimal(38, 2)) as open_start_amount,
    cast(coalesce(sums.created_amount, 0) as decimal(38, 2)) as created_amount,
    cast(coalesce(sums.pulled_in_amount, 0) as decimal(38, 2)) as pulled_in_amount,
    cast(coalesce(sums.amount_increased, 0) as decimal(38, 2)) as amount_increased,
    cast(coalesce(sums.amount_decreased, 0) as decimal(38, 2)) as amount_decreased,
    cast(coalesce(sums.pushed_out_amount, 0) as decimal(38, 2)) as pushed_out_amount,
    cast(coalesce(sums.won_amount, 0) as decimal(38, 2)) as won_amount,
    cast(coalesce(sums.lost_amount, 0) as decimal(38, 2)) as lost_amount,
    cast(coalesce(sums.open_end_amount, 0) as decimal(38, 2)) as open_end_amount
from grid
left join sums
    on
    grid.grain = sums.grain
    and grid.period_start = sums.period_start
    and grid.close_month = sums.close_month
order by grid.grain, grid.period_start, grid.close_month
