{#-
    Dialect macros: what DuckDB (the default engine) and Spark (dbt-spark) spell differently lives in
    macros/dialect/, once, as an adapter.dispatch macro with a duckdb__ and a spark__ implementation, so every
    model is written once (docs/scale.md). The DuckDB implementations render the SQL the models always ran.
    tests/test_portable_sql.py fails when a model calls an engine-only function itself.

    This file: time zones, calendar arithmetic and the instant type. Instants are TIMESTAMPTZ in DuckDB and
    TIMESTAMP in Spark (an instant there too, shown in the session time zone, UTC in the profiles); local wall
    times are TIMESTAMP in both.
-#}

{#- The type of an instant. -#}
{% macro instant_type() -%}
    {{ return(adapter.dispatch('instant_type', 'themodel')()) }}
{%- endmacro %}
{% macro duckdb__instant_type() -%}timestamptz{%- endmacro %}
{% macro spark__instant_type() -%}timestamp{%- endmacro %}

{#- An instant after every other: the end of a span still open. -#}
{% macro instant_infinity() -%}
    {{ return(adapter.dispatch('instant_infinity', 'themodel')()) }}
{%- endmacro %}
{% macro duckdb__instant_infinity() -%}cast('infinity' as timestamptz){%- endmacro %}
{% macro spark__instant_infinity() -%}cast('9999-12-31 23:59:59.999999' as timestamp){%- endmacro %}

{#- The local wall time (TIMESTAMP) of an instant in time zone `tz` (a SQL string literal or expression). -#}
{% macro wall_time(ts, tz) -%}
    {{ return(adapter.dispatch('wall_time', 'themodel')(ts, tz)) }}
{%- endmacro %}
{% macro duckdb__wall_time(ts, tz) -%}timezone({{ tz }}, {{ ts }}){%- endmacro %}
{% macro spark__wall_time(ts, tz) -%}cast(from_utc_timestamp({{ ts }}, {{ tz }}) as timestamp_ntz){%- endmacro %}

{#- The instant a local wall time (TIMESTAMP) in time zone `tz` is. -#}
{% macro instant_at(wall, tz) -%}
    {{ return(adapter.dispatch('instant_at', 'themodel')(wall, tz)) }}
{%- endmacro %}
{% macro duckdb__instant_at(wall, tz) -%}timezone({{ tz }}, {{ wall }}){%- endmacro %}
{% macro spark__instant_at(wall, tz) -%}to_utc_timestamp({{ wall }}, {{ tz }}){%- endmacro %}

{#- The first day (a DATE) of the month of a date or wall time. -#}
{% macro first_of_month(d) -%}
    {{ return(adapter.dispatch('first_of_month', 'themodel')(d)) }}
{%- endmacro %}
{% macro duckdb__first_of_month(d) -%}cast(date_trunc('month', {{ d }}) as date){%- endmacro %}
{% macro spark__first_of_month(d) -%}trunc({{ d }}, 'MM'){%- endmacro %}

{#- The first day (a DATE) of the calendar quarter of a date or wall time. -#}
{% macro first_of_quarter(d) -%}
    {{ return(adapter.dispatch('first_of_quarter', 'themodel')(d)) }}
{%- endmacro %}
{% macro duckdb__first_of_quarter(d) -%}cast(date_trunc('quarter', {{ d }}) as date){%- endmacro %}
{% macro spark__first_of_quarter(d) -%}trunc({{ d }}, 'QUARTER'){%- endmacro %}

{#- A date `n` months later (n an integer expression; the day clamps to the month's end), as a DATE. -#}
{% macro add_months(d, n) -%}
    {{ return(adapter.dispatch('add_months', 'themodel')(d, n)) }}
{%- endmacro %}
{% macro duckdb__add_months(d, n) -%}cast(({{ d }}) + to_months(cast({{ n }} as integer)) as date){%- endmacro %}
{% macro spark__add_months(d, n) -%}add_months({{ d }}, cast({{ n }} as integer)){%- endmacro %}

{#- A date `n` days later (n an integer expression, negative for earlier), as a DATE. -#}
{% macro add_days(d, n) -%}
    {{ return(adapter.dispatch('add_days', 'themodel')(d, n)) }}
{%- endmacro %}
{% macro duckdb__add_days(d, n) -%}(({{ d }}) + cast({{ n }} as integer)){%- endmacro %}
{% macro spark__add_days(d, n) -%}date_add({{ d }}, cast({{ n }} as integer)){%- endmacro %}

{#- An instant or wall time `seconds` (a numeric expression, to the microsecond) later. -#}
{% macro add_seconds(ts, seconds) -%}
    {{ return(adapter.dispatch('add_seconds', 'themodel')(ts, seconds)) }}
{%- endmacro %}
{% macro duckdb__add_seconds(ts, seconds) -%}
    ({{ ts }} + to_microseconds(cast(({{ seconds }}) * 1e6 as bigint)))
{%- endmacro %}
{% macro spark__add_seconds(ts, seconds) -%}
    timestamp_micros(unix_micros({{ ts }}) + cast(({{ seconds }}) * 1e6 as bigint))
{%- endmacro %}

{#- The ISO day of the week of a date: 1 = Monday … 7 = Sunday. -#}
{% macro iso_weekday(d) -%}
    {{ return(adapter.dispatch('iso_weekday', 'themodel')(d)) }}
{%- endmacro %}
{% macro duckdb__iso_weekday(d) -%}isodow({{ d }}){%- endmacro %}
{% macro spark__iso_weekday(d) -%}extract(dayofweek_iso from {{ d }}){%- endmacro %}

{#- Whole days from date `a` to date `b` (negative when b is earlier), a BIGINT. -#}
{% macro days_from(a, b) -%}
    {{ return(adapter.dispatch('days_from', 'themodel')(a, b)) }}
{%- endmacro %}
{% macro duckdb__days_from(a, b) -%}datediff('day', {{ a }}, {{ b }}){%- endmacro %}
{% macro spark__days_from(a, b) -%}cast(datediff({{ b }}, {{ a }}) as bigint){%- endmacro %}

{#- Month boundaries crossed from date `a` to date `b` (0 within one month, 1 from any day of May to June), a BIGINT. -#}
{% macro months_from(a, b) -%}
    {{ return(adapter.dispatch('months_from', 'themodel')(a, b)) }}
{%- endmacro %}
{% macro duckdb__months_from(a, b) -%}datediff('month', {{ a }}, {{ b }}){%- endmacro %}
{% macro spark__months_from(a, b) -%}
    cast((year({{ b }}) - year({{ a }})) * 12 + month({{ b }}) - month({{ a }}) as bigint)
{%- endmacro %}

{#- Seconds, with their fraction, from instant (or wall time) `a` to `b`. -#}
{% macro seconds_from(a, b) -%}
    {{ return(adapter.dispatch('seconds_from', 'themodel')(a, b)) }}
{%- endmacro %}
{% macro duckdb__seconds_from(a, b) -%}epoch(({{ b }}) - ({{ a }})){%- endmacro %}
{% macro spark__seconds_from(a, b) -%}((unix_micros({{ b }}) - unix_micros({{ a }})) / 1e6){%- endmacro %}

{#- Days between two instants, as a decimal number. -#}
{% macro days_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('days_between', 'themodel')(start_ts, end_ts)) }}
{%- endmacro %}
{% macro duckdb__days_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }})) / 86400.0
{%- endmacro %}
{% macro spark__days_between(start_ts, end_ts) -%}
    ((unix_micros({{ end_ts }}) - unix_micros({{ start_ts }})) / 86400e6)
{%- endmacro %}
