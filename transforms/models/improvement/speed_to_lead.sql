{#-
    Speed to lead: from the MQL's arrival in the SFA (received_at) to inside sales' first contact, per month
    of arrival and owner. The SLA is var('speed_to_lead_sla_business_days') business days (default 1): first
    contact is due at the arrival's time of day that many business days after the arrival day; for an arrival on
    a weekend or holiday the clock starts when the next business day begins (stg_reference__business_calendar), so it
    is due at 00:00 that many business days after that day. A lead not contacted
    by the as-of instant breaches once its deadline has passed.
-#}

{%- set sla_days = var('speed_to_lead_sla_business_days') | int -%}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with leads as (
    select
        sfa_lead_id,
        owner_id,
        {{ local_time('received_at') }} as arrived_local,
        {{ local_time('first_contact_at') }} as contacted_local
    from {{ ref('inside_sales_entries') }}
    where entry_type = 'handover'
),

as_of as (
    select {{ local_time('as_of') }} as as_of_local from {{ ref('int_as_of') }}
),

business_days as (
    select
        day,
        row_number() over (order by day) as business_day_number
    from {{ ref('stg_reference__business_calendar') }}
    where is_business_day
),

calendar as (
    {#- for every day, the number of the business day it counts as: its own, or for a weekend or holiday
        the next business day's (the clock starts then); the N-th business day after it is that number + N -#}
    select
        calendar.day,
        calendar.is_business_day,
        count(business_days.day) over (order by calendar.day rows between unbounded preceding and current row)
        + case when calendar.is_business_day then 0 else 1 end as business_day_number
    from {{ ref('stg_reference__business_calendar') }} as calendar
    left join business_days on calendar.day = business_days.day
),

deadlines as (
    select
        leads.*,
        due_day.day + case
            when arrival.is_business_day then leads.arrived_local - cast(leads.arrived_local as date)
            else interval 0 second
        end as due_local
    from leads
    inner join calendar as arrival on arrival.day = cast(leads.arrived_local as date)
    inner join business_days as due_day
        on due_day.business_day_number = arrival.business_day_number + {{ sla_days }}
)

select
    {{ first_of_month('deadlines.arrived_local') }} as period_start,
    deadlines.owner_id,
    cast(count(*) as bigint) as leads,
    cast(count(deadlines.contacted_local) as bigint) as contacted,
    median({{ seconds_from('deadlines.arrived_local', 'deadlines.contacted_local') }} / 3600.0)
        as median_hours_to_first_contact,
    cast({{ count_where("coalesce(deadlines.contacted_local, as_of.as_of_local) > deadlines.due_local") }} as bigint)
        as sla_breaches,
    cast({{ count_where("coalesce(deadlines.contacted_local, as_of.as_of_local) > deadlines.due_local") }} as double)
    / count(*) as sla_breach_rate
from deadlines
cross join as_of
group by all
order by period_start, deadlines.owner_id
