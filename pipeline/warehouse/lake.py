"""The lake: the extracted layer and the reference data as Parquet folders, which an engine other than DuckDB reads.

Ingest (one implementation: typing, quarantine, load log) and the reference assets write the `extracted` and
`reference` schemas of the DuckDB warehouse; `write_lake` copies each of their tables to
`<lake>/<schema>/<table>/part-0.parquet`, so Spark starts from the rows DuckDB reads, value for value, and its dbt
sources are tables over those folders (transforms/macros/lake.sql, docs/scale.md). A table's folder is written
beside the old one and swapped in by renames, so a reader never sees half a table and an export that fails leaves
every table whole, the old version or the new. On Spark the analysis step writes its tables to `<lake>/analysis/`
the same way (pipeline/analysis/assets.py).

    python -m pipeline.warehouse.lake [--out DIR]    (DIR: FUNNEL_LAKE_DIR, by default warehouse/lake)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import duckdb

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import Settings, read_environment
from pipeline.warehouse.layers import EXTRACTED, REFERENCE
from pipeline.warehouse.resource import Warehouse

#: The schemas the dbt sources read (transforms/models/staging/_sources.yml), in the lake under these names.
LAKE_SCHEMAS = (EXTRACTED, REFERENCE)


def write_lake(warehouse: Warehouse, lake: Path) -> dict[str, int]:
    """Copy every table of LAKE_SCHEMAS to the lake; returns the rows written per `schema.table`."""
    lake.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    with warehouse.connect(read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE' and table_schema in (select unnest(?)) order by 1, 2",
            [list(LAKE_SCHEMAS)],
        ).fetchall()
        for schema, table in tables:
            written[f"{schema}.{table}"] = write_folder(con.table(f"{schema}.{table}"), lake / schema / table)
    return written


def write_folder(rows: duckdb.DuckDBPyRelation, folder: Path) -> int:
    """`rows` as the lake table `folder` (one Parquet file in it), swapped in whole; the number of rows."""
    fresh, old = folder.with_name(f".{folder.name}.new"), folder.with_name(f".{folder.name}.old")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    rows.write_parquet(str(fresh / "part-0.parquet"), compression="zstd")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    fresh.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return rows.count("*").fetchall()[0][0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.warehouse.lake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="the lake folder (default: FUNNEL_LAKE_DIR)")
    args = parser.parse_args(argv)
    try:
        settings, out = Settings.from_env(), args.out or Path(read_environment().lake_dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None
    if not Path(settings.warehouse_path).exists():
        print(f"{settings.warehouse_path} does not exist yet: run `make run` first", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR)
    for table, rows in write_lake(Warehouse.of(settings), out).items():
        print(f"{out / table.replace('.', '/')}: {rows} rows")


if __name__ == "__main__":
    main()
