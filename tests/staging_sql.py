"""The SQL of the staging models' duplicate resolution (transforms/macros/newest_records.sql), for ingest tests
that check which row of a record wins without running dbt: the macro is plain Jinja, rendered here as dbt would."""

from pathlib import Path

import jinja2

from pipeline.ingest.contract import ENTITIES_BY_TABLE

MACRO = Path(__file__).resolve().parent.parent / "transforms" / "macros" / "newest_records.sql"


def newest(table: str) -> str:
    """A subquery: the newest row of each record of extracted.<table>, as its staging model keeps it."""
    template = jinja2.Environment().from_string(MACRO.read_text(encoding="utf-8") + "{{ newest_records(r, k) }}")
    return f"({template.render(r=f'extracted.{table}', k=list(ENTITIES_BY_TABLE[table].key))})"
