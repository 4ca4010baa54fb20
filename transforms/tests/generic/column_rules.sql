{#-
    A model's column rules, asserted by one test (one dbt node, one Dagster asset check) instead of one test per
    column and rule: every dbt test costs a dbt node and a Dagster event whatever it scans (~30 ms of CPU on its
    own), and the row-wise rules of a model are counted in one scan of it. Each rule asserts what the dbt test of
    the same name asserts, and all of them in one aggregate over one scan (a staging view resolves each record's
    newest version once, not once per test):

      not_null:        [column, ...]              the column is never null
      unique:          [expression, ...]          no two rows share a non-null value of the column or expression
      accepted_values: {column: [value, ...]}     a non-null value of the column is one of these
      expressions:     [sql, ...]                 the expression is true on every row (null counts as false)

    The test returns one row per broken rule, naming it in `rule`, with `failures` the rows that break it (for
    unique: the rows beyond the first of each repeated value); dbt reports their sum as the test's failures.
-#}
{% test column_rules(model, not_null=[], unique=[], accepted_values={}, expressions=[]) %}
{{ config(fail_calc='coalesce(sum(failures), 0)') }}
{%- set counted = [] %}
{%- for column in not_null %}
    {%- do counted.append((count_where(column ~ " is null"), column ~ " is null")) %}
{%- endfor %}
{%- for expression in unique %}
    {%- do counted.append(
        ("count(" ~ expression ~ ") - count(distinct " ~ expression ~ ")", expression ~ " repeats")
    ) %}
{%- endfor %}
{%- for column, values in accepted_values.items() %}
    {%- set listed = column ~ " not in ('" ~ (values | join("', '")) ~ "')" %}
    {%- do counted.append((count_where(listed), listed)) %}
{%- endfor %}
{%- for expression in expressions %}
    {%- do counted.append(
        (count_where("not coalesce(" ~ expression ~ ", false)"), "not (" ~ expression ~ ")")
    ) %}
{%- endfor %}
with counted as (
    select
    {%- for aggregate, rule in counted %}
        {{ aggregate }} as rule_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)

select
    rule,
    failures
from (
    {%- for aggregate, rule in counted %}
    select
        '{{ rule | replace("'", "''") }}' as rule,
        rule_{{ loop.index }} as failures
    from counted
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
) as rules
where failures > 0
{% endtest %}
