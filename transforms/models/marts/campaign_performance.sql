{#-
    Campaign performance by first touch: per month, source (channel) and campaign, the leads a campaign brought
    and everything they went on to do by the as-of instant, against the marketing spend of that campaign, source
    and month. A lead belongs, for good, to the month it first entered marketing and to the source and campaign
    ma_leads gives it (first-touch attribution): its later MQLs (also after a recycle), the new-business
    opportunities of its SFA leads and their won deals and amounts all count there, however late they come. The
    counts are read from the stage tables, so per campaign they add up to marts.funnel_kpi_by_slice.
    Spend (stg_ma__spend, cost_type 'marketing') is matched on month, source and campaign_id, a NULL campaign_id
    with a NULL one: channel spend with no campaign meets the channel's leads without a campaign. A month, source
    and campaign with spend but no lead is listed too. Where there is no spend, spend and every ratio built on it
    are NULL, never 0; so is a ratio whose denominator is 0. Without a marketing stage (a company with no MA)
    there is no first touch to attribute, and the mart is empty.
-#}
{%- set attributable = in_funnel('marketing') and in_funnel('inside_sales') and in_funnel('field_sales') %}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
{%- if attributable %}
with marketing as (
    select * from {{ ref('marketing_entries') }}
),

as_of as (
    select
        as_of,
        {{ month_start('as_of') }} as as_of_month,
        cast({{ local_time('as_of') }} as date) as as_of_date
    from {{ ref('int_as_of') }}
),

first_touches as (
    -- a lead's first entry into marketing (its creation, or whatever came first) fixes its month and attribution
    select
        ma_lead_id,
        entered_month as period_start,
        source,
        campaign_id
    from marketing
    where entry_seq = 1
),

lead_mqls as (
    select
        ma_lead_id,
        count(*) as mqls
    from marketing
    where outcome = 'advanced'
    group by ma_lead_id
),

lead_opportunities as (
    -- new-business opportunities reach their MA lead through the SFA lead they were converted from
    select
        inside_sales.ma_lead_id,
        count(*) as opportunities,
        {{ count_where("field_sales.outcome = 'advanced'") }} as won_deals,
        sum(field_sales.amount) as pipeline_amount,
        sum(case when field_sales.outcome = 'advanced' then field_sales.amount end) as won_amount
    from {{ ref('field_sales_entries') }} as field_sales
    inner join {{ ref('inside_sales_entries') }} as inside_sales
        on field_sales.sfa_lead_id = inside_sales.sfa_lead_id
    where inside_sales.ma_lead_id is not null
    group by inside_sales.ma_lead_id
),

cohorts as (
    select
        first_touches.period_start,
        first_touches.source,
        first_touches.campaign_id,
        count(*) as leads,
        coalesce(sum(lead_mqls.mqls), 0) as mqls,
        coalesce(sum(lead_opportunities.opportunities), 0) as opportunities,
        coalesce(sum(lead_opportunities.won_deals), 0) as won_deals,
        coalesce(sum(lead_opportunities.pipeline_amount), 0) as pipeline_amount,
        coalesce(sum(lead_opportunities.won_amount), 0) as won_amount
    from first_touches
    left join lead_mqls on first_touches.ma_lead_id = lead_mqls.ma_lead_id
    left join lead_opportunities on first_touches.ma_lead_id = lead_opportunities.ma_lead_id
    group by first_touches.period_start, first_touches.source, first_touches.campaign_id
),

spend as (
    select
        spend_rows.month as period_start,
        spend_rows.source,
        spend_rows.campaign_id,
        sum(spend_rows.amount) as spend
    from {{ ref('stg_ma__spend') }} as spend_rows
    cross join as_of
    where spend_rows.cost_type = 'marketing' and spend_rows.month <= as_of.as_of_month
    group by spend_rows.month, spend_rows.source, spend_rows.campaign_id
),

keys as (
    select
        period_start,
        source,
        campaign_id
    from cohorts
    union
    select
        period_start,
        source,
        campaign_id
    from spend
),

combined as (
    select
        keys.period_start,
        keys.source,
        keys.campaign_id,
        coalesce(cohorts.leads, 0) as leads,
        coalesce(cohorts.mqls, 0) as mqls,
        coalesce(cohorts.opportunities, 0) as opportunities,
        coalesce(cohorts.won_deals, 0) as won_deals,
        coalesce(cohorts.pipeline_amount, 0) as pipeline_amount,
        coalesce(cohorts.won_amount, 0) as won_amount,
        spend.spend
    from keys
    left join cohorts
        on keys.period_start = cohorts.period_start
        and keys.source is not distinct from cohorts.source
        and keys.campaign_id is not distinct from cohorts.campaign_id
    left join spend
        on keys.period_start = spend.period_start
        and keys.source is not distinct from spend.source
        and keys.campaign_id is not distinct from spend.campaign_id
)

select
    combined.period_start,
    combined.source,
    combined.campaign_id,
    cast(combined.leads as bigint) as leads,
    cast(combined.mqls as bigint) as mqls,
    cast(combined.opportunities as bigint) as opportunities,
    cast(combined.won_deals as bigint) as won_deals,
    cast(combined.pipeline_amount as decimal(18, 2)) as pipeline_amount,
    cast(combined.won_amount as decimal(18, 2)) as won_amount,
    cast(combined.spend as decimal(18, 2)) as spend,
    cast(combined.spend as double) / nullif(combined.leads, 0) as cost_per_lead,
    cast(combined.spend as double) / nullif(combined.mqls, 0) as cost_per_mql,
    cast(combined.spend as double) / nullif(combined.opportunities, 0) as cost_per_opportunity,
    cast(combined.spend as double) / nullif(combined.won_deals, 0) as cost_per_won_deal,
    cast(combined.won_amount - combined.spend as double) / nullif(combined.spend, 0) as roi,
    as_of.as_of,
    {{ days_from('combined.period_start', 'as_of.as_of_date') }} as period_age_days
from combined
cross join as_of
order by combined.period_start, combined.source, combined.campaign_id
{%- else %}
select
    cast(null as date) as period_start,
    cast(null as string) as source,
    cast(null as string) as campaign_id,
    cast(null as bigint) as leads,
    cast(null as bigint) as mqls,
    cast(null as bigint) as opportunities,
    cast(null as bigint) as won_deals,
    cast(null as decimal(18, 2)) as pipeline_amount,
    cast(null as decimal(18, 2)) as won_amount,
    cast(null as decimal(18, 2)) as spend,
    cast(null as double) as cost_per_lead,
    cast(null as double) as cost_per_mql,
    cast(null as double) as cost_per_opportunity,
    cast(null as double) as cost_per_won_deal,
    cast(null as double) as roi,
    as_of,
    cast(null as bigint) as period_age_days
from {{ ref('int_as_of') }}
where false
{%- endif %}
