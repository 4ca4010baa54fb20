"""Loading one contract entity from every configured source into `extracted`, file by file, losing no row.

Each file is read and typed on its own, in one DuckDB statement that parses and types its records into a table
of an in-memory database (the text of a record is kept only when it is bad); the rows are then written once, into
extracted.<table>. Several files are read at once, one per DuckDB thread, each on its own connection.
A row that DuckDB cannot parse, or whose values break the contract, goes to extracted.quarantine with its line; if
a file's bad share exceeds the source's threshold the whole load stops and nothing is written. A load log keeps
each file's SHA-256 and one of how it is read (mapping, dialect, time zones, lookup files): unchanged files are
skipped, a changed file (or reading) replaces the rows it loaded before, a file that disappeared takes its rows
with it (unless none is left), and new files append. An optional entity (docs/input-contract.md) that no source
has a file of is no error: its table is created empty, or keeps the rows of the files loaded before. Every loaded
row lives in extracted.<table>, changed in one transaction with the quarantine and the log; which row of a record
is the newest is decided by its dbt staging model (docs/sources.md, "Duplicates"). The rows and quarantined lines
of people erased on request are emptied in the same transaction (pipeline/privacy/redaction.py), so they are
never written.
"""

import hashlib
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.ingest.contract import DUCKDB_TYPES, Column, Entity
from pipeline.ingest.sources.mapping import ColumnSpec, EntityMapping, SourceMapping, matched_files
from pipeline.ingest.sources.reader import (
    FileScan,
    Plain,
    ReadError,
    Staged,
    create_table,
    plain,
    read,
    record_text,
    scan,
    stage,
    unstage,
)
from pipeline.ingest.sources.values import bad, cleaned, lit, q, typed
from pipeline.privacy.redaction import recorded, redact_quarantine, redact_rows

#: Mapping SQL that reads the file as a table (`FROM _src`), not only a row's own columns (`_src.Id`): such a file's
#: text is held in temp table `_src` before it is typed.
_WHOLE_FILE = re.compile(r"\b_src\b(?!\s*\.)")
#: The in-memory database a file's typed rows wait in until the load is written (every connection of this process
#: sees it, so files can be read on several at once).
SCRATCH = "_ingest"
#: How the query of a direct file fails at its first bad row (Typing.direct).
BAD_ROW = "ingest: a value breaks the input contract in column "
#: How many bad lines an error message quotes.
FIRST_BAD_LINES = 5
#: Bookkeeping columns of extracted.<table>: where each row came from, and when its record last changed.
BOOKKEEPING = ("_source", "_source_file", "_source_row", "_modified_at")

_LOG_COLUMNS = (
    "source VARCHAR, entity VARCHAR, file VARCHAR, sha256 VARCHAR, reading_sha256 VARCHAR, "
    "data_rows BIGINT, loaded_rows BIGINT, quarantined_rows BIGINT, excluded_rows BIGINT, "
    "loaded_at TIMESTAMPTZ"
)
_QUARANTINE_COLUMNS = (
    "source VARCHAR, entity VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, "
    "reason VARCHAR, raw_line VARCHAR, quarantined_at TIMESTAMPTZ"
)


class IngestError(Exception):
    """An extract cannot be loaded; the message names the file, the column and the row."""


@dataclass
class FileLoad:
    """What happened to one file: `new`, `changed`, `unchanged` (skipped) or `removed`."""

    source: str
    file: str
    action: str
    sha256: str = ""
    reading_sha256: str = ""
    data_rows: int = 0
    loaded: int = 0
    quarantined: int = 0
    excluded: int = 0


@dataclass
class EntityLoad:
    table: str
    rows: int  # records in extracted.<table>, once duplicates resolve to the newest
    duplicates: int  # rows in extracted.<table> that lose to a newer row of the same record
    files: list[FileLoad]
    extra_columns: list[str]
    bytes: int
    seconds: float
    quarantine: list[dict] = field(default_factory=list)  # rows written to extracted.quarantine by this load
    #: An optional entity no source has a file of: its table is kept as it was, empty unless files were loaded before.
    absent: bool = False

    def count(self, action: str) -> int:
        return sum(f.action == action for f in self.files)


@dataclass
class Prepared:
    """A file read and typed into table `table` (of SCRATCH), checked against its threshold, not yet written.
    `rows` is a FROM-item of that table's rows with their `_source_row`; the rows to load are those `_keep` and
    without a `_bad_column`; extra column i is `_x<i>`."""

    file: FileLoad
    table: str
    rows: str
    extras: list[str]
    quarantine: list[dict]


@dataclass
class Direct:
    """A plain file (reader.Plain) loaded straight into extracted.<table> by `query` (Typing.direct), with no
    table of its own in between; extra column i is named extras[i]."""

    file: FileLoad
    query: str
    extras: list[str]


def file_id(path: Path, landing_dir: Path) -> str:
    """How a file is named in the warehouse: relative to the landing folder when inside it."""
    try:
        return path.resolve().relative_to(landing_dir.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as the load log, the landing sensor and backups record it."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def reading_digest(source: SourceMapping, mapping: EntityMapping, source_tz: str, reporting_tz: str) -> str:
    """SHA-256 of everything besides a file's bytes that decides what it loads as: the mapping, the dialect,
    the time zones (the reporting zone too: a date alone in a timestamp column, which every entity has, is its
    midnight), the contract, and the lookup files it joins. When it changes, unchanged files reload too."""
    hashes = [f"{lookup.name}:{p}:{sha256(p)}" for lookup in mapping.lookups for p in matched_files(source, lookup)]
    return hashlib.sha256(repr((source.dialect, mapping, source_tz, reporting_tz, hashes)).encode()).hexdigest()


def stage_lookups(
    con: duckdb.DuckDBPyConnection, source: SourceMapping, mapping: EntityMapping, work_dir: Path
) -> list[str]:
    """Each lookup as a temp table of text (its declared columns at least); a line that does not parse fails."""
    for lookup in mapping.lookups:
        parts = []
        for i, path in enumerate(matched_files(source, lookup)):
            try:
                staged = stage(con, path, source.dialect, work_dir, table=f"_lookup_{i}")
            except ReadError as exc:
                raise IngestError(
                    f"{exc} (lookup {lookup.name} of {mapping.entity.table}, source {source.name}); "
                    f"extracted.{mapping.entity.table} was not changed"
                ) from exc
            if staged.rejects:
                bad = staged.rejects[0]
                raise IngestError(
                    f"{path}: line {bad.line}: {bad.reason} (lookup {lookup.name} of "
                    f"{mapping.entity.table}, source {source.name}, where every line must parse); "
                    f"extracted.{mapping.entity.table} was not changed"
                )
            present = {h.lower() for h in staged.header}
            staged.view(con, tuple(c for c in lookup.columns if c.lower() not in present))
            parts.append(staged.table)
        empty = "SELECT " + ", ".join(f"NULL::VARCHAR AS {q(c)}" for c in lookup.columns) + " WHERE false"
        union = " UNION ALL BY NAME ".join([f"SELECT * EXCLUDE (_source_row) FROM {p}" for p in parts] + [empty])
        con.execute(f"CREATE OR REPLACE TEMP TABLE {q(lookup.name)} AS {union}")
        for part in parts:
            unstage(con, part)
    return [lookup.name for lookup in mapping.lookups]


def _text(spec: ColumnSpec | None) -> str:
    """SQL for the source text of one contract column (NULL when the column is not mapped)."""
    if spec is None:
        return "NULL::VARCHAR"
    text = q(spec.column) if spec.column else f"({spec.sql})::VARCHAR" if spec.sql else lit(spec.value)
    if spec.values:
        cases = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in spec.values)
        text = f"CASE trim({text}) {cases} ELSE {text} END"
    return text


def _problem(column, value) -> str:
    if value is None or not str(value).strip():
        return "is empty but required"
    if "\x00" in str(value):
        return f"value {value!r} contains a NUL byte"
    if column.bounds is not None:
        return f"value {value!r} is not a valid {column.type} from {column.bounds[0]:g} to {column.bounds[1]:g}"
    return f"value {value!r} is not a valid {column.type}"


class Typing:
    """How the records of one source's files of an entity become typed, checked rows: the SQL both ways of
    loading a file share (`prepare_file` keeps a bad row's text for the quarantine, `Typing.direct` does not).
    Naive timestamps are read in the dialect's time zone, else `source_tz`; dates alone in `reporting_tz`."""

    def __init__(self, source: SourceMapping, mapping: EntityMapping, source_tz: str, reporting_tz: str):
        self.source, self.mapping, entity = source, mapping, mapping.entity
        specs = dict(mapping.columns)
        if "currency" in entity.column_names and "currency" not in specs and source.dialect.currency:
            specs["currency"] = ColumnSpec(value=source.dialect.currency)
        # Each column's source text is computed once per row, as a column of the records (`computed` below), and
        # the typing and checks refer to that column: the typing repeats a text dozens of times, and a mapping's SQL
        # repeated as often (a correlated subquery over a lookup, say) made DuckDB plan each repetition (minutes for
        # a file of a few rows).
        self.sources = {c.name: _text(specs.get(c.name)) for c in entity.columns}
        self.texts = {name: f"__text_{i}" for i, name in enumerate(self.sources)}
        self.options = dict(
            source_tz=source.dialect.timezone or source_tz,
            reporting_tz=reporting_tz,
            date_formats=source.dialect.date_formats,
            decimal=source.dialect.decimal,
            thousands=source.dialect.thousands,
        )
        # Each value is typed once per row too, as a column (`__value_<i>`) the loaded value and its check both
        # read: checking a value by typing its text again cost three times the typing itself (the SFA's timestamps).
        self.columns = list(entity.columns)
        if mapping.last_modified is not None:
            # a value that does not read would lose the row its place among duplicates: quarantined like the rest
            self.columns.append(Column("last_modified", "timestamp"))
            self.sources["last_modified"], self.texts["last_modified"] = _text(mapping.last_modified), "__text_modified"
        self.values = {c.name: f"__value_{i}" for i, c in enumerate(self.columns)}
        # and each text trimmed, blank as NULL (values.cleaned), once per row as a column too: the typing of a
        # timestamp reads it a dozen times, and DuckDB trimmed it again each time (a third of the SFA leads' load)
        self.cleaned = {name: text.replace("__text", "__clean", 1) for name, text in self.texts.items()}
        self.checked = [(c, self.texts[c.name], self.values[c.name]) for c in self.columns]
        self.modified = self.values["last_modified"] if mapping.last_modified is not None else "NULL::TIMESTAMPTZ"
        self.kept_by_where = f"coalesce(({mapping.where}), false)" if mapping.where else "true"
        # the columns whose text is a file's own (or nothing): in a file without a NUL byte, none of them holds one
        self.file_text = {
            name
            for name, spec in [
                *((c.name, specs.get(c.name)) for c in entity.columns),
                ("last_modified", mapping.last_modified),
            ]
            if spec is None or (spec.column and not spec.values)
        }
        self.mapped = {s.column.lower() for s in mapping.columns.values() if s.column}
        self.whole_file = any(
            _WHOLE_FILE.search(sql or "")
            for sql in [mapping.where, *(s.sql for s in [*mapping.columns.values(), mapping.last_modified] if s)]
        )

    def checks(self, nul_free: bool = False) -> str:
        """The CASE branches naming a row's first bad column. `nul_free`: the file has no NUL byte (FileScan.nul),
        so the texts of its own columns are not searched for one (a quarter of the direct load of a narrow table)."""
        return " ".join(
            f"WHEN {bad(c, text, value, self.cleaned[c.name])}"
            + ("" if nul_free and c.name in self.file_text else f" OR contains({text}, chr(0))")
            + f" THEN {lit(c.name)}"
            for c, text, value in self.checked
        )

    @property
    def direct_ok(self) -> bool:
        """Whether a file may be loaded straight into extracted: every record is typed and kept (no `where`), and
        the mapping reads each record on its own (no lookups, no SQL over the whole file)."""
        return not (self.mapping.where or self.mapping.lookups or self.whole_file)

    def named(self, path: Path, header: list[str]) -> tuple[str, list[str]]:
        """SQL naming the positional columns c1, c2, ... by the header (an optional source column the file lacks
        is empty), and the file's columns kept beyond the mapping; fails when a mapped column is missing."""
        entity, mapping = self.mapping.entity, self.mapping
        present = {h.lower() for h in header}
        absent = tuple(dict.fromkeys(c for c in mapping.optional_columns if c.lower() not in present))
        needed = [s.column for s in [*mapping.columns.values(), mapping.last_modified] if s is not None and s.column]
        missing = [c for c in dict.fromkeys(needed) if c.lower() not in present | {a.lower() for a in absent}]
        if missing:
            raise IngestError(
                f"{path}: missing required column(s) {', '.join(missing)} for {entity.table} (source "
                f"{self.source.name}); the file has: {', '.join(header)}; extracted.{entity.table} was not changed"
            )
        extras = [h for h in header if h.lower() not in self.mapped] if mapping.keep_extra_columns else []
        named = ", ".join(
            [f"c{i + 1} AS {q(h)}" for i, h in enumerate(header)] + [f"NULL::VARCHAR AS {q(a)}" for a in absent]
        )
        return named, extras

    def origin(self, rows: str) -> str:
        """A FROM-item of the rows of FROM-item `rows` (named columns) with each column's source text, cleaned
        text and typed value, and `__keep`."""
        computed = ", ".join(
            [f"{self.sources[name]} AS {self.texts[name]}" for name in self.sources]
            + [f"{self.kept_by_where} AS __keep"]
        )
        cleaned_texts = ", ".join(f"{cleaned(self.texts[name])} AS {self.cleaned[name]}" for name in self.sources)
        # a row the mapping's `where` leaves out is not typed (nor checked, nor loaded); without a `where` every row
        # is typed, unwrapped: DuckDB evaluates the typing four times slower inside a CASE, even one always true
        values = {
            c.name: typed(c, self.texts[c.name], **self.options, clean=self.cleaned[c.name]) for c in self.columns
        }
        typing = ", ".join(
            (f"CASE WHEN __keep THEN {values[c.name]} END" if self.mapping.where else values[c.name])
            + f" AS {self.values[c.name]}"
            for c in self.columns
        )
        return (
            f"(SELECT _src.*, {typing} FROM (SELECT _src.*, {cleaned_texts} FROM "
            f"(SELECT _src.*, {computed} FROM {rows}) AS _src) AS _src) AS _src"
        )

    def loaded(self, extras: list[str]) -> list[str]:
        """The select list of a row's contract values, its extra columns (`_x<i>`) and `_modified_at`."""
        valued = [
            f"CAST({self.values[c.name]} AS {DUCKDB_TYPES[c.type]}) AS {q(c.name)}" for c in self.mapping.entity.columns
        ]
        return [
            *valued,
            *(f"{q(x)} AS _x{i}" for i, x in enumerate(extras)),
            f"CAST({self.modified} AS TIMESTAMPTZ) AS _modified_at",
        ]

    def direct(self, path: Path, plain: Plain, load: FileLoad, nul_free: bool) -> tuple[str, list[str]]:
        """A query of the rows of a plain CSV as extracted.<table> holds them (its extra columns by name), each
        numbered in file order, that fails at the first row that breaks the contract (as a malformed line fails the
        strict read): a file with bad rows is loaded by `prepare_file` instead. And the file's extra columns.
        `nul_free`: the file has no NUL byte (FileScan.nul)."""
        named, extras = self.named(path, plain.header)
        row_of = ", ".join(
            [q(c.name) for c in self.mapping.entity.columns] + [f"_x{i} AS {q(x)}" for i, x in enumerate(extras)]
        )
        # row_number() over the records as read: DuckDB numbers them in one ordered pass (its streaming window),
        # the data rows prepare_file numbers by the order it stores them in
        return (
            f"SELECT {row_of}, {lit(load.source)} AS _source, {lit(load.file)} AS _source_file, _source_row, "
            f"_modified_at FROM (SELECT {', '.join(self.loaded(extras))}, row_number() OVER () AS _source_row, "
            f"CASE {self.checks(nul_free)} END AS _bad_column FROM {self.origin(f'(SELECT {named} FROM {plain.records}) AS _src')}) "
            f"WHERE CASE WHEN _bad_column IS NULL THEN true ELSE error({lit(BAD_ROW)} || _bad_column) END",
            extras,
        )


def prepare_file(
    con: duckdb.DuckDBPyConnection,
    source: SourceMapping,
    mapping: EntityMapping,
    path: Path,
    landing_dir: Path,
    source_tz: str,
    reporting_tz: str,
    work_dir: Path,
    table: str,
    scanned: FileScan | None = None,
) -> Prepared:
    """Read and type one file into table `table` (of SCRATCH; a temp table when unqualified); collect its
    quarantine; enforce the bad-row threshold. Naive timestamps are read in the dialect's time zone, else
    `source_tz`; dates alone in `reporting_tz`. `scanned` is the file's scan when the caller has it."""
    entity = mapping.entity
    load = FileLoad(source.name, file_id(path, landing_dir), "new")
    typing = Typing(source, mapping, source_tz, reporting_tz)
    checked = typing.checked
    extras: list[str] = []

    def typed_rows(staged: Staged, records: str) -> int:
        """Parse and type the records in one statement; the fields and checked texts of a bad row are kept."""
        named, extras[:] = typing.named(path, staged.header)
        fields = [f"{q(h)} AS _f{i}" for i, h in enumerate(staged.header)]
        shown = [f"{text} AS _t{i}" for i, (_, text, _) in enumerate(checked)]
        passed = [f"_f{i}" for i in range(len(fields))] + [f"_t{i}" for i in range(len(shown))]
        rows = f"(SELECT {named} FROM {records}) AS _src"
        if typing.whole_file:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _src AS SELECT {named} FROM {records}")
            rows = "_src"
        con.execute(
            f"{create_table(table)} AS "
            f"SELECT * EXCLUDE ({', '.join(passed)}), "
            f"CASE WHEN _bad_column IS NOT NULL THEN [{', '.join(f'_t{i}' for i in range(len(shown)))}] END AS _shown, "
            f"CASE WHEN _bad_column IS NOT NULL THEN [{', '.join(f'_f{i}' for i in range(len(fields)))}] END AS _fields "
            f"FROM (SELECT {', '.join(typing.loaded(extras))}, "
            f"__keep AS _keep, CASE WHEN NOT __keep THEN NULL {typing.checks()} END AS _bad_column, "
            f"{', '.join(fields + shown)} FROM {typing.origin(rows)})"
        )
        con.execute("DROP TABLE IF EXISTS _src")
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]

    try:
        staged = read(con, path, source.dialect, work_dir, typed_rows, table, scanned)
        kept, bad_rows = con.execute(f"SELECT count(*) FILTER (_keep), count(_bad_column) FROM {table}").fetchall()[0]
        rows = staged.numbered(con, table)
    except ReadError as exc:
        raise IngestError(
            f"{exc} ({entity.table}, source {source.name}); extracted.{entity.table} was not changed"
        ) from exc
    except duckdb.Error as exc:
        raise IngestError(
            f"{path}: mapping of source {source.name} for {entity.table} does not apply to this file: "
            f"{exc}; extracted.{entity.table} was not changed"
        ) from exc

    quarantine = (
        _quarantine_rows(con, staged, rows, entity, source, load, checked) if bad_rows or staged.rejects else []
    )
    load.data_rows = staged.data_rows
    load.quarantined = len(quarantine)
    load.excluded = staged.rows - kept
    load.loaded = kept - bad_rows
    if load.quarantined > max(source.threshold * load.data_rows, source.floor):
        first = "; ".join(r["_message"] for r in quarantine[:FIRST_BAD_LINES])
        raise IngestError(
            f"{path}: {load.quarantined} of {load.data_rows} data rows ({load.quarantined / load.data_rows:.1%}) "
            f"cannot be loaded, over the bad-row threshold of {source.threshold:.1%} (and the floor of "
            f"{source.floor} rows) for {entity.table} (source {source.name}); extracted.{entity.table} was not "
            f"changed. First bad lines: {first}"
        )
    for row in quarantine:
        del row["_message"]
    return Prepared(load, table, rows, extras, quarantine)


def _quarantine_rows(
    con,
    staged: Staged,
    rows: str,
    entity: Entity,
    source: SourceMapping,
    load: FileLoad,
    checked: list[tuple[Column, str, str]],
) -> list[dict]:
    """Quarantine records (with a `_message` for errors) for the lines DuckDB rejected and the rows whose values
    break the contract, in line order."""
    base = {"source": source.name, "entity": entity.table, "file": load.file}
    found = [
        {
            **base,
            "line": r.line,
            "column_name": r.column,
            "reason": r.reason,
            "raw_line": r.raw,
            "_message": f"data row {r.row} (line {r.line}): {r.reason}",
        }
        for r in staged.rejects
    ]
    bad_rows = con.execute(
        f"SELECT _source_row, _bad_column, _shown, _fields FROM {rows} WHERE _bad_column IS NOT NULL "
        "ORDER BY _source_row"
    ).fetchall()
    names = [c.name for c, _, _ in checked]
    for source_row, column, shown, fields in bad_rows:
        line = staged.line(source_row)
        problem = _problem(checked[names.index(column)][0], shown[names.index(column)])
        where = f"column {column!r}, data row {source_row}" + (f" (line {line})" if staged.delimiter else "")
        found.append(
            {
                **base,
                "line": line,
                "column_name": column,
                "reason": problem,
                "raw_line": record_text(fields, staged.delimiter or ","),
                "_message": f"{where}: {problem}",
            }
        )
    return sorted(found, key=lambda r: r["line"])


def extra_columns(con: duckdb.DuckDBPyConnection, entity: Entity) -> list[str]:
    """The columns of extracted.<entity> that its files had beyond the contract, kept as text."""
    contract = {c.lower() for c in entity.column_names}
    return sorted(
        r[0]
        for r in con.execute(f"DESCRIBE extracted.{entity.table}").fetchall()
        if r[0].lower() not in contract and r[0] not in BOOKKEEPING
    )


def _extracted_columns(entity: Entity) -> str:
    return (
        ", ".join(f"{q(c.name)} {DUCKDB_TYPES[c.type]}" for c in entity.columns)
        + ", _source VARCHAR, _source_file VARCHAR, _source_row BIGINT, _modified_at TIMESTAMPTZ"
    )


def _logged(con: duckdb.DuckDBPyConnection, entity: Entity) -> dict[tuple[str, str], FileLoad]:
    """(source, file) -> the log's record of what extracted holds of it now (hashes and counts); empty if never loaded."""
    tables = {
        r[0]
        for r in con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    }
    if not {"extracted.load_log", f"extracted.{entity.table}"} <= tables:
        return {}
    return {
        (row[0], row[1]): FileLoad(*row[:2], "unchanged", *row[2:])
        for row in con.execute(
            "SELECT source, file, sha256, reading_sha256, data_rows, loaded_rows, quarantined_rows, excluded_rows "
            "FROM extracted.load_log WHERE entity = ?",
            [entity.table],
        ).fetchall()
    }


def _pairs(files: list[FileLoad]) -> str:
    """SQL row values of (source, file), for IN lists."""
    return ", ".join(f"({lit(f.source)}, {lit(f.file)})" for f in files) or "(NULL, NULL)"


class _NotDirect(Exception):
    """Loading the plain files straight into extracted failed (a bad row, a malformed line, a byte that is not
    UTF-8 ...); the transaction was rolled back, and the files are loaded through prepare_file."""


def _write(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    prepared: list[Prepared],
    gone: list[FileLoad],
    erased: dict[str, str],
    direct: list[Direct] = (),
) -> None:
    """Apply the prepared and the direct files and the removals to the extracted rows, quarantine and the log,
    atomically; the rows and lines of the `erased` people (pipeline/privacy/redaction.py) are emptied before they
    are committed. Raises _NotDirect (nothing written) when a direct file has a row that cannot be loaded."""
    table = f"extracted.{entity.table}"
    written = [p.file for p in [*prepared, *direct]]
    replaced = written + gone
    quarantine = pd.DataFrame(
        [r for p in prepared for r in p.quarantine],
        columns=["source", "entity", "file", "line", "column_name", "reason", "raw_line"],
    )
    con.register("_quarantine_new", quarantine)
    preserving = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS extracted")
        con.execute(f"CREATE TABLE IF NOT EXISTS extracted.load_log ({_LOG_COLUMNS})")
        con.execute(f"CREATE TABLE IF NOT EXISTS extracted.quarantine ({_QUARANTINE_COLUMNS})")
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({_extracted_columns(entity)})")
        have = {r[0].lower() for r in con.execute(f"DESCRIBE {table}").fetchall()}
        for extra in dict.fromkeys(x for p in [*prepared, *direct] for x in p.extras):
            if extra.lower() not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {q(extra)} VARCHAR")
                have.add(extra.lower())
        con.execute(f"DELETE FROM {table} WHERE (_source, _source_file) IN ({_pairs(replaced)})")
        for p in prepared:
            columns = [q(c.name) for c in entity.columns] + [f"_x{i} AS {q(x)}" for i, x in enumerate(p.extras)]
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT {', '.join(columns)}, {lit(p.file.source)} AS _source, "
                f"{lit(p.file.file)} AS _source_file, _source_row, _modified_at FROM {p.rows} "
                "WHERE _keep AND _bad_column IS NULL"
            )
        if direct:
            _insert_direct(con, table, direct)
        for name in ("quarantine", "load_log"):
            con.execute(
                f"DELETE FROM extracted.{name} WHERE entity = ? AND (source, file) IN ({_pairs(replaced)})",
                [entity.table],
            )
        con.execute("INSERT INTO extracted.quarantine SELECT *, now() FROM _quarantine_new")
        if erased:
            where = f"(_source, _source_file) IN ({_pairs(replaced)})"
            redact_rows(con, table, entity, extra_columns(con, entity), erased, where)
            redact_quarantine(con, erased, f"entity = {lit(entity.table)} AND (source, file) IN ({_pairs(replaced)})")
        fields = ["source", "file", "sha256", "reading_sha256", "data_rows", "loaded", "quarantined", "excluded"]
        con.register("_log_new", pd.DataFrame([{k: getattr(f, k) for k in fields} for f in written], columns=fields))
        con.execute(
            f"INSERT INTO extracted.load_log SELECT source, {lit(entity.table)}, file, sha256, reading_sha256, "
            "data_rows, loaded, quarantined, excluded, now() FROM _log_new"
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"SET preserve_insertion_order = {preserving}")
        con.unregister("_quarantine_new")
        con.unregister("_log_new")


def _insert_direct(con: duckdb.DuckDBPyConnection, table: str, direct: list[Direct]) -> None:
    """Insert the rows of the direct files into `table` in one statement, and count each file's rows.

    The files are read at once, one per DuckDB thread: with insertion order not preserved, DuckDB runs the
    branches of a UNION ALL side by side (each numbers its own rows in one ordered pass); the order the rows are
    stored in carries no meaning, as each has its file and row number."""
    con.execute("SET preserve_insertion_order = false")
    try:
        inserted = con.execute(
            f"INSERT INTO {table} BY NAME " + " UNION ALL BY NAME ".join(f"({d.query})" for d in direct)
        ).fetchall()[0][0]
    except duckdb.Error as exc:
        raise _NotDirect(str(exc)) from exc
    if len(direct) == 1:
        counts = {(direct[0].file.source, direct[0].file.file): inserted}
    else:
        counts = dict.fromkeys(((d.file.source, d.file.file) for d in direct), 0) | {
            (source, file): rows
            for source, file, rows in con.execute(
                f"SELECT _source, _source_file, count(*) FROM {table} "
                f"WHERE (_source, _source_file) IN ({_pairs([d.file for d in direct])}) GROUP BY ALL"
            ).fetchall()
        }
    for d in direct:
        d.file.data_rows = d.file.loaded = counts[(d.file.source, d.file.file)]


def _no_files_error(entity: Entity, sources: list[SourceMapping], logged: int) -> IngestError:
    """No file at all is taken for a missing or unmounted landing folder, not for files deleted on purpose: the
    extracted layer keeps the rows of the files loaded before."""
    where = "; ".join(
        f"source {s.name}: {' or '.join(str(s.files_dir / g) for g in s.entities[entity.table].files)}"
        for s in sources
        if entity.table in s.entities
    )
    kept = (
        f"; extracted.{entity.table} was not changed and still holds the rows of {logged} file(s) loaded before"
        if logged
        else ""
    )
    return IngestError(
        f"{entity.table}: no extract found; expected CSV or Parquet files matching "
        f"{where or 'a source that maps this entity (docs/sources.md)'}{kept}"
    )


def _direct(
    entity: Entity,
    todo: list[tuple[int, SourceMapping, Path]],
    files: list[FileLoad],
    scans: list[FileScan],
    source_tz: str,
    reporting_tz: str,
) -> list[Direct] | None:
    """The files to load as Direct ones (files[i] and scans[i] are those of todo's file i), or None when any must
    be read through prepare_file: it is not a plain CSV, or its mapping filters rows or reads more than a row."""
    if not todo:
        return None
    typings: dict[str, Typing] = {}
    direct = []
    for i, source, path in todo:
        mapping = source.entities[entity.table]
        typing = typings.setdefault(source.name, Typing(source, mapping, source_tz, reporting_tz))
        found = plain(path, source.dialect, scans[i]) if typing.direct_ok else None
        if found is None:
            return None
        try:
            query, extras = typing.direct(path, found, files[i], nul_free=not scans[i].nul)
        except IngestError:
            return None  # a mapped column is missing: prepare_file says so, in the order of the files
        direct.append(Direct(files[i], query, extras))
    return direct


def load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    sources: list[SourceMapping],
    landing_dir: Path,
    source_tz: str,
    reporting_tz: str,
) -> EntityLoad:
    """Bring extracted.<entity> up to date with the files the sources name for it; see the module docstring. Naive
    timestamps are read in `source_tz` (unless a source's dialect names its zone), dates alone in `reporting_tz`.

    Raises IngestError (naming the file, the bad lines and the reasons) when a file cannot be read, lacks a
    mapped column, or has more bad rows than its threshold, or when no source has a file of a required entity; the
    extracted rows, quarantine and log are then unchanged.
    """
    started = time.perf_counter()
    found = [(s, p) for s in sources if entity.table in s.entities for p in matched_files(s, s.entities[entity.table])]
    logged = _logged(con, entity)
    if not found and not entity.optional:
        raise _no_files_error(entity, sources, len(logged))
    current = {(s.name, file_id(p, landing_dir)) for s, p in found}
    # no file at all keeps what was loaded (a missing or unmounted folder), as for a required entity
    gone = [FileLoad(s, f, "removed") for (s, f) in logged if (s, f) not in current] if found else []
    work_dir = Path(tempfile.mkdtemp(prefix="funnel-ingest-"))
    lookups: dict[str, list[str]] = {}  # source -> its staged lookup tables
    reading = {
        s.name: reading_digest(s, s.entities[entity.table], source_tz, reporting_tz)
        for s in sources
        if entity.table in s.entities
    }
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")
    # files are read on as many connections as DuckDB has threads: DuckDB reads a file under 160 MB on one thread
    # (its CSV buffer is 16 lines of MAX_LINE_SIZE), so one file at a time left a core idle. Lookups are temp tables
    # of this connection: a mapping that joins them reads its files here, one by one.
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    parallel = threads > 1 and len(found) > 1 and not any(s.entities[entity.table].lookups for s, _ in found)

    def pool_map(work, *args) -> list:
        if not parallel:
            return list(map(work, *args))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ingest") as pool:
            return list(pool.map(work, *args))

    # each file's hash and the line ends the reader needs: one pass over its bytes (hashlib lets go of the GIL)
    scans = pool_map(scan, [p for _, p in found])
    files: list[FileLoad] = []  # what became of each file, in the order found
    todo: list[tuple[int, SourceMapping, Path]] = []  # the files to load: new, changed, or read differently now
    for i, ((source, path), scanned) in enumerate(zip(found, scans, strict=True)):
        key = (source.name, file_id(path, landing_dir))
        if key in logged and (logged[key].sha256, logged[key].reading_sha256) == (scanned.sha256, reading[source.name]):
            files.append(logged[key])  # skipped, with the counts of the load that still stands
            continue
        load = FileLoad(*key, "changed" if key in logged else "new", scanned.sha256, reading[source.name])
        files.append(load)
        todo.append((i, source, path))
    prepared: list[Prepared] = []

    def prepare(i: int, source: SourceMapping, path: Path) -> Prepared:
        """Read and type the file into a table of SCRATCH."""
        mapping = source.entities[entity.table]
        if mapping.lookups and not lookups[source.name]:
            lookups[source.name] = stage_lookups(con, source, mapping, work_dir)
        reader = con.cursor() if parallel else con
        try:
            p = prepare_file(
                reader,
                source,
                mapping,
                path,
                landing_dir,
                source_tz,
                reporting_tz,
                work_dir,
                f"{SCRATCH}._ready_{i}",
                scans[i],
            )
        finally:
            if reader is not con:
                reader.close()
        p.file.action, p.file.sha256, p.file.reading_sha256 = files[i].action, files[i].sha256, files[i].reading_sha256
        files[i] = p.file  # with the counts of this reading
        return p

    try:
        for source, _ in found:
            lookups.setdefault(source.name, [])
        direct = _direct(entity, todo, files, scans, source_tz, reporting_tz)
        if direct is not None:
            try:
                _write(con, entity, [], gone, recorded(con), direct)
            except _NotDirect:
                direct = None  # a file has a bad row: each is read again, and its bad rows quarantined
            except duckdb.Error as exc:
                raise IngestError(
                    f"{entity.table}: cannot write the load: {exc}; extracted.{entity.table} was not changed"
                ) from exc
        if direct is None:
            prepared = pool_map(prepare, *zip(*todo, strict=True)) if todo else []
            if prepared or gone or not found:  # an optional entity without files still gets its (empty) table
                try:
                    _write(con, entity, prepared, gone, recorded(con))
                except duckdb.Error as exc:
                    raise IngestError(
                        f"{entity.table}: cannot write the load: {exc}; extracted.{entity.table} was not changed"
                    ) from exc
    finally:
        for i in range(len(found)):
            con.execute(f"DROP TABLE IF EXISTS {SCRATCH}._ready_{i}")
            con.execute(f"DROP TABLE IF EXISTS {SCRATCH}._ready_{i}_skips")
        for name in (n for names in lookups.values() for n in names):
            con.execute(f"DROP TABLE IF EXISTS {q(name)}")
        con.execute("DROP TABLE IF EXISTS _src")
        for leftover in work_dir.iterdir():
            leftover.unlink()
        work_dir.rmdir()
    records = f"count(DISTINCT ({', '.join(q(k) for k in entity.key)}))" if entity.key else "count(*)"
    rows, loaded = con.execute(f"SELECT {records}, count(*) FROM extracted.{entity.table}").fetchall()[0]
    extras = extra_columns(con, entity)
    return EntityLoad(
        table=entity.table,
        rows=rows,
        duplicates=loaded - rows,
        files=files + gone,
        extra_columns=extras,
        bytes=sum(p.stat().st_size for _, p in found),
        seconds=time.perf_counter() - started,
        quarantine=[r for p in prepared for r in p.quarantine],
        absent=not found,
    )
