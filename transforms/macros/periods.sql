{#- Local wall time of an instant in the reporting time zone. -#}
{% macro local_time(ts) -%}
    {{ wall_time(ts, "'" ~ var("reporting_tz") ~ "'") }}
{%- endmacro %}

{#- First day of the calendar month of an instant, in the reporting time zone. -#}
{% macro month_start(ts) -%}
    {{ first_of_month(local_time(ts)) }}
{%- endmacro %}

{#- First day of the fiscal quarter of an instant; fiscal_year_start_month sets where quarters begin. -#}
{% macro fiscal_quarter_start(ts) -%}
    {{ fiscal_quarter_of(local_time(ts)) }}
{%- endmacro %}

{#- First day of the fiscal quarter a date (or local wall time) falls in. -#}
{% macro fiscal_quarter_of(d) -%}
    {%- set shift = var("fiscal_year_start_month") | int - 1 -%}
    {{ add_months(first_of_quarter(add_months(d, -shift)), shift) }}
{%- endmacro %}

{#-
    The columns fiscal_year and fiscal_quarter of a fiscal quarter's first day; the fiscal year is named by the
    calendar year it starts in (FY2024 = April 2024 - March 2025 when the year starts in April).
-#}
{% macro fiscal_year_and_quarter(quarter_start) -%}
    {%- set fy_start = var("fiscal_year_start_month") | int -%}
    cast(year({{ quarter_start }}) - case when month({{ quarter_start }}) < {{ fy_start }} then 1 else 0 end as integer)
        as fiscal_year,
    cast({{ int_div('(month(' ~ quarter_start ~ ') - ' ~ fy_start ~ ' + 12) % 12', 3) }} + 1 as integer) as fiscal_quarter
{%- endmacro %}

{#- The instant a calendar date begins in the reporting time zone (contract dates carry no time). -#}
{% macro date_to_instant(d) -%}
    {{ instant_at("cast(" ~ d ~ " as timestamp)", "'" ~ var("reporting_tz") ~ "'") }}
{%- endmacro %}

{#-
    The first day of the week a date falls in, weeks starting on the ISO weekday `week_start` (1 = Monday … 7 =
    Sunday; sales_pipeline.yml's week_start): the date itself or the latest such weekday before it.
-#}
{% macro week_start_of(d, week_start) -%}
    {{ add_days(d, "-((" ~ iso_weekday(d) ~ " - " ~ week_start ~ " + 7) % 7)") }}
{%- endmacro %}
