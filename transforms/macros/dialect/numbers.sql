{#-
    Dialect macros (macros/dialect/dates.sql says why): arithmetic and row values the engines spell differently.
-#}

{#- Integer division, truncating toward zero. -#}
{% macro int_div(a, b) -%}
    {{ return(adapter.dispatch('int_div', 'themodel')(a, b)) }}
{%- endmacro %}
{% macro duckdb__int_div(a, b) -%}(({{ a }}) // ({{ b }})){%- endmacro %}
{% macro spark__int_div(a, b) -%}(({{ a }}) div ({{ b }})){%- endmacro %}

{#- Several values as one, compared field by field (`is distinct from`, lag): a row value. -#}
{% macro row_value(expressions) -%}
    {{ return(adapter.dispatch('row_value', 'themodel')(expressions)) }}
{%- endmacro %}
{% macro duckdb__row_value(expressions) -%}row({{ expressions | join(', ') }}){%- endmacro %}
{% macro spark__row_value(expressions) -%}struct({{ expressions | join(', ') }}){%- endmacro %}
