{#-
    Dialect macros (macros/dialect/dates.sql says why): text from dates and paths, record hashes, and failing a query from a row.
-#}

{#- A date as 'YYYY-MM'. -#}
{% macro year_month_text(d) -%}
    {{ return(adapter.dispatch('year_month_text', 'themodel')(d)) }}
{%- endmacro %}
{% macro duckdb__year_month_text(d) -%}strftime({{ d }}, '%Y-%m'){%- endmacro %}
{% macro spark__year_month_text(d) -%}date_format({{ d }}, 'yyyy-MM'){%- endmacro %}

{#- Fails the query with `message` (a string expression) when evaluated; its type fits any CASE branch. -#}
{% macro raise_error(message) -%}
    {{ return(adapter.dispatch('raise_error', 'themodel')(message)) }}
{%- endmacro %}
{% macro duckdb__raise_error(message) -%}error({{ message }}){%- endmacro %}
{% macro spark__raise_error(message) -%}raise_error({{ message }}){%- endmacro %}

{#- The last component of a file path. -#}
{% macro file_name_of(path) -%}
    {{ return(adapter.dispatch('file_name_of', 'themodel')(path)) }}
{%- endmacro %}
{% macro duckdb__file_name_of(path) -%}parse_filename({{ path }}){%- endmacro %}
{% macro spark__file_name_of(path) -%}regexp_extract({{ path }}, '[^/]*$', 0){%- endmacro %}

{#-
    A hash of a record's values (`alias`, a relation of the query; `columns`, its columns): DuckDB's MD5 of the
    row as JSON, as history tables have always stored it, so a record that did not change keeps its hash.
-#}
{% macro record_hash(alias, columns) -%}
    {{ return(adapter.dispatch('record_hash', 'themodel')(alias, columns)) }}
{%- endmacro %}
{% macro duckdb__record_hash(alias, columns) -%}md5(cast(to_json({{ alias }}) as varchar)){%- endmacro %}
{% macro spark__record_hash(alias, columns) -%}
    md5(to_json(struct({% for column in columns %}{{ alias }}.{{ column }}{{ ", " if not loop.last }}{% endfor %})))
{%- endmacro %}
