{#-
    On an engine other than DuckDB the dbt sources are the lake (pipeline/warehouse/lake.py): the Parquet folders
    <FUNNEL_LAKE_DIR>/<schema>/<table> that `python -m pipeline.warehouse.lake` writes from the extracted layer and the reference data.
    This on-run-start hook registers every enabled source as a table over its folder, recreated each run so the
    table's columns follow the files (dropping an external table leaves its files). On DuckDB the sources are the
    warehouse's own tables and it does nothing.
-#}
{% macro register_lake_sources() -%}
    {%- if execute and target.type != 'duckdb' -%}
        {#- relative to transforms/, where dbt runs: the default is the project's warehouse/lake -#}
        {%- set lake = env_var('FUNNEL_LAKE_DIR', '../warehouse/lake') -%}
        {%- set schemas = graph.sources.values() | map(attribute='schema') | unique | list -%}
        {%- for schema in schemas -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- set name = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ name) -%}
            {%- do run_query(
                'create table ' ~ name ~ " using parquet location '" ~ lake ~ '/' ~ source.schema ~ '/'
                ~ source.identifier ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
