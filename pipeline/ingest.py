"""Ingest: one Dagster asset per contract entity, loading CSV/Parquet extracts into DuckDB schema `raw`.

DuckDB's own readers do the parsing. Every value is read as text first and then typed in SQL, so a
value that does not parse is found and reported by file, column and row instead of silently becoming
NULL, and `raw` is only replaced, in one transaction, once the whole entity has parsed.
"""


import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.contract import DUCKDB_TYPES, ENTITIES, Column, Entity
from pipeline.settings import WAREHOUSE_POOL, Settings
from pipeline.warehouse import Warehouse

CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet",)

# Naive timestamps are read in the source time zone; these are the layouts accepted besides ISO-8601.
_TIMESTAMP_FORMATS = [
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%dT%H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
]
_DATE_FORMATS = ["%Y-%m-%d", "%Y/%m/%d"]
# A timestamp that carries its own offset (Z, +09, +09:00, +0900) is read as that instant.
_WITH_OFFSET = r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$"
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n")


class IngestError(Exception):
    """An extract cannot be loaded; the message names the file, the column and the row."""


@dataclass(frozen=True)
class LoadResult:
    table: str
    rows: int
    files: list[str]
    bytes: int
    extra_columns: list[str]
    seconds: float


def entity_files(landing_dir: Path, entity: Entity) -> list[Path]:
    """`<system>/<entity>.csv|.parquet`, plus any CSV/Parquet under the folder `<system>/<entity>/`."""
    base = landing_dir / entity.system
    candidates = [p for p in base.glob(f"{entity.name}.*") if p.is_file()]
    folder = base / entity.name
    if folder.is_dir():
        candidates += [p for p in folder.rglob("*") if p.is_file()]
    return sorted(p for p in candidates if p.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES))


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _cleaned(column: Column) -> str:
    """The raw text of a column, with empty and blank values as NULL."""
    return f"nullif(trim({_q(column.name)}), '')"


def _typed(column: Column, source_tz: str) -> str:
    """SQL that turns the raw text of `column` into its contract type, or NULL when it does not parse."""
    v = _cleaned(column)
    if column.type == "id":
        return v
    if column.type == "text":
        return f"nullif({_q(column.name)}, '')"
    if column.type == "timestamp":
        return (
            f"CASE WHEN regexp_matches({v}, {_lit(_WITH_OFFSET)}) "
            f"THEN try_cast(replace({v}, '/', '-') AS TIMESTAMPTZ) "
            f"ELSE timezone({_lit(source_tz)}, coalesce(try_cast({v} AS TIMESTAMP), "
            f"try_strptime({v}, {_list(_TIMESTAMP_FORMATS)}))) END"
        )
    if column.type == "date":
        return f"coalesce(try_cast({v} AS DATE), try_strptime({v}, {_list(_DATE_FORMATS)})::DATE)"
    if column.type == "boolean":
        return (
            f"CASE WHEN lower({v}) IN {tuple(_TRUE)} THEN true "
            f"WHEN lower({v}) IN {tuple(_FALSE)} THEN false END"
        )
    return f"try_cast({v} AS {DUCKDB_TYPES[column.type]})"


def _bad(column: Column, source_tz: str) -> str:
    """SQL condition that is true for a row whose value of `column` breaks the contract."""
    if column.required:
        return f"({_typed(column, source_tz)}) IS NULL"
    return f"({_cleaned(column)} IS NOT NULL AND ({_typed(column, source_tz)}) IS NULL)"


def _header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    reader = "read_parquet" if path.name.lower().endswith(PARQUET_SUFFIXES) else "read_csv"
    options = "" if reader == "read_parquet" else ", all_varchar = true, header = true"
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {reader}({_lit(str(path))}{options})").fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read: {exc}") from exc
    return [r[0] for r in rows]


def _stage_files(con: duckdb.DuckDBPyConnection, files: list[Path], landing_dir: Path) -> None:
    """Read every file as text into temp table `_load`, with the file and data-row number of each row."""
    csvs = [str(f) for f in files if f.name.lower().endswith(CSV_SUFFIXES)]
    parquets = [str(f) for f in files if f.name.lower().endswith(PARQUET_SUFFIXES)]
    parts = []
    if csvs:
        # Insertion order is preserved, so rowid follows the order of the rows within each file.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _csv AS SELECT * FROM read_csv("
            f"{_list(csvs)}, all_varchar = true, header = true, union_by_name = true, filename = true)"
        )
        parts.append(
            "SELECT c.* EXCLUDE (filename), c.filename AS _file, c.rowid - m.first_rowid + 1 AS _source_row "
            "FROM _csv AS c JOIN (SELECT filename, min(rowid) AS first_rowid FROM _csv GROUP BY filename) AS m "
            "ON m.filename = c.filename"
        )
    if parquets:
        parts.append(
            "SELECT COLUMNS(lambda c: c NOT IN ('filename', 'file_row_number'))::VARCHAR, filename AS _file, "
            f"file_row_number + 1 AS _source_row FROM read_parquet({_list(parquets)}, "
            "union_by_name = true, filename = true, file_row_number = true)"
        )
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    prefix = str(landing_dir).rstrip("/") + "/"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _load AS SELECT * EXCLUDE (_file), "
        f"replace(_file, {_lit(prefix)}, '') AS _source_file FROM ({union})"
    )


def load_entity(
    con: duckdb.DuckDBPyConnection, entity: Entity, landing_dir: Path, source_tz: str
) -> LoadResult:
    """Load every extract of `entity` into raw.<system>_<entity>, replacing it atomically.

    Raises IngestError naming the file, column and first bad row when a required column is missing,
    a value does not parse, or a required value is empty; `raw` is then left as it was.
    """
    started = time.perf_counter()
    files = entity_files(landing_dir, entity)
    if not files:
        raise IngestError(
            f"{entity.table}: no extract found; expected {landing_dir / entity.system / entity.name}.csv "
            f"(or .parquet), or CSV/Parquet files in the folder {landing_dir / entity.system / entity.name}/"
        )
    extra: set[str] = set()
    for path in files:
        header = _header(con, path)
        present = {h.lower() for h in header}
        missing = [c for c in entity.column_names if c.lower() not in present]
        if missing:
            raise IngestError(
                f"{path}: missing required column(s) {', '.join(missing)} for {entity.table}; "
                f"the file has: {', '.join(header)}"
            )
        extra |= {h for h in header if h.lower() not in {c.lower() for c in entity.column_names}}

    try:
        _stage_files(con, files, landing_dir)
        _validate(con, entity, landing_dir, source_tz)
        _replace_raw_table(con, entity, sorted(extra), source_tz)
    except duckdb.Error as exc:
        raise IngestError(f"{entity.table}: cannot load {', '.join(map(str, files))}: {exc}") from exc
    finally:
        con.execute("DROP TABLE IF EXISTS _load")
        con.execute("DROP TABLE IF EXISTS _csv")
    rows = con.execute(f"SELECT count(*) FROM raw.{entity.table}").fetchall()[0][0]
    return LoadResult(
        table=entity.table,
        rows=rows,
        files=[str(p.relative_to(landing_dir)) for p in files],
        bytes=sum(p.stat().st_size for p in files),
        extra_columns=sorted(extra),
        seconds=time.perf_counter() - started,
    )


def _validate(con: duckdb.DuckDBPyConnection, entity: Entity, landing_dir: Path, source_tz: str) -> None:
    """Raise IngestError for the first value in `_load` that breaks the contract."""
    counts = con.execute(
        "SELECT " + ", ".join(f"count_if({_bad(c, source_tz)})" for c in entity.columns) + " FROM _load"
    ).fetchall()[0]
    for column, bad_count in zip(entity.columns, counts):
        if bad_count:
            file, row, value = con.execute(
                f"SELECT _source_file, _source_row, {_q(column.name)} FROM _load "
                f"WHERE {_bad(column, source_tz)} ORDER BY _source_file, _source_row LIMIT 1"
            ).fetchall()[0]
            problem = "is empty but required" if value is None or not value.strip() else (
                f"value {value!r} is not a valid {column.type}"
            )
            raise IngestError(
                f"{landing_dir / file}: column {column.name!r}, data row {row}: {problem} "
                f"({bad_count} bad value(s) in this column for {entity.table}); raw.{entity.table} was not changed"
            )


def _replace_raw_table(con: duckdb.DuckDBPyConnection, entity: Entity, extra: list[str], source_tz: str) -> None:
    """Swap raw.<table> for the typed contents of `_load` in one transaction."""
    typed = ", ".join(
        f"CAST({_typed(c, source_tz)} AS {DUCKDB_TYPES[c.type]}) AS {_q(c.name)}" for c in entity.columns
    )
    extras = "".join(f", {_q(x)}" for x in extra)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(
            f"CREATE OR REPLACE TABLE raw.{entity.table} AS SELECT {typed}{extras}, _source_file, _source_row "
            "FROM _load"
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _ingest_asset(entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", entity.table],
        group_name="ingest",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            f"`{entity.system}/{entity.name}` extracts (CSV or Parquet) from the landing folder, typed per the "
            f"input contract (docs/input-contract.md) into raw.{entity.table}."
        ),
    )
    def ingest(
        context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings
    ) -> dg.MaterializeResult:
        with warehouse.connect() as con:
            result = load_entity(con, entity, Path(settings.landing_dir), settings.source_tz)
        context.log.info(f"raw.{result.table}: {result.rows} rows from {len(result.files)} file(s)")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "files": len(result.files),
                "file_list": dg.MetadataValue.json(result.files),
                "bytes": result.bytes,
                "extra_columns": dg.MetadataValue.json(result.extra_columns),
                "seconds": round(result.seconds, 3),
                "rows_per_second": round(result.rows / result.seconds) if result.seconds else result.rows,
            }
        )

    return ingest


ingest_assets: list[dg.AssetsDefinition] = [_ingest_asset(e) for e in ENTITIES]
