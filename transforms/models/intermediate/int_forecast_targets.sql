{{ config(enabled=in_funnel('field_sales')) }}

{#-
    One row per forecast instant and target month (docs/marts.md, "Forecast"): the instants are every week start
    (sales_pipeline_settings.week_start, local midnight in the reporting time zone) from the week of the first
    new-business opportunity to the as-of instant ('week'), and the as-of instant itself ('as_of'); the target
    months are the month of the instant (horizon 0) and the next coverage_months - 1. Per row the new-business
    deals won in the month split by what was known at the instant: won by then (already_won), won from deals
    not created yet (won_later_created); the deals open at the instant are int_forecast_snapshots. The three add
    up to actual_won, the month's wins as of the as-of instant (final once month_ended).
-#}

with settings as (
    select
        week_start,
        coverage_months
    from {{ ref('stg_reference__sales_pipeline_settings') }}
),

as_of as (
    select
        as_of,
        cast({{ local_time('as_of') }} as date) as as_of_date
    from {{ ref('int_as_of') }}
),

deals as (
    select
        received_at as created_at,
        advanced_at as won_at,
        {{ month_start('advanced_at') }} as won_month,
        amount
    from {{ ref('field_sales_entries') }}
),

-- the week starts from the first on or after the first deal's day (the week start of the day six days later)
weeks as (
    {{ period_spine(
        "select " ~ week_start_of("first_day + 6", "settings.week_start")
            ~ " from (select cast(" ~ local_time('min(created_at)') ~ " as date) as first_day from deals)"
            ~ " cross join settings",
        "select as_of_date from as_of",
        "interval 7 day",
    ) }}
),

instants as (
    select
        'week' as snapshot_kind,
        {{ date_to_instant('weeks.period_start') }} as snapshot_at,
        weeks.period_start as snapshot_date
    from weeks
    cross join settings
    -- without deals the spine is the as-of day alone
    where {{ iso_weekday('weeks.period_start') }} = settings.week_start
    union all
    select
        'as_of' as snapshot_kind,
        as_of as snapshot_at,
        as_of_date as snapshot_date
    from as_of
),

targets as (
    select
        instants.snapshot_kind,
        instants.snapshot_at,
        instants.snapshot_date,
        least(3, {{ int_div('day(instants.snapshot_date) - 1', 7) }}) as week_of_month,
        horizons.horizon,
        {{ add_months(first_of_month('instants.snapshot_date'), 'horizons.horizon') }} as target_month
    from instants
    cross join settings
    cross join {{ integer_series('0', 'settings.coverage_months - 1', 'horizons', 'horizon') }}
),

target_ends as (
    select
        targets.*,
        {{ date_to_instant('targets.target_month + interval 1 month') }} as target_month_end
    from targets
)

select
    target_ends.snapshot_kind,
    target_ends.snapshot_at,
    target_ends.snapshot_date,
    target_ends.week_of_month,
    target_ends.horizon,
    target_ends.target_month,
    target_ends.target_month_end,
    target_ends.target_month_end <= as_of.as_of as month_ended,
    count(deals.won_at) filter (where deals.won_at <= target_ends.snapshot_at) as already_won_deals,
    coalesce(sum(deals.amount) filter (where deals.won_at <= target_ends.snapshot_at), 0) as already_won_amount,
    count(deals.won_at) filter (where deals.created_at > target_ends.snapshot_at) as won_later_created_deals,
    coalesce(sum(deals.amount) filter (where deals.created_at > target_ends.snapshot_at), 0)
        as won_later_created_amount,
    cast(coalesce(
        sum({{ amount_squared("deals.amount") }}) filter (where deals.created_at > target_ends.snapshot_at),
        0
    ) as double) as won_later_created_amount_squared,
    count(deals.won_at) as actual_won_deals,
    coalesce(sum(deals.amount), 0) as actual_won_amount
from target_ends
cross join as_of
left join deals on target_ends.target_month = deals.won_month
group by all
