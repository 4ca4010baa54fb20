"""Bringing a warehouse written by an earlier version to the current layout, on the first connection, unasked.

Before the layers were named for what they hold (CHANGELOG.md, 0.2.0), the loaded rows sat in `landed`, a
deduplicated copy plus the load log, quarantine and derived tables in `raw`, the stage tables in `funnel`, and
the alert history in `marts.alerts`. The loaded rows, the load log, the quarantine and the alert history move
to their schemas in one transaction (so unchanged extract files are not loaded again and no delivered alert is
sent again); everything else is rebuilt by the run, and the old schemas are dropped.
"""

import duckdb

from pipeline.warehouse.layers import ALERTING, EXTRACTED

LEGACY_SCHEMAS = ("landed", "raw", "funnel")
LEGACY_VIEWS = ("staging.stg_goals__funnel_targets", "staging.stg_goals__business_calendar")


def _tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND NOT temporary", [schema]
        ).fetchall()
    ]


def needs_migration(con: duckdb.DuckDBPyConnection) -> bool:
    schemas = {r[0] for r in con.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()}
    return bool(schemas & set(LEGACY_SCHEMAS))


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Move what cannot be rebuilt into the current layout and drop the old schemas; the moved tables' names."""
    if not needs_migration(con):
        return []
    moved = []
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {EXTRACTED}")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {ALERTING}")
        carried = {("landed", t): (EXTRACTED, t) for t in _tables(con, "landed")}
        carried |= {("raw", t): (EXTRACTED, t) for t in ("load_log", "quarantine") if t in _tables(con, "raw")}
        if "alerts" in _tables(con, "marts"):
            carried[("marts", "alerts")] = (ALERTING, "alerts")
        for (schema, table), (new_schema, new_table) in carried.items():
            con.execute(f'CREATE OR REPLACE TABLE {new_schema}."{new_table}" AS SELECT * FROM {schema}."{table}"')
            con.execute(f'DROP TABLE {schema}."{table}"')
            moved.append(f"{new_schema}.{new_table}")
        if (ALERTING, "alerts") in carried.values():  # a copy has no constraints; alerts are upserted by id
            con.execute(f"ALTER TABLE {ALERTING}.alerts ADD PRIMARY KEY (alert_id)")
        for view in LEGACY_VIEWS:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        for schema in LEGACY_SCHEMAS:
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return moved
