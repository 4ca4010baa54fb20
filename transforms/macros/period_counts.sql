{#-
    The three counts every KPI view is made of, as CTEs `entries`, `advances` and `drops`, per `keys` (a
    comma-separated column list) and period_start, from `rows`: stage rows with entry_type, outcome and the
    entered_period, advanced_period and dropped_period of a period macro. entries: base, base_handover and
    the cohort goal and drops of the period's entries; advances: hand-overs dated in the period (period
    goal); drops: drop-outs dated in the period.
-#}
{% macro period_counts(rows, keys) %}
entries as (
    select
        {{ keys }},
        entered_period as period_start,
        count(*) as base,
        {{ count_where("entry_type = 'handover'") }} as base_handover,
        {{ count_where("outcome = 'advanced'") }} as cohort_goal,
        {{ count_where("outcome = 'dropped'") }} as cohort_dropped
    from {{ rows }}
    group by all
),

advances as (
    select {{ keys }}, advanced_period as period_start, count(*) as period_goal
    from {{ rows }}
    where advanced_period is not null
    group by all
),

drops as (
    select {{ keys }}, dropped_period as period_start, count(*) as period_dropped
    from {{ rows }}
    where dropped_period is not null
    group by all
)
{%- endmacro %}
