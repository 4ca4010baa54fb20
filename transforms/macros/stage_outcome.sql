{#-
    The columns every stage table shares, computed as of int_as_of: the outcome and its dates. An
    entry has advanced when its forward hand-over happened by the as-of instant, has dropped when it
    left the funnel by then without advancing, and is open otherwise. Expects `as_of` in scope.
-#}
{% macro stage_outcome(advanced_at, dropped_at, dropped_reason) %}
    {%- set advanced = "coalesce(" ~ advanced_at ~ " <= as_of, false)" -%}
    {%- set dropped = "(not " ~ advanced ~ " and coalesce(" ~ dropped_at ~ " <= as_of, false))" -%}
    case when {{ advanced }} then 'advanced' when {{ dropped }} then 'dropped' else 'open' end as outcome,
    case when {{ advanced }} then {{ advanced_at }} end as advanced_at,
    case when {{ dropped }} then {{ dropped_at }} end as dropped_at,
    case when {{ dropped }} then {{ dropped_reason }} end as dropped_reason,
    {{ days_between('entered_at', 'case when ' ~ advanced ~ ' then ' ~ advanced_at ~ ' when ' ~ dropped ~ ' then ' ~ dropped_at ~ ' else as_of end') }} as days_in_stage,
    {{ month_start('entered_at') }} as entered_month
{%- endmacro %}
