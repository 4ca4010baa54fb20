"""Reading one extract into a temp table of text: encoding, CSV dialect, and the lines DuckDB cannot parse.

DuckDB's CSV reader does the parsing. Files in an encoding other than UTF-8 (CP932/Shift_JIS from Japanese
Excel) are transcoded to a temporary UTF-8 file first, in chunks, because DuckDB's encodings extension is not
always installable. Malformed lines (too few or too many fields, a stray quote) are collected from DuckDB's
rejects table with their line number and text, so they can be quarantined while the rest of the file loads.
"""

import codecs
import csv
import gzip
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline.sources.mapping import PARQUET_SUFFIXES, Dialect
from pipeline.sources.values import lit

CHUNK = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
#: A file without a BOM is read as UTF-8 despite invalid bytes when it has this many valid multi-byte
#: characters per invalid byte: a UTF-8 export with a stray Latin-1 byte, not CP932 (whose text is mostly
#: invalid as UTF-8: its lead bytes 0x81-0x9F are UTF-8 continuation bytes).
UTF8_MAJORITY = 10
_ESCAPED = re.compile("[\udc80-\udcff]")  # an invalid byte, as surrogateescape decodes it


class ReadError(Exception):
    """A file cannot be read at all (no header, unknown encoding, a duplicated column name)."""


@dataclass(frozen=True)
class Reject:
    line: int  # the header is line 1; each record counts as one line even if a quoted value spans several
    column: str | None
    reason: str
    raw: str


@dataclass
class Staged:
    """A file read into temp table `table`, one text column per header field, in file order (rowid)."""

    table: str
    header: list[str]
    encoding: str
    delimiter: str | None
    rows: int
    rejects: list[Reject]

    @property
    def data_rows(self) -> int:
        return self.rows + len({r.line for r in self.rejects})


def detect_encoding(path: Path, shown: Path | None = None) -> str:
    """`utf-8-sig` with a BOM; `utf-8` when the bytes are UTF-8 apart from a few stray bytes (their lines are
    quarantined, rather than the whole file read as CP932 mojibake); `cp932` when they are not plausibly UTF-8
    and decode as CP932. Anything in between is too ambiguous to guess."""
    with open(path, "rb") as f:
        if f.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
    multibyte, invalid, first_invalid = _utf8_counts(path)
    if multibyte >= UTF8_MAJORITY * invalid:
        return "utf-8"
    if multibyte <= invalid and _decodes(path, "cp932"):
        return "cp932"
    what = ("is mostly UTF-8 but has invalid bytes" if multibyte > invalid else "is neither UTF-8 nor CP932 (Shift_JIS)")
    raise ReadError(f"{shown or path}: {what} ({multibyte} valid multi-byte UTF-8 characters, {invalid} invalid "
                    f"byte(s), the first at byte {first_invalid}); set `encoding` in the source's dialect")


def _utf8_counts(path: Path) -> tuple[int, int, int | None]:
    """Valid non-ASCII UTF-8 characters, invalid bytes, and the offset of the first invalid byte."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    multibyte = invalid = offset = 0
    first = None
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            if not text.isascii():
                bad = len(_ESCAPED.findall(text))
                if bad and first is None:
                    first = offset + len(text[:_ESCAPED.search(text).start()].encode("utf-8", "surrogateescape"))
                invalid += bad
                multibyte += len(text) - len(text.encode("ascii", "ignore")) - bad
            offset += len(text.encode("utf-8", "surrogateescape"))
            if not chunk:
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
            raise ReadError(f"{shown or path}: byte {offset + exc.start} is not valid {encoding}; "
                            "set the right `encoding` in the source's dialect") from exc
    return target


def mixed_line_ends(path: Path) -> bool:
    """True when the file ends lines with CRLF and also with a bare LF (concatenated exports)."""
    crlf = lf = 0
    previous = b""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            lf += chunk.count(b"\n")
            crlf += chunk.count(b"\r\n") + (previous.endswith(b"\r") and chunk.startswith(b"\n"))
            previous = chunk
    return 0 < crlf < lf


def _first_record(path: Path, quote: str, shown: Path) -> str:
    """The header record's text (quoted line breaks included). Only the header must be valid UTF-8: a bad byte
    further down is DuckDB's to reject with its line."""
    with open(path, "rb") as f:
        head = f.read(CHUNK)
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
        offset = bom + len(text[:bad.start()].encode("utf-8", "surrogateescape"))
        raise ReadError(f"{shown}: the header line is not valid UTF-8 (byte {offset}); set the right `encoding` "
                        "in the source's dialect")
    return text[:end]


def read_header(path: Path, dialect: Dialect, shown: Path | None = None) -> tuple[list[str], str]:
    """Column names of the header line and the delimiter: the dialect's, or the one of , ; TAB | the header
    contains most often (the header decides, so a malformed data line cannot mislead the detection).
    Errors name `shown`, the original file, when `path` is its UTF-8 copy."""
    shown = shown or path
    header_text = _first_record(path, dialect.quote, shown)
    delimiter = dialect.delimiter or max(DELIMITERS, key=header_text.count)
    names = next(csv.reader(io.StringIO(header_text), delimiter=delimiter, quotechar=dialect.quote))
    # an unnamed column (often a trailing delimiter) is kept under the name column<n>, like DuckDB names them
    names = [n.strip() or f"column{i + 1}" for i, n in enumerate(names)]
    seen = [n for n in names if [m.lower() for m in names].count(n.lower()) > 1]
    if seen:
        raise ReadError(f"{shown}: header names column(s) {', '.join(sorted(set(seen)))} more than once")
    return names, delimiter


def stage(con: duckdb.DuckDBPyConnection, path: Path, dialect: Dialect, work_dir: Path,
          table: str = "_src") -> Staged:
    """Read `path` into temp table `table` (all text; rowid follows the file's order) and collect rejects."""
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT COLUMNS(*)::VARCHAR FROM read_parquet({lit(str(path))})")
        except duckdb.Error as exc:
            raise ReadError(f"{path}: cannot be read as Parquet: {exc}") from exc
        header = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        return Staged(table, header, "parquet", None, rows, [])

    plain = path
    if path.name.lower().endswith(".gz"):
        plain = gunzip(path, work_dir)
    try:
        return _stage_csv(con, path, plain, dialect, work_dir, table)
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


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, plain: Path, dialect: Dialect, work_dir: Path,
               table: str) -> Staged:
    """Stage the CSV `plain` (the file itself, or its decompressed copy); errors name `path`."""
    encoding = dialect.encoding or detect_encoding(plain, path)
    readable = plain
    # CRLF and LF both end a record, as in Python's csv module; DuckDB wants one kind per file, so a file
    # in another encoding (transcoded anyway) or mixing both gets a copy with CRLF as LF
    if codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig"):
        readable = transcode(plain, encoding, work_dir, path)
    elif mixed_line_ends(plain):
        readable = normalize_newlines(plain, work_dir)
    try:
        header, delimiter = read_header(readable, dialect, path)
        rows, rejects = _read_csv(con, readable, header, delimiter, dialect.quote, table)
    except duckdb.Error as exc:
        raise ReadError(f"{path}: cannot be read as CSV: {exc}") from exc
    finally:
        if readable != plain:
            readable.unlink(missing_ok=True)
    return Staged(table, header, encoding, delimiter, rows, rejects)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, header: list[str], delimiter: str, quote: str,
              table: str) -> tuple[int, list[Reject]]:
    """DuckDB reads the data lines with the header's columns, strictly; malformed lines go to its rejects table."""
    columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in header) + "}"
    con.execute("DROP TABLE IF EXISTS _rejects")
    con.execute("DROP TABLE IF EXISTS _reject_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv("
            f"{lit(str(path))}, auto_detect = false, header = true, columns = {columns}, "
            f"delim = {lit(delimiter)}, quote = {lit(quote)}, escape = {lit(quote)}, "
            "max_line_size = 10000000, store_rejects = true, rejects_table = '_rejects', "
            "rejects_scan = '_reject_scans')")
        rejects = [Reject(line, column, f"{kind.lower()}: {message}", raw.rstrip("\r\n"))
                   for line, column, kind, message, raw in con.execute(
                       "SELECT line, column_name, error_type, error_message, csv_line FROM _rejects "
                       "ORDER BY line, column_idx").fetchall()]
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0], rejects
    finally:
        con.execute("DROP TABLE IF EXISTS _rejects")
        con.execute("DROP TABLE IF EXISTS _reject_scans")


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
        ["" if v is None else v for v in values])
    return out.getvalue()
