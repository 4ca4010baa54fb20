{#-
    Money in one currency: every amount is converted into the reporting currency (var reporting_currency,
    FUNNEL_REPORTING_CURRENCY) with the rate of its currency in its rate month from stg_sfa__exchange_rates, so
    sums never add yen to dollars. An amount in the reporting currency, or with no currency (read as the
    reporting currency), is kept as it is.
-#}

{#- The reporting currency as an SQL literal. -#}
{% macro reporting_currency() -%}
    '{{ var("reporting_currency") }}'
{%- endmacro %}

{#-
    The rows of CTE `records` with `amount` converted: every column of `records` plus `converted_<amount>`.
    `records` has `currency` (upper-cased, the reporting currency when empty) and `rate_month` (a DATE, first of
    the month). A row that needs a rate the extract lacks stops every query reading it with DuckDB's error(),
    naming the currency, the month and the record (`what`, then `id`, an expression over the columns of
    `records`): dbt build fails on it rather than adding unconverted amounts. The check is a filter, not a
    column, so it holds whichever columns a reader selects.
-#}
{% macro converted_to_reporting_currency(records, amount, what, id) -%}
    select
        {{ records }}.*,
        case
            when {{ records }}.currency = {{ reporting_currency() }} or {{ records }}.{{ amount }} is null
                then {{ records }}.{{ amount }}
            else cast({{ records }}.{{ amount }} * rates.rate as decimal(18, 2))
        end as converted_{{ amount }}
    from {{ records }}
    left join {{ ref('stg_sfa__exchange_rates') }} as rates
        on
            {{ records }}.currency = rates.currency
            and {{ records }}.rate_month = rates.month
    where
        case
            when
                {{ records }}.currency != {{ reporting_currency() }}
                and {{ records }}.{{ amount }} is not null
                and rates.rate is null
                then {{ raise_error(
                    "'no exchange rate for ' || " ~ records ~ ".currency || ' in ' || "
                    ~ year_month_text(records ~ '.rate_month') ~ " || ' (" ~ what ~ " ' || " ~ id
                    ~ " || '): add it to sfa/exchange_rates or correct the currency (amounts are reported in '"
                    ~ " || " ~ reporting_currency() ~ " || ')'"
                ) }}
            else true
        end
{%- endmacro %}

{#-
    An amount squared, exactly: DECIMAL(38, 4), wide enough for any DECIMAL(18, 2) amount, where DECIMAL(18, 2)
    times itself would overflow. Sums of it (and of amounts) stay DECIMAL, which adds exactly in any order; a
    model casts the total to DOUBLE only at the end, so a mart is the same to the last bit on every build.
-#}
{% macro amount_squared(amount) -%}
    cast({{ amount }} as decimal(38, 2)) * cast({{ amount }} as decimal(38, 2))
{%- endmacro %}
