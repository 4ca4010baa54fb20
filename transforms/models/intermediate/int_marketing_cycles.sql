{{ config(enabled=in_funnel('marketing')) }}

{#-
    Every entry of a lead into marketing: its creation, and each return after inside sales recycled it
    (SFA status `recycled`, dated by disqualified_at). Each entry owns the window of time until the
    lead's next entry; the MQL events in that window are what the entry produced.
-#}

with ma_leads as (
    select * from {{ ref('stg_ma__leads') }}
),

recycled_sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
    where is_recycled and disqualified_at is not null
),

new_leads as (
    select
        ma_lead_id,
        'direct' as entry_type,
        created_at as entered_at,
        cast(null as varchar) as recycled_from_sfa_lead_id,
        source,
        campaign_id
    from ma_leads
),

recycled as (
    select
        recycled_sfa_leads.ma_lead_id,
        'recycled' as entry_type,
        recycled_sfa_leads.disqualified_at as entered_at,
        recycled_sfa_leads.sfa_lead_id as recycled_from_sfa_lead_id,
        ma_leads.source,
        ma_leads.campaign_id
    from recycled_sfa_leads
    inner join ma_leads on recycled_sfa_leads.ma_lead_id = ma_leads.ma_lead_id
),

entries as (
    select * from new_leads
    union all
    select * from recycled
),

sequenced as (
    select
        *,
        row_number() over (
            partition by ma_lead_id order by entered_at, entry_type, recycled_from_sfa_lead_id
        ) as entry_seq
    from entries
)

select
    ma_lead_id || '#' || entry_seq as marketing_entry_id,
    ma_lead_id,
    entry_seq,
    entry_type,
    entered_at,
    lead(entered_at) over (partition by ma_lead_id order by entry_seq) as next_entered_at,
    recycled_from_sfa_lead_id,
    source,
    campaign_id
from sequenced
