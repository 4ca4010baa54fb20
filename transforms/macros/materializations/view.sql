{#-
    The view materialization, for a plain view in one statement: `create or replace view ... as (select ...)` inside
    the model's transaction, then commit, where dbt's own (materialization_view_default) creates the view under a
    temporary name, renames the old one away and the new one in, commits and drops the old: five queries and three
    more macro calls per view. DuckDB replaces a view transactionally, so a view whose SQL does not bind leaves the
    previous view in place (tests/test_table_materialization.py). An enforced contract, hooks, grants, a SQL header
    or an existing relation that is not a view go to dbt's materialization unchanged.
-#}
{% materialization view, adapter="duckdb" %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set plain = not config.get('contract').enforced
      and not pre_hooks and not post_hooks and not config.get('grants')
      and config.get('sql_header') is none
      and (existing_relation is none or existing_relation.is_view) -%}
  {%- if not plain -%}
    {{ return(dbt.materialization_view_default()) }}
  {%- endif -%}

  {#- what an interrupted earlier build may have left (a lookup in dbt's cache, no query) -#}
  {{ drop_relation_if_exists(load_cached_relation(make_intermediate_relation(target_relation))) }}
  {{ drop_relation_if_exists(load_cached_relation(make_backup_relation(target_relation, 'view'))) }}

  {% call statement('main') -%}
    create or replace view {{ target_relation }} as (
      {{ sql }}
    );
  {%- endcall %}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
