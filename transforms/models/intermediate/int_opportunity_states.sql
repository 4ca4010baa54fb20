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

carried_changes as (
    select
        changes.opportunity_id,
        changes.changed_at,
        row_number() over carried_forward as change_order,
        coalesce(
            {{ last_non_null("changes.stage_name") }} over carried_forward, opportunities.stage_name
        ) as stage_name,
        coalesce(
            {{ last_non_null("changes.amount_original") }} over carried_forward, opportunities.amount_original
        ) as amount_original,
        coalesce({{ last_non_null("changes.currency") }} over carried_forward, opportunities.currency) as currency,
        coalesce(
            {{ last_non_null("changes.close_date") }} over carried_forward, opportunities.close_date
        ) as close_date,
        coalesce(
            {{ last_non_null("changes.probability") }} over carried_forward, opportunities.probability
        ) as probability,
        coalesce(
            {{ last_non_null("changes.forecast_category") }} over carried_forward, opportunities.forecast_category
        ) as forecast_category,
        'opportunity_history' as history_source,
        0 as load_number
    from {{ ref('stg_sfa__opportunity_history') }} as changes
    inner join opportunities on changes.opportunity_id = opportunities.opportunity_id
    window carried_forward as (
        partition by changes.opportunity_id
        order by changes.changed_at
        rows between unbounded preceding and current row
    )
),

-- Changes after the as-of are left out, but the first. Carrying values forward over every row first gives the kept
-- rows what carrying over the kept rows alone gives: they are the first rows of the window's order.
carried as (
    select
        carried_changes.opportunity_id,
        carried_changes.changed_at,
        carried_changes.stage_name,
        carried_changes.amount_original,
        carried_changes.currency,
        carried_changes.close_date,
        carried_changes.probability,
        carried_changes.forecast_category,
        carried_changes.history_source,
        carried_changes.load_number
    from carried_changes
    cross join as_of
    where carried_changes.changed_at <= as_of.as_of or carried_changes.change_order = 1
),

ranked_snapshots as (
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
        snapshots.load_number,
        row_number() over (
            partition by snapshots.opportunity_id order by snapshots.observed_at, snapshots.load_number
        ) as snapshot_order
    from {{ ref('history_sfa_opportunities') }} as snapshots
    inner join opportunities on snapshots.opportunity_id = opportunities.opportunity_id
    where
        not snapshots.is_deleted
        and not exists (
            select 1 from carried
            where carried.opportunity_id = snapshots.opportunity_id
        )
),

snapshots as (
    select
        ranked_snapshots.opportunity_id,
        ranked_snapshots.changed_at,
        ranked_snapshots.stage_name,
        ranked_snapshots.amount_original,
        ranked_snapshots.currency,
        ranked_snapshots.close_date,
        ranked_snapshots.probability,
        ranked_snapshots.forecast_category,
        ranked_snapshots.history_source,
        ranked_snapshots.load_number
    from ranked_snapshots
    cross join as_of
    where ranked_snapshots.changed_at <= as_of.as_of or ranked_snapshots.snapshot_order = 1
),

observed as (
    select * from carried
    union all
    select * from snapshots
),

-- Observations in order; an instant (valid_from) keeps the last of its observations, the one before the next
-- instant's first. valid_from never decreases along this order: the first observation's is created_at, every
-- other's the later of its changed_at and created_at.
dated as (
    select
        observed.*,
        opportunities.created_at,
        row_number() over observations as observation_order,
        lead(observed.changed_at) over observations as next_changed_at
    from observed
    inner join opportunities on observed.opportunity_id = opportunities.opportunity_id
    window observations as (
        partition by observed.opportunity_id order by observed.changed_at, observed.load_number
    )
),

timed as (
    select
        dated.*,
        case
            when dated.observation_order = 1 then dated.created_at
            else greatest(dated.changed_at, dated.created_at)
        end as valid_from
    from dated
),

instants as (
    select
        timed.*,
        {{ row_value(['timed.stage_name', 'timed.amount_original', 'timed.currency', 'timed.close_date',
            'timed.probability', 'timed.forecast_category']) }} as tracked_values
    from timed
    where
        timed.next_changed_at is null
        or greatest(timed.next_changed_at, timed.created_at) is distinct from timed.valid_from
),

compared as (
    select
        instants.*,
        lag(instants.tracked_values) over (partition by instants.opportunity_id order by instants.valid_from)
            as previous_values
    from instants
),

versions as (
    select
        compared.opportunity_id,
        compared.changed_at,
        compared.stage_name,
        compared.amount_original,
        compared.currency,
        compared.close_date,
        compared.probability,
        compared.forecast_category,
        compared.history_source,
        compared.load_number,
        compared.created_at,
        compared.valid_from
    from compared
    where compared.tracked_values is distinct from compared.previous_values
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
