"""The SQL of the staging models' duplicate resolution (transforms/macros/newest_records.sql), for ingest tests
that check which row of a record wins without running dbt: the macro is plain Jinja, rendered here as dbt would on
DuckDB (the dialect macro it calls, file_name_of, by its DuckDB implementation)."""

from pathlib import Path

import jinja2

from pipeline.ingest.contract import ENTITIES_BY_TABLE

MACROS = Path(__file__).resolve().parent.parent / "transforms" / "macros"
#: What adapter.dispatch would pick on DuckDB, outside dbt.
ON_DUCKDB = "{% macro file_name_of(path) %}{{ duckdb__file_name_of(path) }}{% endmacro %}"


def newest(table: str) -> str:
    """A subquery: the newest row of each record of extracted.<table>, as its staging model keeps it."""
    return newest_of(f"extracted.{table}", list(ENTITIES_BY_TABLE[table].key))


def newest_of(relation: str, key: list[str]) -> str:
    """A subquery: the newest row of each `key` of `relation`, as newest_records resolves it on DuckDB."""
    macros = [(MACROS / name).read_text(encoding="utf-8") for name in ("newest_records.sql", "dialect/text.sql")]
    template = jinja2.Environment().from_string("".join(macros) + ON_DUCKDB + "{{ newest_records(r, k) }}")
    return f"({template.render(r=relation, k=key)})"
