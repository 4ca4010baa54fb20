{#-
    The number of rows of the group for which `condition` is true: 0, never NULL, when it is true for none.
    DuckDB's count_if returns NULL when the condition is NULL on every row of a group (DuckDB 2.0), which turned
    counts into NULLs and broke the hypothesis tests on small data; count(case ...) is 0 there, in every engine.
-#}
{% macro count_where(condition) -%}
    count(case when {{ condition }} then 1 end)
{%- endmacro %}
