"""Property-based tests: random valid rows round-trip exactly; random corruption never loses or doubles a row
without saying so (every data row, as Python's csv module counts them, is loaded or quarantined)."""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import landing_layout
from tests.staging_sql import newest

LEADS = ENTITIES_BY_TABLE["ma_leads"]
COLUMNS = LEADS.column_names
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Printable text in any script (no control characters but the line break), as exports carry it.
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n"), max_size=30)
# CP932 text: characters that survive CP932 itself (not U+301C WAVE DASH, which CP932 turns into U+FF5E)
CP932_TEXT = st.text(
    st.sampled_from([c for c in "abcXYZ 0123,;\"'\nあいう漢字ｶﾞｷﾞ①髙－〜～" if c.encode("cp932").decode("cp932") == c]),
    max_size=20,
)
ID = st.text(st.sampled_from("0123456789ABCxyz-_あ"), min_size=1, max_size=12)
INSTANT = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=UTC)
)


@st.composite
def lead_files(draw):
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp932"]))
    text = CP932_TEXT if encoding == "cp932" else TEXT
    ids = draw(st.lists(ID, min_size=1, max_size=15, unique=True))
    offset = timedelta(hours=draw(st.integers(-12, 14)))
    rows = [
        {
            "lead_id": i,
            "email": draw(text),
            "company": draw(text),
            "created_at": draw(INSTANT),
            "source": draw(text),
            "campaign_id": draw(st.one_of(st.just(""), ID)),
        }
        for i in ids
    ]
    return encoding, draw(st.sampled_from([",", ";", "\t"])), draw(st.sampled_from(["\n", "\r\n"])), offset, rows


def _csv(rows: list[dict], delimiter: str, newline: str, offset: timedelta) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(COLUMNS)
    for r in rows:
        local = r["created_at"].astimezone(timezone(offset))
        writer.writerow([r["lead_id"], r["email"], r["company"], local.isoformat(), r["source"], r["campaign_id"]])
    return out.getvalue()


def _load(tmp_path: Path, data: bytes, name: str):
    landing = tmp_path / name
    path = landing / "ma" / "leads.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    con = duckdb.connect()
    result = load_entity(con, LEADS, [landing_layout(landing, 1.0)], landing, "Asia/Tokyo", "Asia/Tokyo")
    return con, result.files[0]


@EXAMPLES
@given(lead_files())
def test_random_valid_rows_round_trip_exactly(tmp_path_factory, generated):
    encoding, delimiter, newline, offset, rows = generated
    text = _csv(rows, delimiter, newline, offset)
    con, file = _load(tmp_path_factory.mktemp("roundtrip"), text.encode(encoding), "landing")
    assert (file.loaded, file.quarantined) == (len(rows), 0)
    got = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {newest('ma_leads')} ORDER BY _source_row").fetchall()

    def expected(r):  # an empty cell is NULL; text keeps its spaces, ids are trimmed (they have none here)
        return (
            r["lead_id"],
            r["email"] or None,
            r["company"] or None,
            r["created_at"],
            r["source"] or None,
            r["campaign_id"] or None,
        )

    assert [(g[0], g[1], g[2], g[3].astimezone(UTC), g[4], g[5]) for g in got] == [expected(r) for r in rows]


CORRUPTIONS = st.sampled_from(["truncate", "extra_field", "bad_date", "blank_id", "quote", "duplicate", "nul"])


@EXAMPLES
@given(lead_files(), st.lists(st.tuples(st.integers(0, 10_000), CORRUPTIONS, st.integers(0, 10_000)), max_size=6))
def test_random_corruption_never_loses_or_doubles_a_row_silently(tmp_path_factory, generated, corruptions):
    _, delimiter, newline, offset, rows = generated
    # one record per line, so a corruption hits one record (quoted line breaks are the round-trip test's part)
    rows = [{k: v.replace("\n", " ") if isinstance(v, str) else v for k, v in r.items()} for r in rows]
    lines = _csv(rows, delimiter, "\n", offset).split("\n")[:-1]
    for where, kind, position in corruptions:
        i = 1 + where % (len(lines) - 1) if len(lines) > 1 else 0
        line = lines[i] if i else lines[-1]
        cut = position % (len(line) + 1)
        if i == 0:
            continue
        lines[i] = {
            "truncate": line[:cut],
            "extra_field": line[:cut] + delimiter + line[cut:],
            "bad_date": line.replace(str(rows[0]["created_at"].year), "20x4"),
            "blank_id": delimiter + line.split(delimiter, 1)[-1],
            "quote": line[:cut] + '"' + line[cut:],
            "duplicate": line + "\n" + line,
            "nul": line[:cut] + "\x00" + line[cut:],
        }[kind]
    text = newline.join(lines) + newline
    con, file = _load(tmp_path_factory.mktemp("corrupt"), text.encode("utf-8"), "landing")

    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r][1:]
    assert file.data_rows == len(records)
    assert file.loaded + file.quarantined == len(records)
    landed = con.execute("SELECT count(*) FROM extracted.ma_leads").fetchall()[0][0]
    quarantined = con.execute("SELECT count(*), count(raw_line) FROM extracted.quarantine").fetchall()[0]
    assert landed == file.loaded and quarantined == (file.quarantined, file.quarantined)
    # every loaded row is a record of the file, as many times as the file has it
    loaded = con.execute(f"SELECT {', '.join(COLUMNS[:3])} FROM extracted.ma_leads").fetchall()
    for row in set(loaded):
        as_text = [tuple(v or "" for v in row)]
        assert loaded.count(row) <= sum(tuple(r[:3]) in as_text for r in records)
