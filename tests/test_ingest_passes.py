"""How much work a load is: Python reads a UTF-8 extract's bytes once, and the extracted rows are written once."""

import builtins
import hashlib

import duckdb

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources import reader
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import landing_layout
from pipeline.ingest.sources.values import WITH_OFFSET, lit

LEADS = ENTITIES_BY_TABLE["ma_leads"]
ROWS = 30_000


def _extract(path, bad_every: int = 0) -> bytes:
    lines = ["lead_id,email,company,created_at,source,campaign_id"]
    for i in range(1, ROWS + 1):
        created = "yesterday" if bad_every and i % bad_every == 0 else f"2024/05/{1 + i % 28:02d} 10:{i % 60:02d}:00"
        lines.append(f"{i:010d},lead{i}@example.co.jp,株式会社テスト{i % 97},{created},web_form,CMP-{i % 13}")
    data = ("\n".join(lines) + "\n").encode()
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return data


def test_python_reads_a_utf8_extract_once_and_duckdb_checks_its_encoding(tmp_path, monkeypatch):
    data = _extract(tmp_path / "landing" / "ma" / "leads.csv", bad_every=1000)
    read_bytes = []

    def counting_open(file, mode="r", *args, **kwargs):
        handle = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (the caller closes it)
        if "b" in mode and str(file).endswith("leads.csv"):
            original = handle.read

            def read(size=-1):
                chunk = original(size)
                read_bytes.append(len(chunk))
                return chunk

            handle.read = read
        return handle

    monkeypatch.setattr(reader, "open", counting_open, raising=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    load = load_entity(con, LEADS, [landing_layout(tmp_path / "landing")], tmp_path / "landing", "UTC", "UTC")
    # the scan reads the file once; the header and a glance at the encoding read its first chunk
    assert len(data) <= sum(read_bytes) <= len(data) + 2 * reader.CHUNK
    assert len(data) > 2 * reader.CHUNK  # so a second pass would show
    file = load.files[0]
    assert (file.data_rows, file.loaded, file.quarantined) == (ROWS, ROWS - ROWS // 1000, ROWS // 1000)
    assert file.sha256 == hashlib.sha256(data).hexdigest()
    assert con.execute("SELECT count(*), min(_source_row), max(_source_row) FROM extracted.ma_leads").fetchall() == [
        (ROWS - ROWS // 1000, 1, ROWS - 1)
    ]
    assert con.execute("SELECT min(line), count(*) FROM extracted.quarantine").fetchall() == [(1001, ROWS // 1000)]


def test_the_scan_counts_line_ends_as_python_sees_them(tmp_path):
    path = tmp_path / "mixed.csv"
    first = b"a,b\r\n1,2\n3,"
    path.write_bytes(first + b"4" * (reader.CHUNK - len(first) - 1) + b"\r" + b"\n5,6\r\n7,8")  # a CRLF across chunks
    text = path.read_bytes()
    found = reader.scan(path)
    assert (found.crlf, found.lf) == (text.count(b"\r\n"), text.count(b"\n"))
    assert found.lines == len(text.split(b"\n"))
    assert found.sha256 == hashlib.sha256(text).hexdigest()
    assert not found.nul
    path.write_bytes(text[: reader.CHUNK] + b"\x00" + text[reader.CHUNK :])  # a NUL in the second chunk only
    assert reader.scan(path).nul


class _Recording:
    """A connection that keeps the SQL it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con, self.statements = con, []

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, sql, *args):
        self.statements.append(sql)
        return self._con.execute(sql, *args)


def test_each_value_is_typed_once_and_not_inside_a_case(tmp_path):
    """A statement that types a file types each column once: the check of a value reads the typed value, and
    without a mapping's `where` the typing is not wrapped in a CASE (DuckDB evaluated it four times slower there).
    A file without bad rows is typed by one statement, which writes its rows; one with bad rows by a second one
    too, after the first stopped at its first bad row, to quarantine them."""
    for bad_every, statements in ((0, ["INSERT"]), (1000, ["INSERT", "CREATE"])):
        folder = tmp_path / str(bad_every)
        _extract(folder / "landing" / "ma" / "leads.csv", bad_every=bad_every)
        con = _Recording(duckdb.connect(str(folder / "w.duckdb"), config={"threads": 1}))
        load = load_entity(con, LEADS, [landing_layout(folder / "landing")], folder / "landing", "UTC", "UTC")
        assert load.files[0].quarantined == (ROWS // bad_every if bad_every else 0)  # the checks find bad timestamps
        typing = [s for s in con.statements if "try_strptime" in s]
        assert [s.split()[0] for s in typing] == statements
        for statement in typing:
            # created_at is the only timestamp of ma_leads: its offset test, the start of its typing, occurs once
            assert statement.count(lit(WITH_OFFSET)) == 1
            assert "CASE WHEN __keep THEN" not in statement
