{#- Local wall time of an instant in the reporting time zone. -#}
{% macro local_time(ts) -%}
    timezone('{{ var("reporting_tz") }}', {{ ts }})
{%- endmacro %}

{#- First day of the calendar month of an instant, in the reporting time zone. -#}
{% macro month_start(ts) -%}
    cast(date_trunc('month', {{ local_time(ts) }}) as date)
{%- endmacro %}

{#- First day of the fiscal quarter of an instant; fiscal_year_start_month sets where quarters begin. -#}
{% macro fiscal_quarter_start(ts) -%}
    {{ fiscal_quarter_of(local_time(ts)) }}
{%- endmacro %}

{#- First day of the fiscal quarter a date (or local wall time) falls in. -#}
{% macro fiscal_quarter_of(d) -%}
    {%- set shift = var("fiscal_year_start_month") | int - 1 -%}
    cast(date_trunc('quarter', {{ d }} - interval {{ shift }} month) + interval {{ shift }} month as date)
{%- endmacro %}

{#-
    The columns fiscal_year and fiscal_quarter of a fiscal quarter's first day; the fiscal year is named by the
    calendar year it starts in (FY2024 = April 2024 - March 2025 when the year starts in April).
-#}
{% macro fiscal_year_and_quarter(quarter_start) -%}
    {%- set fy_start = var("fiscal_year_start_month") | int -%}
    cast(year({{ quarter_start }}) - case when month({{ quarter_start }}) < {{ fy_start }} then 1 else 0 end as integer)
        as fiscal_year,
    cast(((month({{ quarter_start }}) - {{ fy_start }} + 12) % 12) // 3 + 1 as integer) as fiscal_quarter
{%- endmacro %}

{#- The instant a calendar date begins in the reporting time zone (contract dates carry no time). -#}
{% macro date_to_instant(d) -%}
    timezone('{{ var("reporting_tz") }}', cast({{ d }} as timestamp))
{%- endmacro %}

{#-
    The first day of the week a date falls in, weeks starting on the ISO weekday `week_start` (1 = Monday … 7 =
    Sunday; sales_pipeline.yml's week_start): the date itself or the latest such weekday before it.
-#}
{% macro week_start_of(d, week_start) -%}
    ({{ d }} - cast((isodow({{ d }}) - {{ week_start }} + 7) % 7 as integer))
{%- endmacro %}

{#- Days between two instants, as a decimal number. -#}
{% macro days_between(start_ts, end_ts) -%}
    (epoch({{ end_ts }}) - epoch({{ start_ts }})) / 86400.0
{%- endmacro %}

{#-
    One row per period (period_start, a DATE) from the first period to the last, `step` apart.
    first_period_query / last_period_query: queries returning one value each; an empty history (NULL
    first period) yields just the last period.
-#}
{% macro period_spine(first_period_query, last_period_query, step) -%}
    select cast(series.period_start as date) as period_start
    from ({{ first_period_query }}) as first_period (value)
    cross join ({{ last_period_query }}) as last_period (value)
    cross join generate_series(
        cast(coalesce(first_period.value, last_period.value) as timestamp),
        cast(last_period.value as timestamp),
        {{ step }}
    ) as series (period_start)
{%- endmacro %}
