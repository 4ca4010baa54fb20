{#-
    The single as-of instant every stage table and mart is computed at. Events after it are treated
    as not having happened yet, so a past as-of rebuilds a past period to the same numbers.
    var('as_of') (FUNNEL_AS_OF): empty (the latest event in the data), a date (its end, in the reporting zone),
    or a timestamp (with an offset, or else read in the reporting time zone).
-#}
{%- set as_of = var('as_of') -%}

-- One scan of each staging relation (a view that resolves every record's newest version): greatest() of the
-- columns' maxima, which like max() skips NULLs.
with event_times as (
    {%- if has_system('ma') %}
    select max(created_at) as event_at from {{ ref('stg_ma__leads') }}
    union all
    select max(mql_at) as event_at from {{ ref('stg_ma__mql_events') }}
    union all
    {%- endif %}
    select greatest(max(created_at), max(first_contact_at), max(converted_at), max(disqualified_at)) as event_at
    from {{ ref('stg_sfa__leads') }}
    union all
    select greatest(max(created_at), max(closed_at)) as event_at from {{ ref('stg_sfa__opportunities') }}
    union all
    select max(changed_at) as event_at from {{ ref('stg_sfa__opportunity_history') }}
    union all
    select max(onboarded_at) as event_at from {{ ref('stg_crm__customers') }}
    union all
    select max(churned_at) as event_at from {{ ref('stg_crm__contracts') }}
),

latest as (
    select max(event_at) as latest_event_at from event_times
)

select
    {% if not as_of -%}
    latest_event_at as as_of,
    {%- elif as_of | string | length == 10 -%}
    {{ date_to_instant(add_days("cast('" ~ as_of ~ "' as date)", 1)) }} - interval 1 microsecond as as_of,
    {%- elif modules.re.search('(Z|[+-]\\d{2}(:?\\d{2})?)$', as_of | string) -%}
    cast('{{ as_of }}' as {{ instant_type() }}) as as_of,
    {%- else -%}
    {{ date_to_instant("'" ~ as_of ~ "'") }} as as_of,
    {%- endif %}
    latest_event_at,
    '{{ var("reporting_tz") }}' as reporting_tz
from latest
