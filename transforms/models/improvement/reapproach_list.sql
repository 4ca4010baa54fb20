{#-
    失注の再アプローチ: every closed-lost new-business opportunity and every recycled or disqualified SFA lead,
    with the date it becomes eligible for another approach (lost date + the wait for its reason, from
    improvement.yml: reapproach.wait_days_by_reason, else reapproach.default_wait_days) and what happened since:
    a later new-business opportunity on the same account (for a lost deal) or a later SFA lead for the
    same MA lead (for a lead) is a re-approach; the first of them is the record's re-approach, won when that
    opportunity, or the one that later lead converted into, was closed won by the as-of instant (so a win
    counts for the loss right before it, not for every earlier loss too).
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with field_sales as (
    select * from {{ ref('field_sales_entries') }}
),

inside_sales as (
    select * from {{ ref('inside_sales_entries') }}
),

as_of as (
    select cast({{ local_time('as_of') }} as date) as as_of_date from {{ ref('int_as_of') }}
),

waits as (
    select * from {{ ref('stg_reference__reapproach_waits') }}
),

settings as (
    select * from {{ ref('stg_reference__improvement_settings') }}
),

lost_deals as (
    select
        'lost_opportunity' as kind,
        opportunity_id as record_id,
        account_id,
        cast(null as string) as ma_lead_id,
        owner_id,
        amount,
        amount_original,
        currency,
        dropped_reason as reason,
        dropped_at as lost_at,
        source,
        segment,
        industry
    from field_sales
    where outcome = 'dropped'
),

lost_leads as (
    select
        case when is_recycled then 'recycled_lead' else 'disqualified_lead' end as kind,
        sfa_lead_id as record_id,
        cast(null as string) as account_id,
        ma_lead_id,
        owner_id,
        cast(null as decimal(18, 2)) as amount,
        cast(null as decimal(18, 2)) as amount_original,
        cast(null as string) as currency,
        dropped_reason as reason,
        dropped_at as lost_at,
        source,
        segment,
        industry
    from inside_sales
    where outcome = 'dropped'
),

deal_retries as (
    select
        lost_deals.record_id,
        min(later.entered_at) as reapproached_at,
        {{ value_at_min("later.opportunity_id", "later.entered_at") }} as reapproach_opportunity_id,
        {{ value_at_min("later.outcome = 'advanced'", 'later.entered_at') }} as reapproach_won,
        max(later.entered_at) as last_activity_at
    from lost_deals
    inner join field_sales as later
        on lost_deals.account_id = later.account_id and lost_deals.lost_at < later.entered_at
    group by all
),

lead_retries as (
    select
        lost_leads.record_id,
        min(later.entered_at) as reapproached_at,
        {{ value_at_min("later.converted_opportunity_id", "later.entered_at") }} as reapproach_opportunity_id,
        {{ value_at_min("coalesce(won.outcome = 'advanced', false)", 'later.entered_at') }} as reapproach_won,
        max(later.entered_at) as last_activity_at
    from lost_leads
    inner join inside_sales as later
        on lost_leads.ma_lead_id = later.ma_lead_id and lost_leads.lost_at < later.entered_at
    left join field_sales as won on later.converted_opportunity_id = won.opportunity_id
    group by all
),

candidates as (
    select
        lost_deals.*,
        deal_retries.reapproached_at,
        deal_retries.reapproach_opportunity_id,
        deal_retries.reapproach_won,
        deal_retries.last_activity_at
    from lost_deals
    left join deal_retries on lost_deals.record_id = deal_retries.record_id
    union all
    select
        lost_leads.*,
        lead_retries.reapproached_at,
        lead_retries.reapproach_opportunity_id,
        lead_retries.reapproach_won,
        lead_retries.last_activity_at
    from lost_leads
    left join lead_retries on lost_leads.record_id = lead_retries.record_id
),

scheduled as (
    select
        candidates.*,
        coalesce(waits.wait_days, settings.reapproach_default_wait_days) as wait_days,
        {{ add_days(
            'cast(' ~ local_time('candidates.lost_at') ~ ' as date)',
            'coalesce(waits.wait_days, settings.reapproach_default_wait_days)'
        ) }} as eligible_on,
        as_of.as_of_date
    from candidates
    cross join as_of
    cross join settings
    left join waits on waits.reason = lower(candidates.reason)
)

select
    kind,
    record_id,
    account_id,
    ma_lead_id,
    owner_id,
    amount,
    amount_original,
    currency,
    reason,
    lost_at,
    greatest(lost_at, last_activity_at) as last_activity_at,
    wait_days,
    eligible_on,
    case
        when reapproached_at is not null then 'reapproached'
        when eligible_on <= as_of_date then 'eligible'
        else 'waiting'
    end as status,
    reapproached_at,
    reapproach_opportunity_id,
    coalesce(reapproach_won, false) as reapproach_won,
    source,
    segment,
    industry
from scheduled
order by eligible_on, kind, record_id
