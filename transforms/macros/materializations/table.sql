{#-
    The table materialization, for a plain SQL model in one statement: `create or replace table ... as (select ...)`
    inside the model's transaction, then commit (under an enforced contract without constraints, as dbt-duckdb does
    it: the columns checked against the contract, the table created with their types, the rows inserted). dbt-duckdb's own (materialization_table_duckdb) builds the new
    table under a temporary name, renames the old one away, renames the new one in, commits and drops the old:
    seven queries, three more macro calls and their log events per model, which at 153 nodes were a good part of
    the dbt step's fixed cost. DuckDB replaces a table transactionally: a model whose select fails leaves the
    previous table as it was (the statement and its transaction roll back), never a half-written or missing one
    (tests/test_table_materialization.py).

    A SQL model the plain case does not cover goes to dbt-duckdb's materialization unchanged: constraints (a
    primary, unique or foreign key, not null, check), hooks, grants, indexes, partitioning or sort order, a SQL header, DuckLake, and
    an existing relation that is not a table (a model turned from a view into a table). A Python model cannot be
    handed on (dbt runs its code only when the statement is called by the materialization itself), so it is built
    here as dbt-duckdb builds it: written under a temporary name, swapped in by renames, the old table dropped after
    the commit; one with any of those settings is refused with a message rather than built without them.
-#}
{% materialization table, adapter="duckdb", supported_languages=['sql', 'python'] %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
  {%- set backup_relation = make_backup_relation(target_relation, 'table') -%}
  {%- set contract = config.get('contract').enforced -%}
  {%- set constrained = model['constraints'] or model['columns'].values() | map(attribute='constraints') | select | list -%}
  {%- set plain = not constrained
      and not pre_hooks and not post_hooks
      and not config.get('grants') and not config.get('indexes')
      and not config.get('partitioned_by') and not config.get('sorted_by')
      and config.get('sql_header') is none
      and not adapter.use_ducklake_table_workarounds(target_relation)
      and (existing_relation is none or existing_relation.is_table) -%}
  {%- if not plain and model['language'] == 'sql' -%}
    {{ return(dbt.materialization_table_duckdb()) }}
  {%- elif not plain or (contract and model['language'] != 'sql') -%}
    {% do exceptions.raise_compiler_error(
        "transforms/macros/materializations/table.sql builds Python models without a contract, hooks, grants, "
        ~ "indexes, partitioning, sort order or a SQL header, into a table or nothing; " ~ this ~ " needs more") %}
  {%- endif -%}

  {#- what an interrupted earlier build may have left (a lookup in dbt's cache, no query) -#}
  {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
  {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}

  {%- if model['language'] == 'sql' %}
    {% call statement('main') -%}
      {%- if contract %}
        {{ get_assert_columns_equivalent(compiled_code) }}
        create or replace table {{ target_relation }} {{ get_table_columns_and_constraints() }};
        insert into {{ target_relation }} {{ get_column_names() }} (
          {{ get_select_subquery(compiled_code) }}
        );
      {%- else %}
        create or replace table {{ target_relation }} as (
          {{ compiled_code }}
        );
      {%- endif %}
    {%- endcall %}
  {%- else %}
    {% call statement('main', language='python') -%}
      {{- create_table_as(False, intermediate_relation, compiled_code, 'python') }}
    {%- endcall %}
    {% if existing_relation is not none %}
      {{ adapter.rename_relation(existing_relation, backup_relation) }}
    {% endif %}
    {{ adapter.rename_relation(intermediate_relation, target_relation) }}
  {%- endif %}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ drop_relation_if_exists(backup_relation if existing_relation is not none and model['language'] != 'sql' else none) }}

  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
