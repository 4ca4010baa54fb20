{#-
    Every opportunity's states over its life up to the as-of, the one timeline the pipeline marts read (stage
    durations, waterfall, coverage, forecast). One row per opportunity and version, in data time:

    - the SFA's own history (stg_sfa__opportunity_history) where the opportunity has rows there: each row holds
      the values right after a change; a value it leaves empty carries the previous row's forward, and one no row
      gave yet is the as-of record's (int_opportunities_as_of);
    - else the snapshots (history_sfa_opportunities): the state kept at each load, as fine as the loads.

    Changes after the as-of are left out, except that the first row (or snapshot) always counts: it holds the
    earliest values known. The first version starts at the opportunity's created_at, the values of its first row
    moved back to then; a change dated before created_at counts at created_at, the last of them winning.
    Consecutive rows with the same values (a change to a column this model does not carry) are one version.
    Amounts are in the reporting currency at the rate of the month the opportunity was created in, one rate for
    the whole deal, so an amount changes only when the SFA's amount does. Whether and when the opportunity is
    open comes from int_opportunities_as_of (created_at, closed_at), not from here.
-#}

with as_of as (
    select as_of from {{ ref('int_as_of') }}
),

opportunities as (
    select * from {{ ref('int_opportunities_as_of') }}
),

changes as (
    select
        changes.opportunity_id,
        changes.changed_at,
        changes.stage_name,
        changes.amount_original,
        changes.currency,
        changes.close_date,
        changes.probability,
        changes.forecast_category
    from {{ ref('stg_sfa__opportunity_history') }} as changes
    inner join opportunities on changes.opportunity_id = opportunities.opportunity_id
    cross join as_of
    qualify
        changes.changed_at <= as_of.as_of
        or row_number() over (partition by changes.opportunity_id order by changes.changed_at) = 1
),

carried as (
    select
        changes.opportunity_id,
        changes.changed_at,
        coalesce(
            last_value(changes.stage_name ignore nulls) over carried_forward, opportunities.stage_name
        ) as stage_name,
        coalesce(
            last_value(changes.amount_original ignore nulls) over carried_forward, opportunities.amount_original
        ) as amount_original,
        coalesce(last_value(changes.currency ignore nulls) over carried_forward, opportunities.currency) as currency,
        coalesce(
            last_value(changes.close_date ignore nulls) over carried_forward, opportunities.close_date
        ) as close_date,
        coalesce(
            last_value(changes.probability ignore nulls) over carried_forward, opportunities.probability
        ) as probability,
        coalesce(
            last_value(changes.forecast_category ignore nulls) over carried_forward, opportunities.forecast_category
        ) as forecast_category,
        'opportunity_history' as history_source,
        0 as load_number
    from changes
    inner join opportunities on changes.opportunity_id = opportunities.opportunity_id
    window carried_forward as (
        partition by changes.opportunity_id
        order by changes.changed_at
        rows between unbounded preceding and current row
    )
),

snapshots as (
    select
        snapshots.opportunity_id,
        snapshots.observed_at as changed_at,
        snapshots.stage_name,
        snapshots.amount_original,
        snapshots.currency,
        snapshots.close_date,
        snapshots.probability,
        snapshots.forecast_category,
        'snapshots' as history_source,
        snapshots.load_number
    from {{ ref('history_sfa_opportunities') }} as snapshots
    inner join opportunities on snapshots.opportunity_id = opportunities.opportunity_id
    anti join changes on snapshots.opportunity_id = changes.opportunity_id
    cross join as_of
    where not snapshots.is_deleted
    qualify
        snapshots.observed_at <= as_of.as_of
        or row_number() over (
            partition by snapshots.opportunity_id order by snapshots.observed_at, snapshots.load_number
        ) = 1
),

observed as (
    select * from carried
    union all
    select * from snapshots
),

dated as (
    select
        observed.*,
        opportunities.created_at,
        case
            when
                row_number() over (
                    partition by observed.opportunity_id order by observed.changed_at, observed.load_number
                ) = 1
                then opportunities.created_at
            else greatest(observed.changed_at, opportunities.created_at)
        end as valid_from
    from observed
    inner join opportunities on observed.opportunity_id = opportunities.opportunity_id
),

instants as (
    select * from dated
    qualify
        row_number() over (
            partition by opportunity_id, valid_from order by changed_at desc, load_number desc
        ) = 1
),

versions as (
    select * from instants
    qualify
        row(stage_name, amount_original, currency, close_date, probability, forecast_category)
        is distinct from lag(row(stage_name, amount_original, currency, close_date, probability, forecast_category))
            over (partition by opportunity_id order by valid_from)
),

priced as (
    select
        versions.*,
        {{ month_start('versions.created_at') }} as rate_month
    from versions
),

converted as (
    {{ converted_to_reporting_currency('priced', 'amount_original', 'opportunity', 'opportunity_id') }}
)

select
    converted.opportunity_id,
    cast(row_number() over (partition by converted.opportunity_id order by converted.valid_from) as integer)
        as version,
    converted.valid_from,
    lead(converted.valid_from) over (partition by converted.opportunity_id order by converted.valid_from)
        as valid_to,
    converted.stage_name,
    converted.converted_amount_original as amount,
    converted.amount_original,
    converted.currency,
    converted.close_date,
    converted.probability,
    converted.forecast_category,
    converted.history_source
from converted
cross join as_of
where converted.valid_from <= as_of.as_of
