{#-
    One row per record of an extracted table, the newest: the extracted layer keeps every row of every file
    loaded, so a record several files carry resolves here to the row modified last (a source's
    last_modified column), else the one in the file whose name sorts last, then its later row
    (docs/sources.md, "Duplicates"). The rows keep two extra columns, _modified_at and _version_rank;
    a staging model selects the columns it names.
-#}
{% macro newest_records(relation, key) -%}
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
        from {{ relation }}
    ) as ranked_versions
    where _version_rank = 1
{%- endmacro %}
