"""Ingest: one Dagster asset per contract entity, loading the extracts every configured source names for it.

The sources file (sources.yml, docs/sources.md) says which sources exist: the canonical landing layout of
docs/input-contract.md, and mapping files for Salesforce, HubSpot, Marketo or any other export. The work is done
in pipeline/ingest/sources: DuckDB reads and types each file, bad rows go to extracted.quarantine, and
extracted.<table> is brought up to date in one transaction. Only the entities of the source systems the
registry declares (transforms/dbt_project.yml, vars.funnel.systems) are assets. Each asset reports its quarantine as
an asset check that warns when non-zero. An optional entity (spend, the team list) without a file is an empty
table, not a failure.
"""

from pathlib import Path

import dagster as dg
import duckdb

from pipeline.config.files import ConfigError
from pipeline.config.registry import funnel
from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.config.sources import load_sources
from pipeline.ingest.contract import ENTITIES, Entity
from pipeline.ingest.sources.loader import EntityLoad, IngestError, load_entity
from pipeline.ingest.sources.mapping import landing_layout, matched_files
from pipeline.warehouse.layers import EXTRACTED
from pipeline.warehouse.resource import Warehouse

__all__ = ["IngestError", "entity_files", "ingest", "ingest_assets"]


def entity_files(landing_dir: Path, entity: Entity) -> list[Path]:
    """`<system>/<entity>.csv|.parquet`, plus any CSV/Parquet under the folder `<system>/<entity>/`."""
    layout = landing_layout(landing_dir)
    return matched_files(layout, layout.entities[entity.table])


def ingest(con: duckdb.DuckDBPyConnection, entity: Entity, settings: Settings) -> EntityLoad:
    """Load `entity` from the sources that `settings.sources_config` configures."""
    landing = Path(settings.landing_dir)
    try:
        config = load_sources(Path(settings.sources_config), landing)
    except ConfigError as exc:
        raise IngestError(str(exc)) from exc
    return load_entity(con, entity, list(config.sources), landing, settings.source_tz, settings.reporting_tz)


def _quarantine_check(con: duckdb.DuckDBPyConnection, entity: Entity) -> dg.AssetCheckResult:
    """Warns with the count and, so that the screen names file, line and column, the first quarantined row."""
    total, by_reason = con.execute(
        "SELECT count(*), list({'file': file, 'line': line, 'column': column_name, 'reason': reason} "
        "ORDER BY file, line)[:10] FROM extracted.quarantine WHERE entity = ?",
        [entity.table],
    ).fetchall()[0]
    description = None
    if total:
        first = by_reason[0]
        column = f", column {first['column']}" if first["column"] else ""
        description = (
            f"{total} row(s) of {entity.table} are in extracted.quarantine; "
            f"first {first['file']} line {first['line']}{column}: {first['reason']}"
        )
    return dg.AssetCheckResult(
        check_name="quarantine",
        passed=total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={"quarantined_rows": total, "first_rows": dg.MetadataValue.json(by_reason or [])},
    )


def _ingest_asset(entity: Entity) -> dg.AssetsDefinition:
    key = dg.AssetKey([EXTRACTED, entity.table])

    @dg.asset(
        key=key,
        group_name="ingest",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        check_specs=[
            dg.AssetCheckSpec(
                "quarantine",
                asset=key,
                description=(
                    "Warns when rows of this entity could not be loaded and sit in extracted.quarantine (file, line, reason)."
                ),
            )
        ],
        description=(
            f"`{entity.system}/{entity.name}` extracts from every configured source (docs/sources.md), typed per "
            f"the input contract (docs/input-contract.md) into extracted.{entity.table}; bad rows to extracted.quarantine."
            + (" Optional: without a file the table is empty." if entity.optional else "")
        ),
    )
    def ingest_entity(
        context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            result = ingest(con, entity, settings)
            check = _quarantine_check(con, entity)
        if result.absent:
            kept = f"keeps the {result.rows} records of the files loaded before" if result.rows else "is empty"
            context.log.info(f"no source has a file of optional entity {entity.table}; extracted.{entity.table} {kept}")
        else:
            context.log.info(
                f"extracted.{result.table}: {result.rows} records; files new {result.count('new')}, changed "
                f"{result.count('changed')}, unchanged {result.count('unchanged')}, removed {result.count('removed')}"
            )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "absent": result.absent,
                "files": len([f for f in result.files if f.action != "removed"]),
                "files_loaded": result.count("new") + result.count("changed"),
                "files_replaced": result.count("changed"),
                "files_skipped": result.count("unchanged"),
                "files_removed": result.count("removed"),
                "file_list": dg.MetadataValue.json(
                    [
                        {
                            "source": f.source,
                            "file": f.file,
                            "action": f.action,
                            "data_rows": f.data_rows,
                            "loaded": f.loaded,
                            "quarantined": f.quarantined,
                            "excluded": f.excluded,
                        }
                        for f in result.files
                    ]
                ),
                "quarantined_rows": sum(f.quarantined for f in result.files),
                "excluded_rows": sum(f.excluded for f in result.files),
                "duplicates_resolved": result.duplicates,
                "bytes": result.bytes,
                "extra_columns": dg.MetadataValue.json(result.extra_columns),
                "seconds": round(result.seconds, 3),
            },
            check_results=[check],
        )

    return ingest_entity


ingest_assets: list[dg.AssetsDefinition] = [_ingest_asset(e) for e in ENTITIES if e.system in funnel().systems]
