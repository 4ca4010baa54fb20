{#-
    A forecast category in one spelling: trimmed, lower case, spaces as underscores (pipeline, best_case, commit,
    omitted, closed). Salesforce's API names of the same picklist (ForecastCategory: BestCase, Forecast) read as
    their labels (ForecastCategoryName: Best Case, Commit), so either field maps to the same five values.
-#}
{% macro forecast_category(column) -%}
    case replace(lower(trim({{ column }})), ' ', '_')
        when '' then null
        when 'bestcase' then 'best_case'
        when 'forecast' then 'commit'
        else replace(lower(trim({{ column }})), ' ', '_')
    end
{%- endmacro %}
