{{ config(
    enabled=in_funnel('marketing'),
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='ma_lead_id',
    on_schema_change='sync_all_columns',
    pre_hook="{{ incremental_reset() }}",
    post_hook="{{ incremental_save() }}",
) }}
-- depends_on: {{ ref('stg_sfa__leads') }}

{#-
    Every entry of a lead into marketing: its creation, and each return after inside sales recycled it
    (SFA status `recycled`, dated by disqualified_at). Each entry owns the window of time until the
    lead's next entry; the MQL events in that window are what the entry produced, the first of them its
    hand-over. Nothing here depends on the as-of instant (marketing_entries projects it there), so the
    table is incremental (macros/incremental.sql): a run recomputes only the leads the newly loaded files
    touch, from those leads' extracted rows alone, and everything when its rows could differ from a rebuild.
-#}
{%- set watermark = incremental_watermark() %}

with
{%- if watermark is not none %}
-- The MA leads whose entries the files loaded since the last build can change: leads and MQL events in those
-- files, and the MA leads that the SFA leads in those files name now or named in any earlier version.
touched_sfa_leads as (
    select lead_id from {{ source('sfa', 'leads') }}
    where {{ loaded_after(source('sfa', 'leads'), watermark) }}
),

touched as (
    select lead_id as ma_lead_id from {{ source('ma', 'leads') }}
    where {{ loaded_after(source('ma', 'leads'), watermark) }}
    union
    select lead_id as ma_lead_id from {{ source('ma', 'mql_events') }}
    where {{ loaded_after(source('ma', 'mql_events'), watermark) }}
    union
    select ma_lead_id from {{ source('sfa', 'leads') }}
    where lead_id in (select touched_sfa_leads.lead_id from touched_sfa_leads) and ma_lead_id is not null
),

-- every SFA lead that names a touched MA lead in any version (its newest version decides below)
naming_sfa_leads as (
    select lead_id from {{ source('sfa', 'leads') }}
    where ma_lead_id in (select touched.ma_lead_id from touched)
),

-- the staging (macros/staging.sql) of every extracted row of those records only; FUNNEL_AS_OF is empty here, so
-- the SFA leads as of the as-of instant are the newest versions (int_sfa_leads_as_of)
ma_leads as (
    {{ staged_ma_leads(
        "(select * from " ~ source('ma', 'leads') ~ " where lead_id in (select touched.ma_lead_id from touched))"
    ) }}
),

sfa_leads as (
    {{ staged_sfa_leads(
        "(select * from " ~ source('sfa', 'leads')
        ~ " where lead_id in (select naming_sfa_leads.lead_id from naming_sfa_leads))"
    ) }}
),

mql_events as (
    {{ staged_ma_mql_events(
        "(select * from " ~ source('ma', 'mql_events')
        ~ " where lead_id in (select touched.ma_lead_id from touched))"
    ) }}
),
{%- else %}
ma_leads as (
    select * from {{ ref('stg_ma__leads') }}
),

sfa_leads as (
    select * from {{ ref('int_sfa_leads_as_of') }}
),

mql_events as (
    select * from {{ ref('stg_ma__mql_events') }}
),
{%- endif %}

recycled_sfa_leads as (
    select * from sfa_leads
    where is_recycled and disqualified_at is not null
),

new_leads as (
    select
        ma_lead_id,
        'direct' as entry_type,
        created_at as entered_at,
        cast(null as string) as recycled_from_sfa_lead_id,
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

-- A lead never recycled has one entry, its creation, whose window is all of its time: only the entries of
-- recycled leads, a few, are sequenced and windowed by sorting them. (A lead is recycled exactly when an SFA lead
-- naming it is: every lead here is one of ma_leads, which is all the join in `recycled` adds.)
single_windows as (
    select
        ma_lead_id,
        cast(1 as bigint) as entry_seq,
        entry_type,
        entered_at,
        cast(null as {{ instant_type() }}) as next_entered_at,
        recycled_from_sfa_lead_id,
        source,
        campaign_id
    from new_leads
    where not exists (
            select 1 from recycled_sfa_leads
            where recycled_sfa_leads.ma_lead_id = new_leads.ma_lead_id
        )
),

cycling_entries as (
    select * from new_leads
    where exists (
            select 1 from recycled_sfa_leads
            where recycled_sfa_leads.ma_lead_id = new_leads.ma_lead_id
        )
    union all
    select * from recycled
),

sequenced as (
    select
        *,
        row_number() over (
            partition by ma_lead_id order by entered_at, entry_type, recycled_from_sfa_lead_id
        ) as entry_seq
    from cycling_entries
),

windows as (
    select * from single_windows
    union all
    select
        ma_lead_id,
        entry_seq,
        entry_type,
        entered_at,
        lead(entered_at) over (partition by ma_lead_id order by entry_seq) as next_entered_at,
        recycled_from_sfa_lead_id,
        source,
        campaign_id
    from sequenced
),

first_mql_per_entry as (
    select
        windows.ma_lead_id,
        windows.entry_seq,
        min(mql_events.mql_at) as mql_at,
        {{ value_at_min("mql_events.mql_event_id", "mql_events.mql_at") }} as mql_event_id
    from windows
    inner join mql_events
        on mql_events.ma_lead_id = windows.ma_lead_id
        -- an MQL stamped before the lead was created still belongs to its first entry
        and (windows.entered_at <= mql_events.mql_at or windows.entry_seq = 1)
        and (windows.next_entered_at is null or windows.next_entered_at > mql_events.mql_at)
    group by windows.ma_lead_id, windows.entry_seq
)

select
    windows.ma_lead_id || '#' || windows.entry_seq as marketing_entry_id,
    windows.ma_lead_id,
    windows.entry_seq,
    windows.entry_type,
    windows.entered_at,
    windows.next_entered_at,
    windows.recycled_from_sfa_lead_id,
    windows.source,
    windows.campaign_id,
    first_mql_per_entry.mql_event_id,
    first_mql_per_entry.mql_at
from windows
left join first_mql_per_entry
    on windows.ma_lead_id = first_mql_per_entry.ma_lead_id and windows.entry_seq = first_mql_per_entry.entry_seq
