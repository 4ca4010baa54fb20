{#-
    The three counts every KPI view is made of, as CTEs `entries`, `advances` and `drops`, per `keys` (a
    comma-separated column list) and period_start, from `rows`: stage rows with entry_type, outcome and the
    entered_period, advanced_period and dropped_period of a period macro. entries: base, base_handover and
    the cohort goal and drops of the period's entries; advances: hand-overs dated in the period (period
    goal); drops: drop-outs dated in the period. With `weight`, each row of `rows` stands for that many stage
    rows (a column of counts: rows grouped beforehand, as funnel_kpi_by_slice does before repeating them).
-#}
{% macro period_counts(rows, keys, weight=none) %}
entries as (
    select
        {{ keys }},
        entered_period as period_start,
        {{ _tally(weight) }} as base,
        {{ _tally(weight, "entry_type = 'handover'") }} as base_handover,
        {{ _tally(weight, "outcome = 'advanced'") }} as cohort_goal,
        {{ _tally(weight, "outcome = 'dropped'") }} as cohort_dropped
    from {{ rows }}
    group by all
),

advances as (
    select {{ keys }}, advanced_period as period_start, {{ _tally(weight) }} as period_goal
    from {{ rows }}
    where advanced_period is not null
    group by all
),

drops as (
    select {{ keys }}, dropped_period as period_start, {{ _tally(weight) }} as period_dropped
    from {{ rows }}
    where dropped_period is not null
    group by all
)
{%- endmacro %}

{#- The stage rows of a group for which `condition` holds (all of them without one): counted, or summed from
    `weight`; 0, never NULL, when none. -#}
{% macro _tally(weight, condition=none) -%}
    {%- if weight is none -%}
        {{ count_where(condition) if condition else 'count(*)' }}
    {%- elif condition -%}
        cast(coalesce(sum(case when {{ condition }} then {{ weight }} end), 0) as bigint)
    {%- else -%}
        cast(sum({{ weight }}) as bigint)
    {%- endif -%}
{%- endmacro %}
