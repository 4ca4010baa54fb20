"""SQL that turns the text of a source value into its contract type, honouring a source's dialect.

Everything is a DuckDB expression, so parsing a million rows stays a vectorised scan instead of a Python loop.
An expression yields NULL for a value that does not parse; the loader quarantines such rows. A strptime format is
tried only on text of its shape (`strptime`): DuckDB's strptime costs about ten times more when it fails than when
it reads, and a value usually fails every format but one.
"""

import re

from pipeline.ingest.contract import DUCKDB_TYPES, Column

# Layouts tried after the source's own `date_formats`. In a timestamp column a date and time without a zone is read in
# the source time zone, but a date alone names a calendar day where the numbers are reported: midnight in the
# reporting time zone, so it stays on its day like the same date in a DATE column (end_date). At source-zone midnight
# a churn dated 2023-11-01 in a Japan-time export reported in UTC would fall on October 31, a month early.
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d")
DATE_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%dT%H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
)
# The layout of the naive timestamps SFA exports write (2024/11/14 14:54:34): with no formats of the source's own,
# it is tried first, by strptime alone, on text with a / and a :. Text it reads has no zone after it and is no date
# alone, and no layout before it in DATE_TIME_FORMATS reads it (those have a -), so the general reading would read
# it the same way, only four times slower: it tests for a zone, a date alone and each layout first.
FIRST_DATE_TIME = "%Y/%m/%d %H:%M:%S"
# A strptime format with any of these reads a time of day; one without them reads a date alone.
TIME_DIRECTIVE = re.compile(r"%-?[HIMSfgnpXcTR]")
# A timestamp that carries its own zone (Z, UTC, +09, +09:00, +0900, +09:00:00, an IANA name like Asia/Tokyo) is
# read as that instant; one that carries anything else after the time (EST, JST, [Asia/Tokyo]) does not read.
WITH_OFFSET = (
    r"^\d{4}[-/]\d{1,2}[-/]\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?"
    r"\s*(Z|UTC|[+-]\d{2}(:?\d{2}(:?\d{2})?)?|\s[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$"
)
# Only such text may go through DuckDB's own cast to a naive TIMESTAMP, which would drop a zone it cannot read.
NAIVE_ISO = r"^\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$"
ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"
# Excel stores dates as days since 1899-12-30; a bare 5-digit number in a date column is such a serial, and a
# whole one (no fraction of a day) is a date alone.
EXCEL_SERIAL = r"^\d{5}(\.\d+)?$"
EXCEL_DAY = r"^\d{5}$"
# Currency signs and codes stripped from amounts before they are read as numbers (then the value is trimmed;
# a space inside the number is not a separator, so `1 200` does not read).
CURRENCY_MARKS = r"[¥￥$€£円]|JPY|USD|EUR"
#: strptime directives that read ASCII digits and nothing else (DuckDB's numeric specifiers); `-` (no padding) may
#: precede them.
DIGIT_DIRECTIVES = frozenset("dmyYHIMSfgnjUWwu")
_DIRECTIVE = re.compile(r"%-?(.)")
#: The whitespace DuckDB's strptime skips before the text, after it, and for any whitespace in the format.
_WHITESPACE = r"\t\n\v\f\r "
TRUE = ("true", "t", "1", "yes", "y")
FALSE = ("false", "f", "0", "no", "n")


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cleaned(text: str) -> str:
    """The text with empty and blank values as NULL."""
    return f"nullif(trim({text}), '')"


def _re_literal(char: str) -> str:
    """`char` as a literal in an RE2 pattern: RE2 rejects a backslash before a non-ASCII character (a no-break
    space as thousands separator), so only ASCII punctuation is escaped."""
    return "\\" + char if char.isascii() and not char.isalnum() else char


def _parts(date_format: str) -> tuple[set[str], bool]:
    """The characters a strptime format must find as they are (whitespace aside: DuckDB matches any run of it), and
    whether all its directives read digits only."""
    literals, end, digits = set(), 0, True
    for directive in _DIRECTIVE.finditer(date_format):
        literals |= set(date_format[end : directive.start()])
        end = directive.end()
        if directive[1] == "%":
            literals.add("%")
        elif directive[1] not in DIGIT_DIRECTIVES:
            digits = False
    literals |= set(date_format[end:])
    return {c for c in literals if not c.isspace()}, digits


def shape(date_format: str) -> str | None:
    """An RE2 pattern that all text the strptime `date_format` reads matches in full: digits, whitespace and the
    format's own characters; None when the format has a directive that reads anything else (%b, %p, %z ...)."""
    literals, digits = _parts(date_format)
    if not digits:
        return None
    return f"[0-9{_WHITESPACE}{''.join(_re_literal(c) for c in sorted(literals))}]+"


def strptime(v: str, formats) -> str:
    """SQL for the naive TIMESTAMP the first of `formats` reads from `v` (NULL if none does), like DuckDB's
    try_strptime(v, [formats]), but each format only tried on text that holds its own characters (a cheap test
    first) and is of its `shape`."""
    tried = []
    for date_format in formats:
        tests = [f"contains({v}, {lit(c)})" for c in sorted(_parts(date_format)[0])]
        if pattern := shape(date_format):
            tests.append(f"regexp_full_match({v}, {lit(pattern)})")
        call = f"try_strptime({v}, {lit(date_format)})"
        tried.append(f"CASE WHEN {' AND '.join(tests)} THEN {call} END" if tests else call)
    if not tried:
        return "NULL::TIMESTAMP"
    return tried[0] if len(tried) == 1 else f"coalesce({', '.join(tried)})"


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


def typed(
    column: Column,
    text: str,
    *,
    source_tz: str,
    reporting_tz: str,
    date_formats: tuple[str, ...] = (),
    decimal: str = ".",
    thousands: str | None = ",",
    first: bool = True,
    clean: str | None = None,
) -> str:
    """SQL for the value of `column` in its contract type, from the SQL `text` of its source value. A naive
    timestamp is read in `source_tz`; a date alone in a timestamp column is midnight in `reporting_tz`. `first`
    tries FIRST_DATE_TIME first (the same values, sooner; False only to compare the two).
    `clean`: SQL of `cleaned(text)` when the caller has it as a column."""
    v = clean or cleaned(text)
    if column.type == "id":
        return v
    if column.type == "text":
        return f"nullif({text}, '')"
    if column.type == "date":
        builtin = [f for f in DATE_FORMATS if f not in date_formats]
        own = f"{strptime(v, date_formats)}, " if date_formats else ""
        return f"coalesce({own}try_cast({v} AS TIMESTAMP), {strptime(v, builtin)}, {_serial(v)})::DATE"
    if column.type == "timestamp":
        own_times = [f for f in date_formats if TIME_DIRECTIVE.search(f)]
        own_days = [f for f in date_formats if not TIME_DIRECTIVE.search(f)]
        day = _first_parse(
            v,
            own_days,
            ISO_DATE,
            [f for f in DATE_FORMATS if f not in own_days],
            f"CASE WHEN strlen({v}) = 5 AND regexp_full_match({v}, {lit(EXCEL_DAY)}) THEN {_serial(v)} END",
        )
        naive = _first_parse(v, own_times, NAIVE_ISO, [f for f in DATE_TIME_FORMATS if f not in own_times], _serial(v))
        # 2024/4/1 as 2024-4-1, and no space before an offset, so DuckDB's cast reads them; a zone name keeps its /
        # (each rewrite only where it can apply: a regexp_replace costs more than the tests before it)
        slashed = f"CASE WHEN contains({v}, '/') THEN regexp_replace({v}, '^(\\d+)/(\\d+)/(\\d+)', '\\1-\\2-\\3') ELSE {v} END"
        spaced = " OR ".join(f"contains({v}, chr({code}))" for code in (32, 9, 10, 12, 13))  # what RE2's \s matches
        zoned = f"CASE WHEN {spaced} THEN regexp_replace({slashed}, '\\s+([+-]\\d)', '\\1') ELSE {slashed} END"
        general = (
            f"CASE WHEN regexp_matches({v}, {lit(WITH_OFFSET)}) "
            f"THEN try_cast({zoned} AS TIMESTAMPTZ) "
            f"ELSE coalesce(timezone({lit(reporting_tz)}, {day}), timezone({lit(source_tz)}, {naive})) END"
        )
        if date_formats or not first:
            return general
        # coalesce evaluates the general reading only for the rows the first layout leaves NULL
        return (
            f"coalesce(timezone({lit(source_tz)}, CASE WHEN contains({v}, '/') AND contains({v}, ':') "
            f"THEN try_strptime({v}, {lit(FIRST_DATE_TIME)}) END), {general})"
        )
    if column.type == "boolean":
        return f"CASE WHEN lower({v}) IN {TRUE} THEN true WHEN lower({v}) IN {FALSE} THEN false END"
    return f"try_cast({_number_text(v, decimal, thousands)} AS {DUCKDB_TYPES[column.type]})"


def _serial(v: str) -> str:
    """SQL for the naive TIMESTAMP an Excel serial number stands for (NULL for other text)."""
    return (
        f"CASE WHEN regexp_matches({v}, {lit(EXCEL_SERIAL)}) THEN DATE '1899-12-30' + to_days(floor("
        f"try_cast({v} AS DOUBLE))::INTEGER) + to_microseconds(round((try_cast({v} AS DOUBLE) % 1) * 86400000000)::BIGINT) END"
    )


def _first_parse(v: str, own: list[str], iso: str, builtin: list[str], serial: str) -> str:
    """SQL for the first reading of `v` as a naive TIMESTAMP: the source's own formats, DuckDB's cast of ISO text
    matching `iso` (which has a `-`, a cheaper test first), the built-in formats, then `serial`."""
    own_sql = f"{strptime(v, own)}, " if own else ""
    return (
        f"coalesce({own_sql}CASE WHEN contains({v}, '-') AND regexp_full_match({v}, {lit(iso)}) "
        f"THEN try_cast({v} AS TIMESTAMP) END, "
        f"{strptime(v, builtin)}, {serial})"
    )


def bad(column: Column, text: str, typed_value: str, clean: str | None = None) -> str:
    """SQL condition true when the value breaks the contract: unparsable, empty but required, or out of bounds.
    `clean`: SQL of `cleaned(text)` when the caller has it as a column."""
    broken = (
        f"({typed_value}) IS NULL"
        if column.required
        else f"({clean or cleaned(text)} IS NOT NULL AND ({typed_value}) IS NULL)"
    )
    if column.bounds is not None:
        low, high = column.bounds
        broken = f"({broken} OR coalesce(({typed_value}) NOT BETWEEN {low} AND {high}, false))"
    return broken
