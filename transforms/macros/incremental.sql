{#-
    Incremental models (docs/data-model.md, "Incremental models"): a table kept up to date by recomputing only the
    keys the files loaded since its last build touch, and rebuilt whole whenever reusing its rows could give
    anything but a rebuild. Its build state is the table's comment (JSON), written in the transaction that writes
    its rows (post-hook incremental_save):
    - fingerprint: an MD5 of every model file and macro of the project and of the vars the data depends on;
    - watermark: the latest loaded_at of extracted.load_log when it was built;
    - files: an MD5 of the load log's rows then (entity, source, file and both hashes of every loaded file);
    - erasures: an MD5 of privacy.erasures' digests;
    - built: how the last build went, `incremental` (only the touched keys) or `rebuilt` (every key).
    It reuses its rows only when the fingerprint and erasures are unchanged, FUNNEL_AS_OF is empty (its rows then
    follow the current records, not the versions valid at a past instant), and the load log's rows loaded at or
    before the watermark are exactly the ones it was built from: no file loaded before was changed, re-read or
    removed, and every file loaded since is new. Otherwise (and on `dbt build --full-refresh`, or a table without
    state) every key is computed, the pre-hook incremental_reset having emptied the table first.
-#}

{#-
    The materialization of an incremental model: incremental on DuckDB; a table, built whole, on an engine
    whose incremental strategies for plain Parquet tables (append, insert_overwrite) cannot replace the rows of
    a key (Spark without Delta Lake: docs/scale.md).
-#}
{% macro incremental_materialization() -%}
    {{- return('incremental' if target.type == 'duckdb' else 'table') -}}
{%- endmacro %}


{% macro incremental_fingerprint() -%}
    {%- set parts = [] -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
        {%- if node.resource_type == 'model' and node.package_name == project_name -%}
            {%- do parts.append(node.unique_id ~ ' ' ~ node.checksum.checksum) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in context.keys() | sort -%}
        {%- set value = context[name] -%}
        {%- if value.macro is defined and value.macro.package_name == project_name -%}
            {%- do parts.append(name ~ ' ' ~ local_md5(value.macro.macro_sql)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do parts.append(tojson(var('funnel'), sort_keys=true)) -%}
    {%- do parts.append(var('reporting_tz') ~ ' ' ~ var('as_of')) -%}
    {{- return(local_md5(parts | join('\n'))) -}}
{%- endmacro %}


{#- The warehouse's state now: the load log's latest loaded_at and MD5 of its rows, and privacy.erasures' MD5. -#}
{% macro incremental_inputs(watermark=none) -%}
    {%- set erasures = adapter.get_relation(database=this.database, schema='privacy', identifier='erasures') -%}
    {%- set query -%}
        select
            cast(max(loaded_at) as string) as watermark,
            coalesce(md5(string_agg(
                concat_ws(' ', entity, source, file, sha256, reading_sha256), chr(10)
                order by entity, source, file
            ) filter (where {{ "true" if watermark is none else "loaded_at <= cast('" ~ watermark ~ "' as " ~ instant_type() ~ ")" }})), '') as files,
            {% if erasures -%}
            (select coalesce(md5(string_agg(digest, ',' order by digest)), '') from {{ erasures }})
            {%- else -%}
            ''
            {%- endif %} as erasures
        from extracted.load_log
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{- return({'watermark': row[0], 'files': row[1], 'erasures': row[2]}) -}}
{%- endmacro %}


{#-
    The watermark after which loaded files are new to this table, when its rows may be reused (see above);
    none when every key must be computed. Called at run time only (execute).
-#}
{% macro incremental_watermark() -%}
    {%- if not execute or not is_incremental() or var('as_of') -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set comment = run_query(
        "select comment from duckdb_tables() where schema_name = '" ~ this.schema ~ "' and table_name = '"
        ~ this.identifier ~ "'"
    ).rows -%}
    {%- set saved = fromjson(comment[0][0] or '{}') if comment else {} -%}
    {%- if not saved or not saved.get('watermark') or saved.get('fingerprint') != incremental_fingerprint() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set now = incremental_inputs(saved['watermark']) -%}
    {%- if now['files'] != saved['files'] or now['erasures'] != saved['erasures'] -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return(saved['watermark']) -}}
{%- endmacro %}


{#- Pre-hook: empties the table when its rows cannot be reused, so the build that follows writes every key. -#}
{% macro incremental_reset() -%}
    {%- if execute and is_incremental() and incremental_watermark() is none -%}
        delete from {{ this }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook: the build state, as the table's comment. -#}
{% macro incremental_save() -%}
    {%- if execute and config.get('materialized') == 'incremental' -%}
        {%- set now = incremental_inputs() -%}
        {%- set state = {
            'fingerprint': incremental_fingerprint(),
            'watermark': now['watermark'],
            'files': now['files'],
            'erasures': now['erasures'],
            'built': 'rebuilt' if incremental_watermark() is none else 'incremental',
        } -%}
        comment on table {{ this }} is '{{ tojson(state, sort_keys=true) | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{#- SQL condition: the row (columns _source, _source_file) is of a file of `relation` loaded after `watermark`. -#}
{% macro loaded_after(relation, watermark) -%}
    (_source, _source_file) in (
        select source, file from extracted.load_log
        where entity = '{{ relation.identifier }}' and loaded_at > cast('{{ watermark }}' as {{ instant_type() }})
    )
{%- endmacro %}
