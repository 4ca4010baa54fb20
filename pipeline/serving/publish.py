"""Publishing: the marts copied into `marts.duckdb` and Parquet files for BI tools.

DuckDB lets no other process open a file while the pipeline writes it, and a BI connection held open
would block the pipeline. So BI tools read a copy: every run writes a new `marts.duckdb` beside the
warehouse and renames it into place. A reader never sees a half-written file, and a reader holding the
old file open keeps reading the old marts without blocking or breaking the run. The same marts are
written as Parquet under `parquet/` (one file per mart, each replaced atomically). A publish that was killed leaves
its temporary files (and DuckDB's write-ahead log of the temporary marts file): the next publish removes them,
which is safe because a publish holds the warehouse open, so no other publish can be writing them.
The marts come from the engine that built them (pipeline/warehouse/marts.py): the warehouse's `marts` schema, or
Spark's tables (docs/scale.md).
Only the dbt marts listed in MARTS are published, each documented column by column in the dbt docs and
typed by a model contract: they carry ids and owners, never e-mail addresses, phone numbers or names
(tests scan every published value for them).
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.serving.paths import parquet_dir, published_file
from pipeline.warehouse.marts import marts_on
from pipeline.warehouse.resource import Warehouse

MARTS = [
    "funnel_kpi_monthly",
    "funnel_kpi_fiscal_quarterly",
    "funnel_kpi_by_slice",
    "funnel_bottleneck",
    "funnel_targets",
    "stage_velocity",
    "speed_to_lead",
    "owner_performance",
    "reapproach_list",
    "reapproach_outcomes",
    "customer_success_monthly",
    "customer_retention_cohorts",
    "unit_economics_monthly",
    "unit_economics_fiscal_quarterly",
    "score_threshold_whatif",
    "hypothesis_results",
    "campaign_performance",
    "opportunity_stage_durations",
    "stage_durations_monthly",
    "stalled_opportunities",
    "pipeline_waterfall",
    "forecast",
    "forecast_backtest",
    "pipeline_coverage",
    "reconciliation",
    "reconciliation_exceptions",
]


@dataclass(frozen=True)
class Published:
    path: Path
    tables: dict[str, int]  # mart -> rows
    bytes: int
    parquet_files: list[Path]
    leftovers: list[Path]  # temporary files of an earlier, interrupted publish, removed


def _staging_file(target: Path, pid: int | str) -> Path:
    return target.with_name(f".{target.name}.{pid}.tmp")


def _partial_parquet(folder: Path, table: str, pid: int | str) -> Path:
    return folder / f".{table}.parquet.{pid}.tmp"


def remove_leftovers(warehouse_path: str | Path) -> list[Path]:
    """Delete what an interrupted publish left: its temporary marts file, that file's WAL, partial Parquet files.
    Call only while holding the warehouse, so no other publish is writing them."""
    target, parquet = published_file(warehouse_path), parquet_dir(warehouse_path)
    patterns = [
        (target.parent, _staging_file(target, "*").name),
        (target.parent, _staging_file(target, "*").name + ".wal"),
    ]
    patterns += [(parquet, _partial_parquet(parquet, "*", "*").name)]
    removed = []
    for folder, pattern in patterns:
        for leftover in folder.glob(pattern):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_marts(
    con: duckdb.DuckDBPyConnection,
    warehouse_path: str | Path,
    tables: list[str],
    schema: str = "marts",
) -> Published:
    """Copy the given tables of `schema` into the published file and one Parquet file each (serving/paths.py)."""
    leftovers = remove_leftovers(warehouse_path)
    target = published_file(warehouse_path)
    staging = _staging_file(target, os.getpid())
    con.execute(f"ATTACH '{staging}' AS published")
    try:
        for table in tables:
            con.execute(f"CREATE TABLE published.main.{table} AS SELECT * FROM {schema}.{table}")
        con.execute("CHECKPOINT published")
    finally:
        con.execute("DETACH published")
    _fsync(staging)
    os.replace(staging, target)  # atomic: readers see the old file or the new one, never a partial one

    parquet = parquet_dir(warehouse_path)
    parquet.mkdir(exist_ok=True)
    files = []
    for table in tables:
        final, partial = parquet / f"{table}.parquet", _partial_parquet(parquet, table, os.getpid())
        con.execute(f"COPY {schema}.{table} TO '{partial}' (FORMAT parquet)")
        os.replace(partial, final)
        files.append(final)
    rows = {t: con.execute(f"select count(*) from {schema}.{t}").fetchall()[0][0] for t in tables}
    return Published(path=target, tables=rows, bytes=target.stat().st_size, parquet_files=files, leftovers=leftovers)


@dg.asset(
    key=["serving", "published_marts"],
    group_name="serving",
    deps=[dg.AssetKey(["marts", m]) for m in MARTS],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "parquet"},
)
def published_marts(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings
) -> dg.MaterializeResult:
    """The published marts file and Parquet files beside the warehouse: what BI tools read (docs/bi.md)."""
    started = time.perf_counter()
    with warehouse.connect() as con, marts_on(con, settings) as schema:
        published = publish_marts(con, warehouse.path, MARTS, schema)
    context.log.info(f"published {len(published.tables)} marts of {settings.engine} to {published.path}")
    if published.leftovers:
        context.log.warning(f"removed what an interrupted publish left: {[str(p) for p in published.leftovers]}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(published.path)),
            "tables": dg.MetadataValue.json(published.tables),
            "rows": sum(published.tables.values()),
            "bytes": published.bytes,
            "parquet_bytes": sum(p.stat().st_size for p in published.parquet_files),
            "seconds": round(time.perf_counter() - started, 3),
            "leftovers_removed": len(published.leftovers),
        }
    )
