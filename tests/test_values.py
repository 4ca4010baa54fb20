"""How source text reads as each contract type (pipeline/ingest/sources/values.py), value by value."""

import itertools
import random
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pytest

from pipeline.ingest.contract import Column
from pipeline.ingest.sources.values import (
    DATE_FORMATS,
    DATE_TIME_FORMATS,
    lit,
    shape,
    strptime,
    typed,
)


def _read(kind: str, text: str | None, **dialect):
    sql = typed(Column("v", kind), "v", source_tz="Asia/Tokyo", reporting_tz="Asia/Tokyo", **dialect)
    value = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT {lit(text) if text is not None else 'NULL'} AS v)")
    return value.fetchall()[0][0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1200000", Decimal("1200000")),
        ("¥1,200,000", Decimal("1200000")),
        ("￥ 980,000", Decimal("980000")),
        ("1,234円", Decimal("1234")),
        ("-1,200.50", Decimal("-1200.50")),
        ("JPY 5000", Decimal("5000")),
        ("12,00", None),
        ("1 200", None),
        ("(1,200)", None),
        ("1.2.3", None),
        ("", None),
        ("abc", None),
    ],
)
def test_amounts_with_the_default_separators(text, expected):
    assert _read("decimal", text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.200.000,00", Decimal("1200000")),
        ("-15,5", Decimal("-15.50")),
        ("€ 3.000", Decimal("3000")),
        ("1.2", None),
        ("12,345,67", None),
    ],
)
def test_amounts_with_european_separators(text, expected):
    assert _read("decimal", text, decimal=",", thousands=".") == expected


@pytest.mark.parametrize(
    "thousands, text, expected",
    [
        ("\u00a0", "1\u00a0200\u00a0000,50", Decimal("1200000.50")),
        ("\u202f", "1\u202f200,5", Decimal("1200.50")),
        ("\u00a0", "12\u00a000,5", None),
        ("'", "1'200,5", Decimal("1200.50")),
        (" ", "1 200,5", Decimal("1200.50")),
    ],
)
def test_a_space_or_apostrophe_as_thousands_separator(thousands, text, expected):
    """A no-break space (French, Swiss exports) must not break the pattern for every value of the file."""
    assert _read("decimal", text, decimal=",", thousands=thousands) == expected


@pytest.mark.parametrize(
    "text, expected_utc",
    [
        ("2024-04-01 10:00:00", "2024-04-01 01:00"),
        ("2024/4/1 10:00", "2024-04-01 01:00"),
        ("2024年4月1日 10:00:00", "2024-04-01 01:00"),
        ("2024年4月1日", "2024-03-31 15:00"),
        ("45383.5", "2024-04-01 03:00"),
        ("2024-04-01T10:00:00+09:00", "2024-04-01 01:00"),
        ("2019-12-20 07:39:00 UTC", "2019-12-20 07:39"),
        ("2024-04-01T01:00:00.000Z", "2024-04-01 01:00"),
        ("2024.04.01", "2024-03-31 15:00"),
        ("2024-13-45", None),
        ("soon", None),
        ("123", None),
    ],
)
def test_timestamps_in_japanese_and_excel_layouts(text, expected_utc):
    value = _read("timestamp", text)
    assert (value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else None) == expected_utc


@pytest.mark.parametrize(
    "text, expected_utc",
    [
        # a zone the value names is honoured ...
        ("2024-04-01T10:00:00 +09:00", "2024-04-01 01:00"),
        ("2024-04-01 10:00:00+05:30:00", "2024-04-01 04:30"),
        ("2024-04-01 10:00:00 America/New_York", "2024-04-01 14:00"),
        ("2024/04/01 10:00 Asia/Tokyo", "2024-04-01 01:00"),
        # ... and one that cannot be read for sure does not read, rather than being taken for Japan time
        ("2024-04-01 10:00:00 EST", None),
        ("2024-04-01 10:00:00 JST", None),
        ("2024/04/01 10:00:00 EST", None),
        ("2024-04-01T10:00:00+09:00[Asia/Tokyo]", None),
        ("2024-04-01 10:00:00 Foo/Bar", None),
        ("2024-04-01 10:00:00 +9", None),
    ],
)
def test_a_timestamp_with_a_zone_is_that_instant_or_does_not_read(text, expected_utc):
    value = _read("timestamp", text)
    assert (value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else None) == expected_utc


def _read_zoned(text: str, source_tz: str, reporting_tz: str, **dialect) -> str | None:
    sql = typed(Column("v", "timestamp"), "v", source_tz=source_tz, reporting_tz=reporting_tz, **dialect)
    value = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT {lit(text)} AS v)").fetchall()[0][0]
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else None


@pytest.mark.parametrize(
    "text, expected_utc",
    [
        # a date alone is that calendar day where the numbers are reported: midnight in Tokyo, 15:00 UTC the day before
        ("2023-11-01", "2023-10-31 15:00"),
        ("2023-11-1", "2023-10-31 15:00"),
        ("2023/11/01", "2023-10-31 15:00"),
        ("2023/11/1", "2023-10-31 15:00"),
        ("2023年11月1日", "2023-10-31 15:00"),
        ("2023.11.01", "2023-10-31 15:00"),
        ("45231", "2023-10-31 15:00"),  # a whole Excel serial is a date cell: 2023-11-01
        # a date with a time, even midnight, is a time in the source's zone (UTC here)
        ("2023-11-01 00:00:00", "2023-11-01 00:00"),
        ("2023/11/01 00:00", "2023-11-01 00:00"),
        ("2023年11月1日 00:00", "2023-11-01 00:00"),
        ("45231.5", "2023-11-01 12:00"),
        # and one with a zone is that instant
        ("2023-11-01T00:00:00+09:00", "2023-10-31 15:00"),
        ("2023-11-01 00:00 UTC", "2023-11-01 00:00"),
    ],
)
def test_a_date_alone_in_a_timestamp_column_is_midnight_in_the_reporting_zone(text, expected_utc):
    assert _read_zoned(text, "UTC", "Asia/Tokyo") == expected_utc


def test_a_date_alone_does_not_move_to_the_previous_day_where_the_source_zone_is_ahead():
    """A Tokyo source reported in UTC: as Tokyo midnight, 2023-11-01 would be October 31 in UTC, a month early."""
    assert _read_zoned("2023-11-01", "Asia/Tokyo", "UTC") == "2023-11-01 00:00"
    assert _read_zoned("2023-11-01 09:00", "Asia/Tokyo", "UTC") == "2023-11-01 00:00"


def test_a_date_only_format_of_the_dialect_reads_in_the_reporting_zone_and_one_with_a_time_in_the_source_zone():
    formats = {"date_formats": ("%d.%m.%Y", "%d.%m.%Y %H:%M")}
    assert _read_zoned("01.11.2023", "UTC", "Asia/Tokyo", **formats) == "2023-10-31 15:00"
    assert _read_zoned("01.11.2023 10:00", "UTC", "Asia/Tokyo", **formats) == "2023-11-01 10:00"


def test_a_date_format_of_the_dialect_is_tried_first():
    assert _read("date", "01.04.2024", date_formats=("%d.%m.%Y",)) == date(2024, 4, 1)
    assert _read("date", "45383") == date(2024, 4, 1)
    assert _read("timestamp", "04/01/2024 10:00", date_formats=("%m/%d/%Y %H:%M",)) == datetime(
        2024, 4, 1, 1, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text, expected", [("TRUE", True), ("y", True), ("0", False), ("No", False), ("はい", None), ("", None)]
)
def test_booleans(text, expected):
    assert _read("boolean", text) == expected


def test_ids_keep_leading_zeros_and_text_keeps_spaces():
    assert _read("id", " 000123 ") == "000123"
    assert _read("text", "  株式会社 あ  ") == "  株式会社 あ  "


def test_a_format_is_tried_only_on_text_of_its_shape_and_reads_what_strptime_reads():
    """The guarded formats read exactly what DuckDB's try_strptime over the same list reads, on text near and far
    from each format: leading, trailing and doubled whitespace, other separators, signs, letters, missing parts."""
    formats = [*DATE_FORMATS, *DATE_TIME_FORMATS, "%d.%m.%Y", "%m/%d/%Y %I:%M %p", "%Y%m%d", "%y/%-m/%-d"]
    texts = [
        "2024-04-01",
        " 2024/4/1 ",
        "2024/04/01  10:00:00",
        "2024/04/01\t10:00",
        "2024年4月1日",
        "2024年04月01日 9:05",
        "2024.04.01",
        "2024-04-01T10:00:00",
        "2024-04-01t10:00:00",
        "2024/04/01T10:00:00",
        "+2024/04/01",
        "-2024-04-01",
        "2024-04-01 10:00:00+09",
        "01.04.2024",
        "04/01/2024 10:00 PM",
        "04/01/2024 10:00",
        "20240401",
        "24/4/1",
        "2024/4/1 10:00:00.5",
        "2024/13/01",
        "2024/04/01 25:00",
        "abc",
        "2024-04",
        "2024/04/01 10:00 ",
    ]
    guarded = strptime("v", formats)
    con = duckdb.connect()
    listed = "[" + ", ".join(lit(f) for f in formats) + "]"
    for text in texts:
        expected = con.execute(f"SELECT try_strptime({lit(text)}, {listed})").fetchall()[0][0]
        assert con.execute(f"SELECT {guarded} FROM (SELECT {lit(text)} AS v)").fetchall()[0][0] == expected, text
    assert shape("%b %d %Y") is None  # a month name is not guarded: every text is tried


def _near_the_first_layout() -> list[str]:
    """Text in and near the SFA's layout 2024/11/14 14:54:34: every mix of its parts' variants (out of range, one
    digit, another separator, a fraction, a zone after it), and random strings of such parts."""
    parts = (
        ["2024", "0001", "99999"],
        ["/"],
        ["1", "12", "13"],
        ["/", "-"],
        ["1", "29", "31", "32"],
        [" ", "  ", "T", ""],
        ["9", "23", "24"],
        [":"],
        ["5", "59", "60"],
        [":", ""],
        ["00", "60", "00.25"],
        ["", "Z", " +09", " Asia/Tokyo", " JST"],
    )
    pieces = ["2024", "4", "11", "31", "24", "/", "-", ":", " ", "T", ".5", "Z", "+09:00", " UTC", "年", "45678", "x"]
    rng = random.Random(13)
    return ["".join(p) for p in itertools.product(*parts)] + [
        "".join(rng.choices(pieces, k=rng.randint(0, 12))) for _ in range(20_000)
    ]


def _edits(text: str) -> set[str]:
    """`text` with one character replaced, inserted or deleted anywhere (whitespace too, which strptime skips and the
    general reading's patterns do not allow), and with two characters made the same whitespace or digit."""
    chars = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "+", "-", ":", ".", "/", "T", "Z", "x", "0", "9", "\u3000", "１"]
    edits = set()
    for i in range(len(text) + 1):
        edits |= {text[:i] + c + text[i + 1 :] for c in chars} | {text[:i] + c + text[i:] for c in chars}
        edits.add(text[:i] + text[i + 1 :])
    for i, j in itertools.combinations(range(len(text)), 2):
        for c in (" ", "\t", "\n", "0"):
            edits.add(text[:i] + c + text[i + 1 : j] + c + text[j + 1 :])
    return edits


def test_the_first_layout_reads_a_timestamp_as_the_general_reading_does():
    """FIRST_DATE_TIME is tried before the general reading of a timestamp: whatever it reads, the general reading
    reads the same (with the source zone ahead of, and behind, the reporting zone)."""
    con = duckdb.connect()
    texts = _near_the_first_layout() + [e for text in ("2024/11/14 14:54:34", "2024/1/4 4:54:34") for e in _edits(text)]
    con.execute("CREATE TABLE t AS SELECT unnest(?::VARCHAR[]) AS v", [texts])
    for source_tz, reporting_tz in (("Asia/Tokyo", "UTC"), ("America/New_York", "Asia/Tokyo")):
        first, general = (
            typed(Column("v", "timestamp"), "v", source_tz=source_tz, reporting_tz=reporting_tz, first=f)
            for f in (True, False)
        )
        read, differ = con.execute(
            f"SELECT count(a), list(v) FILTER (a IS DISTINCT FROM b) FROM (SELECT v, {first} AS a, {general} AS b FROM t)"
        ).fetchall()[0]
        assert read > 900 and differ is None, (source_tz, differ)
    # the SFA's own text reads, and so do the MA's (the general reading) with Japan's offset and another
    first = typed(Column("v", "timestamp"), "v", source_tz="UTC", reporting_tz="UTC")
    assert con.execute(
        f"SELECT {first} FROM (SELECT unnest(['2024/11/14 14:54:34', '2024-11-01T08:30:04+09:00', "
        "'2024-11-01T08:30:04-05:30']) AS v)"
    ).fetchall() == [
        (datetime(2024, 11, 14, 14, 54, 34, tzinfo=UTC),),
        (datetime(2024, 10, 31, 23, 30, 4, tzinfo=UTC),),
        (datetime(2024, 11, 1, 14, 0, 4, tzinfo=UTC),),
    ]
