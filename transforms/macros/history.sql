{#-
    The history of a staging view's records (models/history): each run appends a version of every record whose
    state changed since its latest version, that is new, or that vanished from the extracts (is_deleted), and
    nothing else, so the table only ever grows and a version once written never changes.

    observed_at is the data time of the load, int_as_of.latest_event_at (never the wall clock), held back from
    going below the table's latest observed_at so a later version is never dated before an earlier one;
    load_number is 1 + the table's highest, so versions observed at one instant resolve to the later load.
    state_hash is an MD5 of the record's JSON (every column, by name), computed from the staging view only.
-#}
{% macro history_versions(current, key) -%}
with current_records as (
    select * from {{ current }}
),

hashed as (
    select
        current_records.*,
        md5(cast(to_json(current_records) as varchar)) as state_hash
    from current_records
),

{% if is_incremental() -%}
kept as (
    select * from {{ this }}
),

latest as (
    select * from kept
    qualify row_number() over (partition by {{ key }} order by observed_at desc, load_number desc) = 1
),

this_load as (
    select
        greatest(as_of.latest_event_at, (select max(kept.observed_at) from kept)) as observed_at,
        coalesce((select max(kept.load_number) from kept), 0) + 1 as load_number
    from {{ ref('int_as_of') }} as as_of
),

versions as (
    select
        hashed.*,
        false as is_deleted
    from hashed
    left join latest on hashed.{{ key }} = latest.{{ key }}
    where latest.{{ key }} is null or latest.is_deleted or latest.state_hash <> hashed.state_hash
    union all by name
    select
        latest.* exclude (observed_at, load_number, is_deleted),
        true as is_deleted
    from latest
    anti join hashed on latest.{{ key }} = hashed.{{ key }}
    where not latest.is_deleted
)
{%- else -%}
this_load as (
    select
        as_of.latest_event_at as observed_at,
        1 as load_number
    from {{ ref('int_as_of') }} as as_of
),

versions as (
    select
        hashed.*,
        false as is_deleted
    from hashed
)
{%- endif %}

select
    versions.* exclude (is_deleted),
    this_load.observed_at,
    this_load.load_number,
    versions.is_deleted
from versions
cross join this_load
{%- endmacro %}


{#-
    A history table's records as they stood at the as-of instant: each record's version valid then (the latest
    observed_at on or before it, then the highest load_number), or its first version when the as-of precedes every
    version (the history starts with the first load, and a record first loaded later existed before it); records
    deleted by then are left out. Without FUNNEL_AS_OF (var as_of empty) the as-of is the latest event and the
    latest versions are the staging view, which is read directly.
-#}
{% macro records_as_of(history, current, key) -%}
-- depends_on: {{ ref('int_as_of') }}
{%- if var('as_of') %}
with versions as (
    select
        history.*,
        history.observed_at <= as_of.as_of as is_observed
    from {{ history }} as history
    cross join {{ ref('int_as_of') }} as as_of
),

valid as (
    select * from versions
    qualify row_number() over (
        partition by {{ key }}
        order by
            is_observed desc,
            case when is_observed then observed_at end desc nulls last,
            case when is_observed then load_number end desc nulls last,
            observed_at asc,
            load_number asc
    ) = 1
)

select * exclude (state_hash, observed_at, load_number, is_deleted, is_observed)
from valid
where not is_deleted
{%- else %}
select * from {{ current }}
{%- endif %}
{%- endmacro %}
