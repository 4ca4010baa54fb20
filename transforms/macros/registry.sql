{#-
    The funnel's shape as dbt_project.yml declares it (vars.funnel): every model that lists stages or
    hand-overs goes through these macros, so adding or removing a stage is a registry entry plus its model.
    pipeline/config/registry.py reads and validates the same declaration for Python.
-#}

{#- The stages in funnel order. -#}
{% macro funnel_stages() -%}
    {{ return(var('funnel')['stages']) }}
{%- endmacro %}

{#- Whether the company has a source system (vars.funnel.systems): models of other systems are disabled. -#}
{% macro has_system(system) -%}
    {{ return(system in var('funnel')['systems']) }}
{%- endmacro %}

{#- The stage table of a stage: models/stages/<name>_entries.sql. -#}
{% macro stage_table(stage) -%}
    {{ return(ref(stage['name'] ~ '_entries')) }}
{%- endmacro %}

{#-
    The hand-overs in funnel order, each with its name (<from>_to_<to>), its order, the ids that pair its two
    sides (upstream_id on the upstream stage table; downstream_id, the downstream stage's record id, and
    downstream_link, the upstream id as the downstream table carries it).
-#}
{% macro funnel_handovers() -%}
    {%- set stages = {} -%}
    {%- for stage in funnel_stages() -%}{%- do stages.update({stage['name']: stage}) -%}{%- endfor -%}
    {%- set handovers = [] -%}
    {%- for handover in var('funnel')['handovers'] -%}
        {%- do handovers.append({
            'name': handover['from'] ~ '_to_' ~ handover['to'],
            'order': loop.index,
            'upstream': handover['from'],
            'downstream': handover['to'],
            'upstream_id': handover['upstream_id'],
            'downstream_id': stages[handover['to']]['id'],
            'downstream_link': handover['downstream_link'],
        }) -%}
    {%- endfor -%}
    {{ return(handovers) }}
{%- endmacro %}

{#- A union of every stage table, each row tagged with its stage and stage_order; `columns` is the select list. -#}
{% macro union_stage_tables(columns) -%}
    {%- for stage in funnel_stages() %}
    select '{{ stage["name"] }}' as stage, {{ loop.index }} as stage_order, {{ columns }}
    from {{ stage_table(stage) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The stages as a relation (stage, stage_order). -#}
{% macro stage_list() -%}
    select * from (values
        {%- for stage in funnel_stages() %}
        ('{{ stage["name"] }}', {{ loop.index }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as stage_list (stage, stage_order)
{%- endmacro %}

{#- The place of the stage whose goal is the won deal (`wins: true`); stages after it are downstream of the win. -#}
{% macro win_stage_order() -%}
    {%- for stage in funnel_stages() -%}
        {%- if stage.get('wins') -%}{{ return(loop.index) }}{%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("vars.funnel.stages: no stage has `wins: true`") }}
{%- endmacro %}

{#- Whether the registry declares a stage: a stage model not in the registry is disabled, with what only it reads. -#}
{% macro in_funnel(stage_name) -%}
    {{ return(stage_name in funnel_stages() | map(attribute='name') | list) }}
{%- endmacro %}
