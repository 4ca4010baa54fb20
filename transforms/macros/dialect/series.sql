{#-
    Dialect macros (macros/dialect/dates.sql says why): rows made from a series or a list, which DuckDB writes
    as table functions in FROM and Spark as generators.
-#}

{#-
    Joined to the rows before it (`cross join {{ integer_series(...) }}`): one row per integer from `start` to
    `stop` inclusive, `step` apart, as BIGINT column `column` of relation `alias`; start and stop may read columns of
    the relations joined before.
-#}
{% macro integer_series(start, stop, alias, column, step=1) -%}
    {{ return(adapter.dispatch('integer_series', 'themodel')(start, stop, alias, column, step)) }}
{%- endmacro %}
{% macro duckdb__integer_series(start, stop, alias, column, step) -%}
    generate_series({{ start }}, {{ stop }}, {{ step }}) as {{ alias }} ({{ column }})
{%- endmacro %}
{% macro spark__integer_series(start, stop, alias, column, step) -%}
    {#- sequence() fails on an empty range, where generate_series is empty: no array, no row. -#}
    lateral (
        select explode(
            case
                when {{ stop }} >= {{ start }}
                    then sequence(cast({{ start }} as bigint), cast({{ stop }} as bigint), cast({{ step }} as bigint))
            end
        ) as {{ column }}
    ) as {{ alias }}
{%- endmacro %}

{#-
    One row per period (period_start, a DATE) from the first period to the last, `step` apart (an interval
    literal such as 'interval 1 month'). first_period_query / last_period_query: queries returning one value
    each; an empty history (NULL first period) yields just the last period.
-#}
{% macro period_spine(first_period_query, last_period_query, step) -%}
    {{ return(adapter.dispatch('period_spine', 'themodel')(first_period_query, last_period_query, step)) }}
{%- endmacro %}
{% macro duckdb__period_spine(first_period_query, last_period_query, step) -%}
    select cast(series.period_start as date) as period_start
    from ({{ first_period_query }}) as first_period (value)
    cross join ({{ last_period_query }}) as last_period (value)
    cross join generate_series(
        cast(coalesce(first_period.value, last_period.value) as timestamp),
        cast(last_period.value as timestamp),
        {{ step }}
    ) as series (period_start)
{%- endmacro %}
{% macro spark__period_spine(first_period_query, last_period_query, step) -%}
    {%- set first = "cast(coalesce(first_period.value, last_period.value) as date)" -%}
    {%- set last = "cast(last_period.value as date)" -%}
    select series.period_start
    from ({{ first_period_query }}) as first_period (value)
    cross join ({{ last_period_query }}) as last_period (value)
    lateral view explode(
        case when {{ first }} <= {{ last }} then sequence({{ first }}, {{ last }}, {{ step }}) end
    ) series as period_start
{%- endmacro %}

{#- In a select list: one row per distinct non-NULL value among the expressions (each row's values). -#}
{% macro distinct_values(expressions) -%}
    {{ return(adapter.dispatch('distinct_values', 'themodel')(expressions)) }}
{%- endmacro %}
{% macro duckdb__distinct_values(expressions) -%}
    unnest(list_distinct([{{ expressions | join(', ') }}]))
{%- endmacro %}
{% macro spark__distinct_values(expressions) -%}
    explode(array_distinct(filter(array({{ expressions | join(', ') }}), value -> value is not null)))
{%- endmacro %}
