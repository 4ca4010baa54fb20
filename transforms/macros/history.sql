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
    {{ return(adapter.dispatch('history_versions', 'themodel')(current, key)) }}
{%- endmacro %}

{#- DuckDB: the record's columns by star (union by name keeps a column staging gained later in its place). -#}
{% macro duckdb__history_versions(current, key) -%}
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

{#- Spark (no `* exclude`, no union by name): the staging view's columns, named. -#}
{% macro spark__history_versions(current, key) -%}
{%- set types = columns_types(current) -%}
{%- set columns = types.keys() | list -%}
{%- set kept_columns = columns_types(this).keys() | list if is_incremental() else [] -%}
with current_records as (
    select * from {{ current }}
),

hashed as (
    select
        current_records.*,
        md5(to_json(struct(
            {%- for column in columns %}current_records.{{ column }}{{ ", " if not loop.last }}{% endfor -%}
        ))) as state_hash
    from current_records
),

{% if is_incremental() -%}
kept as (
    select * from {{ this }}
),

ranked as (
    select
        kept.*,
        row_number() over (partition by kept.{{ key }} order by kept.observed_at desc, kept.load_number desc)
            as version_rank
    from kept
),

latest as (
    select * from ranked
    where version_rank = 1
),

this_load as (
    select
        greatest(as_of.latest_event_at, (select max(kept.observed_at) from kept)) as observed_at,
        coalesce((select max(kept.load_number) from kept), 0) + 1 as load_number
    from {{ ref('int_as_of') }} as as_of
),

versions as (
    select
        {%- for column in columns %}
        hashed.{{ column }},
        {%- endfor %}
        hashed.state_hash,
        false as is_deleted
    from hashed
    left join latest on hashed.{{ key }} = latest.{{ key }}
    where latest.{{ key }} is null or latest.is_deleted or latest.state_hash <> hashed.state_hash
    union all
    select
        {#- a column staging gained since the table's last load is not in the table yet: NULL -#}
        {%- for column in columns %}
        {{ 'latest.' ~ column if column in kept_columns else 'cast(null as ' ~ types[column] ~ ')' }}
            as {{ column }},
        {%- endfor %}
        latest.state_hash,
        true as is_deleted
    from latest
    where
        not latest.is_deleted
        and not exists (select 1 from hashed where hashed.{{ key }} = latest.{{ key }})
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
    {%- for column in columns %}
    versions.{{ column }},
    {%- endfor %}
    versions.state_hash,
    this_load.observed_at,
    this_load.load_number,
    versions.is_deleted
from versions
cross join this_load
{%- endmacro %}


{#-
    The types of a relation's columns, by name, in the relation's order (a history table holds its staging view's
    columns, then its own).
-#}
{% macro columns_types(relation) -%}
    {%- set types = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do types.update({column.name: column.data_type}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{- return(types) -}}
{%- endmacro %}


{#-
    A history table's records as they stood at the as-of instant: each record's version valid then (the latest
    observed_at on or before it, then the highest load_number), or its first version when the as-of precedes every
    version (the history starts with the first load, and a record first loaded later existed before it); records
    deleted by then are left out. Without FUNNEL_AS_OF (var as_of empty) the as-of is the latest event and the
    latest versions are the staging view, which is read directly.
-#}
{% macro records_as_of(history, current, key) -%}
    {{ return(adapter.dispatch('records_as_of', 'themodel')(history, current, key)) }}
{%- endmacro %}

{% macro duckdb__records_as_of(history, current, key) -%}
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

{% macro spark__records_as_of(history, current, key) -%}
-- depends_on: {{ ref('int_as_of') }}
{%- if var('as_of') %}
{%- set columns = columns_types(current).keys() | list %}
with versions as (
    select
        history.*,
        history.observed_at <= as_of.as_of as is_observed
    from {{ history }} as history
    cross join {{ ref('int_as_of') }} as as_of
),

ranked as (
    select
        versions.*,
        row_number() over (
            partition by versions.{{ key }}
            order by
                versions.is_observed desc,
                case when versions.is_observed then versions.observed_at end desc nulls last,
                case when versions.is_observed then versions.load_number end desc nulls last,
                versions.observed_at asc,
                versions.load_number asc
        ) as version_rank
    from versions
)

select
    {%- for column in columns %}
    {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
from ranked
where version_rank = 1 and not is_deleted
{%- else %}
select * from {{ current }}
{%- endif %}
{%- endmacro %}
