{#-
    On an engine other than DuckDB the dbt sources are the lake (pipeline/warehouse/lake.py): the Parquet folders
    <FUNNEL_LAKE_DIR>/<schema>/<table> that `python -m pipeline.warehouse.lake` writes from the extracted layer and the reference data.
    This on-run-start hook registers the sources the selected models read as tables over their folders, recreated
    each run so a table's columns follow its files (dropping an external table leaves its files). Only those: the
    run's first dbt step reads the extracted layer and the reference data, and the analysis tables are written to the
    lake between it and the second (models/analysis/_sources.yml). On DuckDB the sources are the warehouse's own
    tables and it does nothing.
-#}
{% macro register_lake_sources() -%}
    {%- if execute and target.type != 'duckdb' -%}
        {#- relative to transforms/, where dbt runs: the default is the project's warehouse/lake -#}
        {%- set lake = env_var('FUNNEL_LAKE_DIR', '../warehouse/lake') -%}
        {%- set read = [] -%}
        {%- for node in graph.nodes.values() if node.unique_id in selected_resources -%}
            {%- do read.extend(node.depends_on.nodes | select('in', graph.sources) | list) -%}
        {%- endfor -%}
        {%- set sources = graph.sources.values() | selectattr('unique_id', 'in', read) | list -%}
        {%- for schema in sources | map(attribute='schema') | unique -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in sources | sort(attribute='unique_id') -%}
            {%- set name = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ " using parquet location '" ~ lake ~ '/' ~ source.schema ~ '/'
                ~ source.identifier ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- The rows of an analysis table (models/analysis): the dbt Python model on DuckDB, the lake's copy elsewhere. -#}
{% macro analysis_rows(name) -%}
    {%- if target.type == 'duckdb' -%}{{ ref(name) }}{%- else -%}{{ source('analysis', name) }}{%- endif -%}
{%- endmacro %}
