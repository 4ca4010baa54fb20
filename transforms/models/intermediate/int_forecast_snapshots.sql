{{ config(enabled=in_funnel('field_sales')) }}

{#-
    The open new-business pipeline as it stood at each forecast instant, counted into win-rate cells, with what
    then happened in each target month (docs/marts.md, "Forecast"). The heavy part of the forecast, in SQL; the
    Python marts forecast and forecast_backtest only add up these rows.

    Instants (int_forecast_targets): every week start (sales_pipeline_settings.week_start, local midnight) from
    the first opportunity's week to the as-of instant, and the as-of instant itself. Target months: the month of
    the instant (horizon 0) and the next coverage_months - 1.

    A deal is open at t when created_at <= t < closed_at (or not closed); its state at t is the version of
    int_opportunity_states valid at t. Its cell: the horizon, where its expected close date at t falls against
    the target month (close_position: before, in, after, unknown), its stage, its age at t in days (age_bucket)
    and its forecast category at t (NULL when the SFA gives none). won_deals / won_amount: the deals of the cell
    closed won within the target month (at their won amount), the outcome a win rate learns from once the month
    has ended. Amounts add up in DECIMAL and become DOUBLE only as totals (macro amount_squared).
-#}

with targets as (
    select * from {{ ref('int_forecast_targets') }}
),

instants as (
    select distinct
        snapshot_kind,
        snapshot_at
    from targets
),

deals as (
    select
        opportunity_id,
        received_at as created_at,
        coalesce(advanced_at, dropped_at) as closed_at,
        {{ month_start('advanced_at') }} as won_month,
        amount as won_amount
    from {{ ref('field_sales_entries') }}
),

states as (
    select * from {{ ref('int_opportunity_states') }}
),

open_deals as (
    select
        instants.snapshot_kind,
        instants.snapshot_at,
        deals.opportunity_id,
        deals.won_month,
        deals.won_amount,
        {{ days_between('deals.created_at', 'instants.snapshot_at') }} as age_days
    from instants
    inner join deals
        on
        deals.created_at <= instants.snapshot_at
        and (deals.closed_at is null or deals.closed_at > instants.snapshot_at)
),

open_states as (
    select
        open_deals.*,
        states.stage_name,
        states.close_date,
        states.forecast_category,
        states.amount
    from open_deals
    left join states
        on
        open_deals.opportunity_id = states.opportunity_id
        and states.valid_from <= open_deals.snapshot_at
        and (states.valid_to is null or states.valid_to > open_deals.snapshot_at)
),

cells as (
    select
        targets.snapshot_kind,
        targets.snapshot_at,
        targets.horizon,
        targets.week_of_month,
        targets.target_month,
        case
            when open_states.close_date is null then 'unknown'
            when open_states.close_date < targets.target_month then 'before'
            when open_states.close_date < targets.target_month + interval 1 month then 'in'
            else 'after'
        end as close_position,
        coalesce(open_states.stage_name, 'unknown') as stage_name,
        case
            when open_states.age_days < 30 then '0-29'
            when open_states.age_days < 60 then '30-59'
            when open_states.age_days < 120 then '60-119'
            else '120+'
        end as age_bucket,
        open_states.forecast_category,
        coalesce(open_states.amount, 0) as amount,
        coalesce(open_states.won_month = targets.target_month, false) as won_in_month,
        open_states.won_amount
    from open_states
    inner join targets
        on
        open_states.snapshot_kind = targets.snapshot_kind
        and open_states.snapshot_at = targets.snapshot_at
)

select
    snapshot_kind,
    snapshot_at,
    horizon,
    week_of_month,
    target_month,
    close_position,
    stage_name,
    age_bucket,
    forecast_category,
    count(*) as open_deals,
    cast(sum(amount) as double) as open_amount,
    cast(sum({{ amount_squared("amount") }}) as double) as open_amount_squared,
    count(*) filter (where won_in_month) as won_deals,
    cast(coalesce(sum(won_amount) filter (where won_in_month), 0) as double) as won_amount
from cells
group by all
