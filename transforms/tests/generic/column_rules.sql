{#-
    A model's column rules, asserted by one test (one dbt node, one Dagster asset check) instead of one test per
    column and rule: every dbt test costs a dbt node and a Dagster event whatever it scans (~50 ms of CPU on its
    own), and the row-wise rules of a model are counted in one scan of it. Each rule asserts what the dbt test of
    the same name asserts:

      not_null:        [column, ...]              the column is never null
      unique:          [expression, ...]          no two rows share a non-null value of the column or expression
      accepted_values: {column: [value, ...]}     a non-null value of the column is one of these
      expressions:     [sql, ...]                 the expression is true on every row (null counts as false)

    The test returns one row per broken rule, naming it in `rule`, with `failures` the rows that break it (for
    unique: the repeated values); dbt reports their sum as the test's failures.
-#}
{% test column_rules(model, not_null=[], unique=[], accepted_values={}, expressions=[]) %}
{{ config(fail_calc='coalesce(sum(failures), 0)') }}
{%- set counted = [] %}
{%- for column in not_null %}
    {%- do counted.append((column ~ " is null", column ~ " is null")) %}
{%- endfor %}
{%- for column, values in accepted_values.items() %}
    {%- set listed = column ~ " not in ('" ~ (values | join("', '")) ~ "')" %}
    {%- do counted.append((listed, listed)) %}
{%- endfor %}
{%- for expression in expressions %}
    {%- do counted.append(("not coalesce(" ~ expression ~ ", false)", "not (" ~ expression ~ ")")) %}
{%- endfor %}
{%- set parts = [] %}
{%- for condition, rule in counted %}
    {%- do parts.append("select '" ~ (rule | replace("'", "''")) ~ "' as rule, rule_" ~ loop.index
        ~ " as failures from counted") %}
{%- endfor %}
{%- for expression in unique %}
    {%- do parts.append("select '" ~ ((expression ~ " repeats") | replace("'", "''"))
        ~ "' as rule, count(*) as failures from (select " ~ expression ~ " from " ~ model
        ~ " where (" ~ expression ~ ") is not null group by 1 having count(*) > 1) as repeated") %}
{%- endfor %}
{%- if counted %}
with counted as (
    select
    {%- for condition, rule in counted %}
        {{ count_where(condition) }} as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{%- endif %}

select
    rule,
    failures
from (
    {{ parts | join("\n    union all\n    ") }}
) as rules
where failures > 0
{% endtest %}
