"""The newest-version resolution of the staging models (transforms/macros/newest_records.sql) ranks only the records
with several rows; random extracted rows, with repeated keys, empty key columns and equal modification times,
resolve to the rows a plain sort in Python picks (docs/sources.md, "Duplicates": latest _modified_at, empty last;
then the file whose name sorts last, its full path, its later row)."""

from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.staging_sql import newest_of

KEY_PART = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
MODIFIED = st.one_of(st.none(), st.integers(0, 3).map(lambda d: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d)))
FILE = st.sampled_from(["in/x/2026-01.csv", "in/y/2026-01.csv", "in/x/2026-02.csv", "in/2025-12.csv"])
ROW = st.tuples(KEY_PART, KEY_PART, MODIFIED, FILE, st.integers(1, 4))


def python_newest(rows: list[tuple]) -> set[tuple]:
    """Per key (k1, k2), empties equal to each other, the row that sorts first by the documented order."""
    by_key: dict[tuple, list[tuple]] = {}
    for row in rows:
        by_key.setdefault(row[:2], []).append(row)

    def order(row: tuple) -> tuple:
        modified, file, line = row[2], row[3], row[4]
        return (
            modified is not None,
            modified or datetime.min.replace(tzinfo=UTC),
            PurePosixPath(file).name,
            file,
            line,
        )

    return {max(versions, key=order) for versions in by_key.values()}


@settings(max_examples=150, deadline=None)
@given(st.lists(ROW, max_size=25, unique_by=lambda r: (r[3], r[4])))
def test_the_newest_row_of_each_key_as_a_full_sort_picks_it(rows):
    con = duckdb.connect()
    con.execute(
        "create table versions (k1 varchar, k2 varchar, _modified_at timestamptz, _source_file varchar, "
        "_source_row bigint, payload varchar)"
    )
    if rows:
        con.executemany("insert into versions values (?, ?, ?, ?, ?, 'x')", rows)
    got = con.execute(
        f"select k1, k2, _modified_at, _source_file, _source_row, _version_rank "
        f"from {newest_of('versions', ['k1', 'k2'])}"
    ).fetchall()
    assert all(r[5] == 1 for r in got)
    assert len(got) == len({r[:5] for r in got})
    assert {r[:5] for r in got} == python_newest(rows)
