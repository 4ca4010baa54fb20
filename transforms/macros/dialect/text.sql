{#-
    Dialect macros (macros/dialect/dates.sql says why): text from dates and paths, and failing a query from a row.
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

