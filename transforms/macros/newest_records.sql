{#-
    One row per record of an extracted table, the newest: the extracted layer keeps every row of every file
    loaded, so a record several files carry resolves here to the row modified last (a source's
    last_modified column), else the one in the file whose name sorts last, then its later row
    (docs/sources.md, "Duplicates").
-#}
{% macro newest_records(relation, key) -%}
    select * exclude (_modified_at)
    from {{ relation }}
    qualify row_number() over (
        partition by {{ key | join(', ') }}
        order by _modified_at desc nulls last, parse_filename(_source_file) desc, _source_file desc, _source_row desc
    ) = 1
{%- endmacro %}
