{#-
    Dialect macros (macros/dialect/dates.sql says why): aggregates and window functions the engines name differently.
-#}

{#-
    The value of `value` on the row where `key` is least (DuckDB arg_min, Spark min_by); rows whose key or value
    is NULL are skipped. A key of several columns is a list of expressions, compared in order.
-#}
{% macro value_at_min(value, key) -%}
    {{ return(adapter.dispatch('value_at_min', 'themodel')(value, key)) }}
{%- endmacro %}
{% macro duckdb__value_at_min(value, key) -%}arg_min({{ value }}, {{ themodel.dialect_key(key) }}){%- endmacro %}
{% macro spark__value_at_min(value, key) -%}
    min_by({{ value }}, case when {{ value }} is not null then {{ themodel.dialect_key(key) }} end)
{%- endmacro %}

{#- The value of `value` on the row where `key` is greatest (DuckDB arg_max, Spark max_by). -#}
{% macro value_at_max(value, key) -%}
    {{ return(adapter.dispatch('value_at_max', 'themodel')(value, key)) }}
{%- endmacro %}
{% macro duckdb__value_at_max(value, key) -%}arg_max({{ value }}, {{ themodel.dialect_key(key) }}){%- endmacro %}
{% macro spark__value_at_max(value, key) -%}
    max_by({{ value }}, case when {{ value }} is not null then {{ themodel.dialect_key(key) }} end)
{%- endmacro %}

{#- As value_at_min, but a NULL value on the least key's row is the result (DuckDB arg_min_null). -#}
{% macro value_or_null_at_min(value, key) -%}
    {{ return(adapter.dispatch('value_or_null_at_min', 'themodel')(value, key)) }}
{%- endmacro %}
{% macro duckdb__value_or_null_at_min(value, key) -%}
    arg_min_null({{ value }}, {{ themodel.dialect_key(key) }})
{%- endmacro %}
{% macro spark__value_or_null_at_min(value, key) -%}
    min_by({{ value }}, {{ themodel.dialect_key(key) }})
{%- endmacro %}

{#- As value_at_max, but a NULL value on the greatest key's row is the result (DuckDB arg_max_null). -#}
{% macro value_or_null_at_max(value, key) -%}
    {{ return(adapter.dispatch('value_or_null_at_max', 'themodel')(value, key)) }}
{%- endmacro %}
{% macro duckdb__value_or_null_at_max(value, key) -%}
    arg_max_null({{ value }}, {{ themodel.dialect_key(key) }})
{%- endmacro %}
{% macro spark__value_or_null_at_max(value, key) -%}
    max_by({{ value }}, {{ themodel.dialect_key(key) }})
{%- endmacro %}

{#- A sort key of one expression, or of several compared in order (a row value). -#}
{% macro dialect_key(key) -%}
    {{ return(adapter.dispatch('dialect_key', 'themodel')(key)) }}
{%- endmacro %}
{% macro duckdb__dialect_key(key) -%}
    {%- if key is string -%}{{ key }}{%- else -%}({{ key | join(', ') }}){%- endif -%}
{%- endmacro %}
{% macro spark__dialect_key(key) -%}
    {#- Spark orders a NULL field of a struct first, DuckDB a NULL of a row value last: a flag sorts it last. -#}
    {%- if key is string -%}{{ key }}{%- else -%}
        struct({% for part in key %}{{ part }} is null, {{ part }}{{ ", " if not loop.last }}{% endfor %})
    {%- endif -%}
{%- endmacro %}

{#- The continuous quantile `fraction` of a column: linear interpolation between the two nearest ranks. -#}
{% macro continuous_quantile(value, fraction) -%}
    {{ return(adapter.dispatch('continuous_quantile', 'themodel')(value, fraction)) }}
{%- endmacro %}
{% macro duckdb__continuous_quantile(value, fraction) -%}quantile_cont({{ value }}, {{ fraction }}){%- endmacro %}
{% macro spark__continuous_quantile(value, fraction) -%}percentile({{ value }}, {{ fraction }}){%- endmacro %}

{#- In a window (`{{ last_non_null('x') }} over w`): the last non-NULL value of `value` in the frame. -#}
{% macro last_non_null(value) -%}
    {{ return(adapter.dispatch('last_non_null', 'themodel')(value)) }}
{%- endmacro %}
{% macro duckdb__last_non_null(value) -%}last_value({{ value }} ignore nulls){%- endmacro %}
{% macro spark__last_non_null(value) -%}last_value({{ value }}, true){%- endmacro %}

{#- Some non-NULL value of the group (NULL when every value is). -#}
{% macro any_non_null(value) -%}
    {{ return(adapter.dispatch('any_non_null', 'themodel')(value)) }}
{%- endmacro %}
{% macro duckdb__any_non_null(value) -%}any_value({{ value }}){%- endmacro %}
{% macro spark__any_non_null(value) -%}any_value({{ value }}, true){%- endmacro %}
