"""SQL that turns the text of a source value into its contract type, honouring a source's dialect.

Everything is a DuckDB expression, so parsing a million rows stays a vectorised scan instead of a Python loop.
An expression yields NULL for a value that does not parse; the loader quarantines such rows.
"""

from pipeline.ingest.contract import DUCKDB_TYPES, Column

# Layouts tried after the source's own `date_formats`; naive values are read in the source time zone.
TIMESTAMP_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%dT%H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y.%m.%d",
)
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d")
# A timestamp that carries its own zone (Z, UTC, +09, +09:00, +0900, +09:00:00, an IANA name like Asia/Tokyo) is
# read as that instant; one that carries anything else after the time (EST, JST, [Asia/Tokyo]) does not read.
WITH_OFFSET = (
    r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
    r"\s*(Z|UTC|[+-]\d{2}(:?\d{2}(:?\d{2})?)?|\s[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$"
)
# Only such text may go through DuckDB's own cast to a naive TIMESTAMP, which would drop a zone it cannot read.
NAIVE_ISO = r"^\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
# Excel stores dates as days since 1899-12-30; a bare 5-digit number in a date column is such a serial.
EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"
# Currency signs and codes stripped from amounts before they are read as numbers (then the value is trimmed;
# a space inside the number is not a separator, so `1 200` does not read).
CURRENCY_MARKS = r"[¥￥$€£円]|JPY|USD|EUR"
TRUE = ("true", "t", "1", "yes", "y")
FALSE = ("false", "f", "0", "no", "n")


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_list(values) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]"


def cleaned(text: str) -> str:
    """The text with empty and blank values as NULL."""
    return f"nullif(trim({text}), '')"


def _re_literal(char: str) -> str:
    """`char` as a literal in an RE2 pattern: RE2 rejects a backslash before a non-ASCII character (a no-break
    space as thousands separator), so only ASCII punctuation is escaped."""
    return "\\" + char if char.isascii() and not char.isalnum() else char


def _number_text(v: str, decimal: str, thousands: str | None) -> str:
    """Amount text in plain `1234.5` form, or NULL when the grouping or separators do not fit the dialect."""
    stripped = f"trim(regexp_replace({v}, {lit(CURRENCY_MARKS)}, '', 'g'))"
    d = _re_literal(decimal)
    grouped = rf"-?(\d{{1,3}}({_re_literal(thousands)}\d{{3}})+|\d+)({d}\d+)?" if thousands else rf"-?\d+({d}\d+)?"
    plain = rf"-?\d+({d}\d+)?([eE][-+]?\d+)?"
    ungrouped = f"replace({stripped}, {lit(thousands)}, '')" if thousands else stripped
    return (
        f"CASE WHEN regexp_full_match({stripped}, {lit(grouped)}) OR regexp_full_match({stripped}, {lit(plain)}) "
        f"THEN replace({ungrouped}, {lit(decimal)}, '.') END"
    )


def typed(column: Column, text: str, *, tz: str, date_formats: tuple[str, ...] = (), decimal: str = ".",
          thousands: str | None = ",") -> str:
    """SQL for the value of `column` in its contract type, from the SQL `text` of its source value."""
    v = cleaned(text)
    if column.type == "id":
        return v
    if column.type == "text":
        return f"nullif({text}, '')"
    if column.type in ("timestamp", "date"):
        builtin = [f for f in (TIMESTAMP_FORMATS if column.type == "timestamp" else DATE_FORMATS)
                   if f not in date_formats]
        serial = f"CASE WHEN regexp_matches({v}, {lit(EXCEL_SERIAL)}) THEN DATE '1899-12-30' + to_days(floor(" \
                 f"try_cast({v} AS DOUBLE))::INTEGER) + to_microseconds(round((try_cast({v} AS DOUBLE) % 1) * 86400000000)::BIGINT) END"
        own = f"try_strptime({v}, {sql_list(date_formats)}), " if date_formats else ""
        cast = f"try_cast({v} AS TIMESTAMP)"
        if column.type == "date":
            return f"coalesce({own}{cast}, try_strptime({v}, {sql_list(builtin)}), {serial})::DATE"
        naive = f"coalesce({own}CASE WHEN regexp_full_match({v}, {lit(NAIVE_ISO)}) THEN {cast} END, " \
                f"try_strptime({v}, {sql_list(builtin)}), {serial})"
        # 2024/4/1 as 2024-4-1, and no space before an offset, so DuckDB's cast reads them; a zone name keeps its /
        zoned = f"regexp_replace(regexp_replace({v}, '^(\\d+)/(\\d+)/(\\d+)', '\\1-\\2-\\3'), '\\s+([+-]\\d)', '\\1')"
        return (
            f"CASE WHEN regexp_matches({v}, {lit(WITH_OFFSET)}) "
            f"THEN try_cast({zoned} AS TIMESTAMPTZ) "
            f"ELSE timezone({lit(tz)}, {naive}) END"
        )
    if column.type == "boolean":
        return f"CASE WHEN lower({v}) IN {TRUE} THEN true WHEN lower({v}) IN {FALSE} THEN false END"
    return f"try_cast({_number_text(v, decimal, thousands)} AS {DUCKDB_TYPES[column.type]})"


def bad(column: Column, text: str, typed_value: str) -> str:
    """SQL condition true when the value breaks the contract: unparsable, or empty but required."""
    if column.required:
        return f"({typed_value}) IS NULL"
    return f"({cleaned(text)} IS NOT NULL AND ({typed_value}) IS NULL)"
