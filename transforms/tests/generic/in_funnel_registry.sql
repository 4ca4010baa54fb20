{#-
    Every value of the column names a stage (of = 'stages') or a hand-over (of = 'handovers') of the
    registry in dbt_project.yml, so no YAML repeats the funnel's shape as a list of accepted values.
-#}
{% test in_funnel_registry(model, column_name, of='stages') %}
{%- set names = funnel_stages() | map(attribute='name') | list if of == 'stages'
    else funnel_handovers() | map(attribute='name') | list %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and {{ column_name }} not in ('{{ names | join("', '") }}')
{% endtest %}
