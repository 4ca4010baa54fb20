{#-
    One row per record of an extracted table, the newest: the extracted layer keeps every row of every file
    loaded, so a record several files carry resolves here to the row modified last (a source's
    last_modified column), else the one in the file whose name sorts last, then its later row
    (docs/sources.md, "Duplicates"). The rows keep two extra columns, _modified_at and _version_rank;
    a staging model selects the columns it names.

    Most records come in one file only (exports carry what was created or changed since the last one), so the
    ranking, a sort of every row by key, runs only over the records with several rows: a record whose key
    appears once is its own newest row, found by a hash aggregate of the key alone. A key with an empty column
    is ranked too, as the window's partition (and the group by) treats empties as equal where a join would not.
    `relation` is a relation, or a parenthesised query, and is read three times.
-#}
{% macro newest_records(relation, key) -%}
    {%- set versioned -%}
        select {{ key | join(', ') }} from {{ relation }} as keyed
        group by {{ key | join(', ') }}
        having count(*) > 1
    {%- endset -%}
    select
        *,
        cast(1 as bigint) as _version_rank
    from {{ relation }} as single_version
    where
        {% for k in key %}single_version.{{ k }} is not null and {% endfor %}not exists (
            select 1 from ({{ versioned }}) as versioned
            where {% for k in key %}{{ 'and ' if not loop.first }}versioned.{{ k }} = single_version.{{ k }} {% endfor %}
        )
    union all
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key | join(', ') }}
                order by
                    _modified_at desc nulls last,
                    {{ file_name_of('_source_file') }} desc,
                    _source_file desc,
                    _source_row desc
            ) as _version_rank
        from {{ relation }} as several_versions
        where
            {% for k in key %}several_versions.{{ k }} is null or {% endfor %}exists (
                select 1 from ({{ versioned }}) as versioned
                where {% for k in key %}{{ 'and ' if not loop.first }}versioned.{{ k }} = several_versions.{{ k }} {% endfor %}
            )
    ) as ranked_versions
    where _version_rank = 1
{%- endmacro %}
