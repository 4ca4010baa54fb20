"""Reading one extract: encoding, CSV dialect, and the lines DuckDB cannot parse.

DuckDB's CSV reader does the parsing, in one statement of the caller's (`read`): the loader types the records as
DuckDB reads them, so a file's text is never held as a table of its own (`stage` does hold it, for the small
files of lookups and searches). Python reads a UTF-8 file's bytes once, for its SHA-256 and line ends (`scan`);
DuckDB checks the encoding as it parses, and only a file it finds invalid bytes in is inspected further. Files in
an encoding other than UTF-8 (CP932/Shift_JIS from Japanese Excel) are transcoded to a temporary UTF-8 file first,
in chunks, because DuckDB's encodings extension is not always installable. Malformed lines (too few or too many
fields, a stray quote, invalid bytes) are collected from DuckDB's rejects table with their text, so they can be
quarantined while the rest of the file loads. Every record, loaded or rejected, gets one number: its data row
(1 = the first record after the header; blank lines are no records) and the physical line where it starts
(docs/input-contract.md).
"""

import codecs
import csv
import dataclasses
import gzip
import hashlib
import io
import re
import shutil
import tempfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.ingest.sources.mapping import PARQUET_SUFFIXES, Dialect
from pipeline.ingest.sources.values import lit, q

CHUNK = 1 << 20
MAX_LINE_SIZE = 10_000_000
#: Columns the loader adds to every row; a file's own column of such a name would be silently overwritten.
RESERVED = ("_source", "_source_file", "_source_row", "_modified_at", "_bad_column")
DELIMITERS = (",", ";", "\t", "|")
#: A file without a BOM is read as UTF-8 despite invalid bytes when it has this many valid multi-byte
#: characters per invalid byte: a UTF-8 export with a stray Latin-1 byte, not CP932 (whose text is mostly
#: invalid as UTF-8: its lead bytes 0x81-0x9F are UTF-8 continuation bytes).
UTF8_MAJORITY = 10
#: Counting stops at this many invalid bytes when they outnumber the valid characters: not UTF-8, whatever follows.
NOT_UTF8 = 100
_ESCAPED = re.compile("[\udc80-\udcff]")  # an invalid byte, as surrogateescape decodes it
#: DuckDB's error type for a record with bytes that are not UTF-8.
INVALID_ENCODING = "invalid encoding"


class ReadError(Exception):
    """A file cannot be read at all (no header, unknown encoding, a duplicated column name)."""


@dataclass(frozen=True)
class Reject:
    row: int  # data row: the record's number after the header, rejected records counted, blank lines not
    line: int  # the physical line (header = line 1) where the record starts
    column: str | None
    reason: str
    raw: str


@dataclass(frozen=True)
class FileScan:
    """What one pass over a file's bytes tells: the SHA-256 the load log keeps, its line ends, and its first chunk
    (where the encoding is glanced at and the header read, so they need not read the file again)."""

    sha256: str
    crlf: int  # CRLF line ends
    lf: int  # LF line ends, CRLF ones included
    lines: int  # physical lines; a last line without a line end counts
    nul: bool  # whether any byte is 0x00: a file without one needs no value checked for NUL (loader.Typing.direct)
    head: bytes = dataclasses.field(default=b"", repr=False)  # the first CHUNK bytes


def scan(path: Path) -> FileScan:
    """Hash the file, count its line ends and look for a NUL byte in one streaming read."""
    digest = hashlib.sha256()
    crlf = lf = 0
    nul = False
    previous = head = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            head = head or chunk
            digest.update(chunk)
            lf += chunk.count(b"\n")
            nul = nul or b"\0" in chunk
            if b"\r" in chunk or previous.endswith(b"\r"):  # most files have none: a fast scan says so
                crlf += chunk.count(b"\r\n") + (previous.endswith(b"\r") and chunk.startswith(b"\n"))
            previous = chunk
    return FileScan(digest.hexdigest(), crlf, lf, lf + (previous[-1:] not in (b"\n", b"")), nul, head)


def _head(path: Path, head: bytes | None) -> bytes:
    """The first CHUNK bytes of `path`: `head` when the caller has them from a scan."""
    if head is not None:
        return head
    with open(path, "rb") as f:
        return f.read(CHUNK)


#: The caller's statement reading a file's records: it gets the Staged file (its header) and a FROM-item with the
#: records as text columns c1, c2, ... in file order, and returns how many records it read.
Into = Callable[["Staged", str], int]


@dataclass
class Staged:
    """A file as read: its header, encoding, records and rejects. After `stage`, temp view `table` holds one text
    column per header field, plus `_source_row`, the data row (numbered like Reject.row); the view reads
    `table`_data, whose columns are positional (c1, c2, ...), so a column the file itself calls `rowid` cannot hide
    the order DuckDB read the rows in."""

    table: str
    header: list[str]
    encoding: str
    delimiter: str | None  # None for Parquet
    rows: int
    rejects: list[Reject]  # one per rejected record, in file order
    starts: array | None = None  # line where each data row starts, when that is not simply row + 1
    added: tuple[str, ...] = ()  # empty columns the view adds (optional columns the file lacks)

    @property
    def data_rows(self) -> int:
        return self.rows + len(self.rejects)

    def line(self, row: int) -> int:
        """The physical line where data row `row` starts (the row itself for Parquet, which has no lines)."""
        if self.delimiter is None:
            return row
        return self.starts[row - 1] if self.starts is not None and row <= len(self.starts) else row + 1

    def numbered(self, con: duckdb.DuckDBPyConnection, source: str) -> str:
        """A FROM-item of the rows of table `source`, which holds this file's parsed records in file order (and no
        column named rowid), each with its `_source_row`; temp table `table`_skips keeps the rejected records."""
        if not self.rejects:
            return f"(SELECT rowid + 1 AS _source_row, * FROM {source})"
        # rejected records shift the data rows after them: n of them precede every parsed row k >= adj
        shifts = {reject.row - n: n for n, reject in enumerate(self.rejects, 1)}
        con.execute(
            f"{create_table(self.table + '_skips')} AS SELECT * FROM (VALUES "
            + ", ".join(f"({adj}, {n})" for adj, n in shifts.items())
            + ") AS t(adj, n)"
        )
        return (
            f"(SELECT d._k + 1 + coalesce(k.n, 0) AS _source_row, d.* EXCLUDE (_k) FROM "
            f"(SELECT rowid AS _k, * FROM {source}) AS d ASOF LEFT JOIN {self.table}_skips AS k ON d._k >= k.adj)"
        )

    def view(self, con: duckdb.DuckDBPyConnection, added: tuple[str, ...] = ()) -> None:
        """(Re)create the view over `table`_data, with `added` as further empty columns."""
        self.added += added
        columns = [f"c{i + 1} AS {q(name)}" for i, name in enumerate(self.header)]
        columns += [f"NULL::VARCHAR AS {q(name)}" for name in self.added]
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {self.table} AS SELECT _source_row, {', '.join(columns)} "
            f"FROM {self.numbered(con, f'{self.table}_data')}"
        )


def unstage(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop what stage() created for `table`."""
    con.execute(f"DROP VIEW IF EXISTS {table}")
    con.execute(f"DROP TABLE IF EXISTS {table}_skips")
    con.execute(f"DROP TABLE IF EXISTS {table}_data")


def detect_encoding(path: Path, shown: Path | None = None) -> str:
    """`utf-8-sig` with a BOM; `utf-8` when the bytes are UTF-8 apart from a few stray bytes (their lines are
    quarantined, rather than the whole file read as CP932 mojibake); `cp932` when they are not plausibly UTF-8
    and decode as CP932. Anything in between is too ambiguous to guess."""
    with open(path, "rb") as f:
        if f.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
    if _decodes(path, "utf-8"):
        return "utf-8"
    multibyte, invalid, first_invalid = _utf8_counts(path)
    if multibyte >= UTF8_MAJORITY * invalid:
        return "utf-8"
    if multibyte <= invalid and _decodes(path, "cp932"):
        return "cp932"
    what = "is mostly UTF-8 but has invalid bytes" if multibyte > invalid else "is neither UTF-8 nor CP932 (Shift_JIS)"
    raise ReadError(
        f"{shown or path}: {what} ({multibyte} valid multi-byte UTF-8 characters, {invalid} invalid "
        f"byte(s), the first at byte {first_invalid}); set `encoding` in the source's dialect"
    )


def _utf8_counts(path: Path) -> tuple[int, int, int | None]:
    """Valid non-ASCII UTF-8 characters, invalid bytes, and the offset of the first invalid byte (the counts stop
    early for a file that is clearly not UTF-8)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    multibyte = invalid = offset = 0
    first = None
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            held = len(decoder.getstate()[0])  # bytes of a character split by the previous chunk
            text = decoder.decode(chunk, final=not chunk)
            if not text.isascii():
                bad = _ESCAPED.findall(text)
                if bad and first is None:
                    first = (
                        offset - held + len(text[: _ESCAPED.search(text).start()].encode("utf-8", "surrogateescape"))
                    )
                invalid += len(bad)
                multibyte += len(text) - len(text.encode("ascii", "ignore")) - len(bad)
            offset += len(chunk)
            if not chunk or invalid >= NOT_UTF8 and invalid > multibyte:  # CP932 shows in the first chunk
                return multibyte, invalid, first


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def transcode(path: Path, encoding: str, work_dir: Path, shown: Path | None = None) -> Path:
    """A UTF-8 copy of `path` with CRLF as LF, written chunk by chunk; raises ReadError at the first
    undecodable byte."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=work_dir)[1])
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, carry = 0, ""
    with open(path, "rb") as src, open(target, "w", encoding="utf-8", newline="") as dst:
        try:
            while chunk := src.read(CHUNK):
                text = carry + decoder.decode(chunk)
                carry = "\r" if text.endswith("\r") else ""
                dst.write(text[: len(text) - len(carry)].replace("\r\n", "\n"))
                offset += len(chunk)
            dst.write(carry + decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            target.unlink()
            raise ReadError(
                f"{shown or path}: byte {offset + exc.start} is not valid {encoding}; "
                "set the right `encoding` in the source's dialect"
            ) from exc
    return target


def _first_record(path: Path, quote: str, shown: Path, head: bytes | None = None) -> str:
    """The header record's text (quoted line breaks included). Only the header must be valid UTF-8: a bad byte
    further down is DuckDB's to reject with its line. `head` is the file's first chunk when the caller has it."""
    head = _head(path, head)
    bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    text = head[bom:].decode("utf-8", "surrogateescape")
    if not text.strip():
        raise ReadError(f"{shown}: is empty; an export must at least have a header line")
    end, quoted = 0, False
    for i, ch in enumerate(text):
        if ch == quote:
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            end = i
            break
    else:
        end = len(text)
    if bad := _ESCAPED.search(text[:end]):
        offset = bom + len(text[: bad.start()].encode("utf-8", "surrogateescape"))
        raise ReadError(
            f"{shown}: the header line is not valid UTF-8 (byte {offset}); set the right `encoding` "
            "in the source's dialect"
        )
    return text[:end]


def read_header(
    path: Path, dialect: Dialect, shown: Path | None = None, head: bytes | None = None
) -> tuple[list[str], str]:
    """Column names of the header line and the delimiter: the dialect's, or the one of , ; TAB | the header
    contains most often (the header decides, so a malformed data line cannot mislead the detection).
    Errors name `shown`, the original file, when `path` is its UTF-8 copy; `head` is its first chunk if known."""
    shown = shown or path
    header_text = _first_record(path, dialect.quote, shown, head)
    delimiter = dialect.delimiter or max(DELIMITERS, key=header_text.count)
    names = next(csv.reader(io.StringIO(header_text), delimiter=delimiter, quotechar=dialect.quote))
    # an unnamed column (often a trailing delimiter) is kept under the name column<n>, like DuckDB names them
    names = [n.strip() or f"column{i + 1}" for i, n in enumerate(names)]
    seen = [n for n in names if [m.lower() for m in names].count(n.lower()) > 1]
    if seen:
        raise ReadError(f"{shown}: header names column(s) {', '.join(sorted(set(seen)))} more than once")
    _check_reserved(names, shown)
    return names, delimiter


def _check_reserved(names: list[str], shown: Path) -> None:
    if clash := [n for n in names if n.lower() in RESERVED]:
        raise ReadError(
            f"{shown}: column(s) {', '.join(clash)} of the header use a name the pipeline reserves for "
            f"where a row came from ({', '.join(RESERVED)}); rename them in the export"
        )


def create_table(table: str) -> str:
    """`CREATE OR REPLACE TABLE` for `table` of another database (a qualified name: ingest's scratch database), a
    temp table for an unqualified name, so nothing of a read lands in the warehouse's own schemas."""
    return f"CREATE OR REPLACE {'' if '.' in table else 'TEMP '}TABLE {table}"


def stage(con: duckdb.DuckDBPyConnection, path: Path, dialect: Dialect, work_dir: Path, table: str = "_src") -> Staged:
    """Read `path` into temp view `table` (all text, with each row's `_source_row`) and collect rejects."""

    def into(_: Staged, source: str) -> int:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table}_data AS SELECT * FROM {source}")
        return con.execute(f"SELECT count(*) FROM {table}_data").fetchall()[0][0]

    staged = read(con, path, dialect, work_dir, into, table)
    staged.view(con)
    return staged


def read(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    dialect: Dialect,
    work_dir: Path,
    into: Into,
    table: str,
    scanned: FileScan | None = None,
) -> Staged:
    """Read `path` with the statement `into` and collect the rejects; `table` names what Staged.numbered creates.
    `scanned` is the file's scan when the caller has it (a UTF-8 file's bytes are then read once in Python)."""
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        source = f"read_parquet({lit(str(path))})"
        try:
            header = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
            _check_reserved(header, path)
            staged = Staged(table, header, "parquet", None, 0, [])
            staged.rows = into(
                staged,
                f"(SELECT {', '.join(f'#{i + 1}::VARCHAR AS c{i + 1}' for i in range(len(header)))} FROM {source})",
            )
        except duckdb.Error as exc:
            raise ReadError(f"{path}: cannot be read as Parquet: {exc}") from exc
        return staged

    plain = path
    if path.name.lower().endswith(".gz"):
        plain, scanned = gunzip(path, work_dir), None
    try:
        return _read_csv_file(con, path, plain, dialect, work_dir, into, table, scanned)
    finally:
        if plain != path:
            plain.unlink(missing_ok=True)


def gunzip(path: Path, work_dir: Path) -> Path:
    """A decompressed copy of a .gz file, so encoding and line ends can be inspected like any other file."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=work_dir)[1])
    try:
        with gzip.open(path, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except (OSError, EOFError) as exc:
        target.unlink()
        raise ReadError(f"{path}: is not a readable gzip file: {exc}") from exc
    return target


def _first_glance(path: Path, shown: Path, head: bytes | None = None) -> str | None:
    """`utf-8-sig` with a BOM; None (UTF-8, unless DuckDB finds bytes that are not) when the first chunk is UTF-8;
    else what detect_encoding finds (CP932 text shows in the first chunk). `head` is that chunk if known."""
    head = _head(path, head)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return None if _utf8(head) else detect_encoding(path, shown)


def _utf8(head: bytes) -> bool:
    """Whether a file's first chunk is UTF-8 (a character cut off at the chunk's end is no error)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)
    except UnicodeDecodeError:
        return False
    return True


def _read_csv_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    plain: Path,
    dialect: Dialect,
    work_dir: Path,
    into: Into,
    table: str,
    scanned: FileScan | None,
) -> Staged:
    """Read the CSV `plain` (the file itself, or its decompressed copy); errors name `path`."""
    head = scanned.head if scanned is not None and scanned.head and plain == path else None
    encoding = dialect.encoding or _first_glance(plain, path, head)
    readable = plain
    # CRLF and LF both end a record, as in Python's csv module; DuckDB wants one kind per file, so a file
    # in another encoding (transcoded anyway) or mixing both gets a copy with CRLF as LF
    if encoding is not None and codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        readable = transcode(plain, encoding, work_dir, path)
        lines = scan(readable).lines
    else:
        ends = scanned or scan(plain)
        if 0 < ends.crlf < ends.lf:  # CRLF and bare LF mixed (concatenated exports)
            readable = normalize_newlines(plain, work_dir)
        lines = ends.lines
    try:
        header, delimiter = read_header(readable, dialect, path, head if readable == plain else None)
        staged = Staged(table, header, encoding or "utf-8", delimiter, 0, [])
        staged.rows, rejects = _read_csv(con, readable, staged, dialect.quote, into)
        if encoding is None and any(reason.startswith(INVALID_ENCODING) for _, reason, _ in rejects.values()):
            # bytes that are not UTF-8: quarantined when they are a few strays, else the file is read again as
            # what it is (or fails, naming the first of them)
            found = detect_encoding(plain, path)
            if codecs.lookup(found).name != "utf-8":
                found_dialect = dataclasses.replace(dialect, encoding=found)
                return _read_csv_file(con, path, plain, found_dialect, work_dir, into, table, scanned)
        records = staged.rows + len(rejects)
        if lines != records + 1:
            # blank lines or line breaks inside quoted values: DuckDB's reject lines count records and blank
            # lines, so map them, and every data row, to the line where the record starts
            staged.starts, data_row = _record_starts(readable, delimiter, dialect.quote, set(rejects))
        else:
            data_row = {line: line - 1 for line in rejects}
        staged.rejects = [_reject(staged, data_row, line, *fields) for line, fields in rejects.items()]
    except duckdb.Error as exc:
        raise ReadError(f"{path}: cannot be read as CSV: {exc}") from exc
    finally:
        if readable != plain:
            readable.unlink(missing_ok=True)
    return staged


def _reject(
    staged: Staged, data_row: dict[int, int], duckdb_line: int, column: str | None, reason: str, raw: str
) -> Reject:
    """A reject numbered like every row; DuckDB's own numbers stand where Python's csv module splits the records
    otherwise (an unterminated quote)."""
    row = data_row.get(duckdb_line)
    if row is None:
        return Reject(duckdb_line - 1, duckdb_line, column, reason, raw)
    return Reject(row, staged.line(row), column, reason, raw)


def _csv_records(path: Path, width: int, delimiter: str, quote: str, errors: str) -> str:
    """DuckDB's CSV reader over the data lines of `path`, as text columns c1 .. c<width>; `errors` are the
    options that say what a malformed line does (rejects table, or none: the statement fails)."""
    columns = "{" + ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(width)) + "}"
    return (
        f"read_csv({lit(str(path))}, auto_detect = false, header = true, columns = {columns}, "
        f"delim = {lit(delimiter)}, quote = {lit(quote)}, escape = {lit(quote)}, max_line_size = {MAX_LINE_SIZE}"
        + (f", {errors})" if errors else ")")
    )


@dataclass(frozen=True)
class Plain:
    """A CSV that DuckDB can read as it is (UTF-8, one kind of line end, not compressed): its header, and its
    records as text columns c1, c2, ... read strictly, so that a malformed line or a byte that is not UTF-8 fails
    the statement instead of being rejected."""

    header: list[str]
    delimiter: str
    records: str


def plain(path: Path, dialect: Dialect, scanned: FileScan) -> Plain | None:
    """The file as a Plain CSV, or None when it needs more than DuckDB's reader (Parquet, gzip, another encoding,
    mixed line ends, a header that does not read): `read` handles those, and reports their errors."""
    if path.name.lower().endswith((*PARQUET_SUFFIXES, ".gz")) or 0 < scanned.crlf < scanned.lf:
        return None
    head = scanned.head
    try:
        if dialect.encoding is not None and codecs.lookup(dialect.encoding).name not in ("utf-8", "utf-8-sig"):
            return None
        if dialect.encoding is None and not head.startswith(codecs.BOM_UTF8) and not _utf8(head):
            return None  # CP932, say: `read` finds out which encoding it is
        header, delimiter = read_header(path, dialect, path, head or None)
    except ReadError:
        return None
    return Plain(header, delimiter, _csv_records(path, len(header), delimiter, dialect.quote, ""))


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, staged: Staged, quote: str, into: Into) -> tuple[int, dict]:
    """The statement `into` reads the data lines through DuckDB's CSV reader with positional columns, strictly;
    malformed records go to its rejects table. Returns the rows read and, per DuckDB reject line, the first
    error's column, reason and text."""
    names = {f"c{i + 1}": name for i, name in enumerate(staged.header)}
    con.execute("DROP TABLE IF EXISTS _rejects")
    con.execute("DROP TABLE IF EXISTS _reject_scans")
    try:
        rows = into(
            staged,
            _csv_records(
                path,
                len(names),
                staged.delimiter,
                quote,
                "store_rejects = true, rejects_table = '_rejects', rejects_scan = '_reject_scans'",
            ),
        )
        rejects: dict[int, tuple] = {}
        for line, column, kind, message, raw in con.execute(
            "SELECT line, column_name, error_type, error_message, csv_line FROM _rejects ORDER BY line, column_idx"
        ).fetchall():
            # one per record, its first error; the text without the blank lines DuckDB counts into it
            rejects.setdefault(line, (names.get(column, column), f"{kind.lower()}: {message}", raw.strip("\r\n")))
        return rows, rejects
    finally:
        con.execute("DROP TABLE IF EXISTS _rejects")
        con.execute("DROP TABLE IF EXISTS _reject_scans")


def _record_starts(path: Path, delimiter: str, quote: str, reject_lines: set[int]) -> tuple[array, dict[int, int]]:
    """The line each data row starts on, and the data row of each of DuckDB's reject lines (DuckDB numbers a
    record by the records and blank lines before it, ignoring line breaks inside quoted values)."""
    csv.field_size_limit(MAX_LINE_SIZE)
    starts, data_row, blanks = array("q"), {}, 0
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quotechar=quote)
        next(reader, None)
        previous = reader.line_num
        for record in reader:
            if record:
                starts.append(previous + 1)
                if 1 + len(starts) + blanks in reject_lines:
                    data_row[1 + len(starts) + blanks] = len(starts)
            else:
                blanks += 1
            previous = reader.line_num
    return starts, data_row


def normalize_newlines(path: Path, work_dir: Path) -> Path:
    """A copy of `path` with every CRLF as LF (inside quoted values too), written chunk by chunk."""
    target = Path(tempfile.mkstemp(suffix=".csv", dir=work_dir)[1])
    carry = b""
    with open(path, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            dst.write(chunk[: len(chunk) - len(carry)].replace(b"\r\n", b"\n"))
        dst.write(carry)
    return target


def record_text(values: list[str | None], delimiter: str, quote: str = '"') -> str:
    """A parsed record written back as one CSV line (fields quoted where needed)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quotechar=quote, lineterminator="").writerow(
        ["" if v is None else v for v in values]
    )
    return out.getvalue()
