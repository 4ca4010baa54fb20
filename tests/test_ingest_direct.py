"""A file without bad rows is loaded straight into extracted.<table>, in the statement that reads it; the load is
what reading every file into a table of its own first gives (the way a file with bad rows is still loaded), row
for row, and a bad row anywhere leaves nothing of the straight load behind."""

import duckdb
import pytest

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources import loader
from pipeline.ingest.sources.loader import IngestError, load_entity
from pipeline.ingest.sources.mapping import landing_layout

LEADS = ENTITIES_BY_TABLE["sfa_leads"]
HEADER = (
    "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,converted_opportunity_id,"
    "disqualified_at,disqualified_reason"
)
STAMPS = {"sfa_leads": "_modified_at", "quarantine": "quarantined_at", "load_log": "loaded_at"}


def _lead(name: str, i: int, note: str | None = None) -> str:
    row = f"{name}-{i},MA{i},2024/05/{1 + i % 28:02d} 10:{i % 60:02d}:00,005U{i % 7},working,,,,,"
    return row if note is None else f"{row},{note}"


def _landing(tmp_path, bad: str | None = None):
    """Files that DuckDB reads as they are, with what numbering must survive: a record over two lines, blank
    lines, CRLF line ends, a byte order mark, a column beyond the contract, a file with no record."""
    folder = tmp_path / "landing" / "sfa" / "leads"
    folder.mkdir(parents=True)
    a = [HEADER] + [_lead("a", i) for i in range(1, 2001)]
    a[500] = _lead("a", 500).replace("working", '"working\non two lines"')
    (folder / "a.csv").write_text("\n".join(a[:1000] + ["", ""] + a[1000:]) + "\n", encoding="utf-8")
    b = [HEADER + ",extra_note"] + [_lead("b", i, f'"note ""{i}"", with a comma"') for i in range(1, 1501)]
    (folder / "b.csv").write_bytes(("\ufeff" + "\r\n".join(b) + "\r\n").encode())
    (folder / "c.csv").write_text(HEADER + "\n", encoding="utf-8")
    d = [HEADER] + [_lead("d", i) for i in range(1, 3001)]
    if bad:
        d[-1] = bad  # the last row of the last file: the straight load has written everything else by then
    (folder / "d.csv").write_text("\n".join(d), encoding="utf-8")  # no line end after the last record
    return tmp_path / "landing"


class _Recording:
    """A connection that keeps the SQL it and its cursors run."""

    def __init__(self, con: duckdb.DuckDBPyConnection, statements: list[str]):
        self._con, self.statements = con, statements

    def __getattr__(self, name):
        return getattr(self._con, name)

    def cursor(self):
        return _Recording(self._con.cursor(), self.statements)

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self._con.execute(sql, *args)


def _load(path, landing, monkeypatch=None, statements: list | None = None):
    """Load the leads into warehouse `path`; with monkeypatch, through tables of their own (no file is plain)."""
    if monkeypatch is not None:
        monkeypatch.setattr(loader, "plain", lambda *_: None)
    con = duckdb.connect(str(path), config={"threads": 2})
    load = load_entity(
        _Recording(con, statements if statements is not None else []),
        LEADS,
        [landing_layout(landing)],
        landing,
        "Asia/Tokyo",
        "Asia/Tokyo",
    )
    if monkeypatch is not None:
        monkeypatch.undo()
    return con, load


def _tables(con) -> dict[str, list]:
    return {
        table: con.execute(f"SELECT * EXCLUDE ({stamp}) FROM extracted.{table} ORDER BY ALL").fetchall()
        for table, stamp in STAMPS.items()
    }


def _counts(load) -> list[tuple]:
    return [(f.file, f.action, f.data_rows, f.loaded, f.quarantined, f.excluded, f.sha256) for f in load.files]


def test_plain_files_load_straight_into_extracted_as_through_tables_of_their_own(tmp_path, monkeypatch):
    landing = _landing(tmp_path)
    statements: list[str] = []
    con, straight = _load(tmp_path / "straight.duckdb", landing, statements=statements)
    reference, staged = _load(tmp_path / "staged.duckdb", landing, monkeypatch)
    assert _tables(con) == _tables(reference)
    assert _counts(straight) == _counts(staged)
    assert [(f.file, f.data_rows) for f in straight.files] == [
        ("sfa/leads/a.csv", 2000),
        ("sfa/leads/b.csv", 1500),
        ("sfa/leads/c.csv", 0),
        ("sfa/leads/d.csv", 3000),
    ]
    # one statement typed and wrote every file; nothing waited in a table of the scratch database
    typing = [s for s in statements if "try_strptime" in s]
    assert len(typing) == 1 and typing[0].startswith("INSERT INTO extracted.sfa_leads")
    assert typing[0].count("read_csv(") == 4
    assert not [s for s in statements if f"{loader.SCRATCH}._ready" in s and s.startswith("CREATE")]
    assert "chr(0)" not in typing[0]  # no file has a NUL byte (their scan looked): no value is searched for one
    # each row keeps its own file's row number: data row n of a.csv is lead a-n, blank lines and all
    assert con.execute(
        "SELECT count(*) FROM extracted.sfa_leads "
        "WHERE lead_id <> split_part(_source_file, '/', 3)[1:1] || '-' || _source_row"
    ).fetchall() == [(0,)]
    assert con.execute("SELECT status FROM extracted.sfa_leads WHERE lead_id = 'a-500'").fetchall() == [
        ("working\non two lines",)
    ]
    assert con.execute("SELECT count(extra_note) FROM extracted.sfa_leads").fetchall() == [(1500,)]
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(True,)]


def test_a_bad_row_leaves_nothing_of_the_straight_load(tmp_path, monkeypatch):
    """Files a and d changed since the last load, and the last row of d breaks the contract: the straight load,
    which had replaced a's rows, is rolled back, and both files are read again through tables of their own, the
    bad row quarantined; the files that did not change stay as they were."""
    before, _ = _load(tmp_path / "earlier.duckdb", _landing(tmp_path / "earlier"))  # a warehouse with loads
    before.close()
    for name in ("again", "staged"):
        (tmp_path / f"{name}.duckdb").write_bytes((tmp_path / "earlier.duckdb").read_bytes())
    landing = _landing(tmp_path, bad=_lead("d", 3000).replace("2024/05/", "2024/13/", 1))
    with open(landing / "sfa" / "leads" / "a.csv", "a", encoding="utf-8") as a:
        a.write(_lead("a", 2001) + "\n")
    statements: list[str] = []
    con, again = _load(tmp_path / "again.duckdb", landing, statements=statements)
    reference, staged = _load(tmp_path / "staged.duckdb", landing, monkeypatch)
    assert [s.split()[0] for s in statements if "try_strptime" in s] == ["INSERT", "CREATE", "CREATE"]
    assert "a.csv" in statements[[s.split()[0] for s in statements].index("INSERT")]
    assert _tables(con) == _tables(reference)
    assert _counts(again) == _counts(staged)
    assert [(f.action, f.loaded, f.quarantined) for f in again.files] == [
        ("changed", 2001, 0),
        ("unchanged", 1500, 0),
        ("unchanged", 0, 0),
        ("changed", 2999, 1),
    ]
    assert con.execute("SELECT file, line, column_name FROM extracted.quarantine").fetchall() == [
        ("sfa/leads/d.csv", 3001, "created_at")
    ]
    assert con.execute("SELECT count(*) FROM extracted.sfa_leads").fetchall() == [(2001 + 1500 + 2999,)]


def test_a_nul_byte_in_a_value_quarantines_its_row(tmp_path):
    """The scan of d.csv finds the NUL byte, so the straight load searches d's values for one: the row fails it,
    and the files are read again through tables of their own, the row quarantined with its column."""
    landing = _landing(tmp_path, bad=_lead("d", 3000).replace("working", "wor\x00king"))
    statements: list[str] = []
    con, load = _load(tmp_path / "w.duckdb", landing, statements=statements)
    straight = next(s for s in statements if s.startswith("INSERT INTO extracted.sfa_leads"))
    assert straight.count("chr(0)") == len(LEADS.columns) and "d.csv" in straight
    assert [(f.file, f.loaded, f.quarantined) for f in load.files][-1] == ("sfa/leads/d.csv", 2999, 1)
    assert con.execute("SELECT file, line, column_name, reason FROM extracted.quarantine").fetchall() == [
        ("sfa/leads/d.csv", 3001, "status", "value 'wor\\x00king' contains a NUL byte")
    ]


def test_a_file_over_its_threshold_still_writes_nothing(tmp_path):
    bad_rows = "\n".join(f"e-{i},MA{i},never,,,,,,," for i in range(1, 60))
    landing = _landing(tmp_path)
    (landing / "sfa" / "leads" / "e.csv").write_text(f"{HEADER}\n{bad_rows}\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"), config={"threads": 2})
    with pytest.raises(IngestError, match="e.csv: 59 of 59 data rows"):
        load_entity(con, LEADS, [landing_layout(landing)], landing, "Asia/Tokyo", "Asia/Tokyo")
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND database_name <> ?", [loader.SCRATCH]
    ).fetchall() == [(0,)]
