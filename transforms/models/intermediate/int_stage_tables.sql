{#-
    One row per stage of the funnel's registry, in funnel order, with the table that holds its entries. It exists
    for its parents: a model that reads the stage tables without ref() in Jinja (the Python model
    analysis/hypothesis_tests, where dbt takes parents only from literal dbt.ref() calls) refs this view and so is
    built after every stage table the registry has, whichever stages those are.
-#}
{{ config(materialized='view') }}

{%- for stage in funnel_stages() %}
select
    {{ loop.index }} as stage_order,
    '{{ stage.name }}' as stage,
    '{{ stage_table(stage) }}' as relation_name
{%- if not loop.last %}
union all
{%- endif %}
{%- endfor %}
