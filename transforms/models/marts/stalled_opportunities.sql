{#-
    New-business opportunities open at the as-of instant that have not changed for longer than their stage's
    stalled_after_days (sales_pipeline.yml): the days since the change that began the opportunity's latest version
    of int_opportunity_states. A stage sales_pipeline.yml does not list has no limit, so it is never stalled.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with as_of as (
    select as_of from {{ ref('int_as_of') }}
),

open_opportunities as (
    select
        opportunities.opportunity_id,
        opportunities.owner_id
    from {{ ref('int_opportunities_as_of') }} as opportunities
    cross join as_of
    where
        opportunities.opportunity_type = 'new_business'
        and opportunities.created_at <= as_of.as_of
        and not coalesce(opportunities.is_closed and opportunities.closed_at <= as_of.as_of, false)
),

ranked_versions as (
    select
        opportunity_id,
        valid_from,
        stage_name,
        amount,
        close_date,
        history_source,
        row_number() over (partition by opportunity_id order by version desc) as version_order
    from {{ ref('int_opportunity_states') }}
),

latest_versions as (
    select * from ranked_versions
    where version_order = 1
),

aged as (
    select
        open_opportunities.opportunity_id,
        open_opportunities.owner_id,
        latest_versions.stage_name,
        stages.position,
        cast(latest_versions.amount as decimal(18, 2)) as amount,
        latest_versions.close_date,
        latest_versions.valid_from as last_changed_at,
        {{ days_between('latest_versions.valid_from', 'as_of.as_of') }} as days_since_change,
        stages.stalled_after_days,
        latest_versions.history_source
    from open_opportunities
    inner join latest_versions on open_opportunities.opportunity_id = latest_versions.opportunity_id
    inner join {{ ref('stg_reference__sales_stages') }} as stages on latest_versions.stage_name = stages.stage_name
    cross join as_of
)

select *
from aged
where days_since_change > stalled_after_days
order by days_since_change desc, opportunity_id asc
