"""Files of one entity are read on several connections at once (one per DuckDB thread); what gets loaded,
quarantined and logged is what reading them one by one gives, file by file and line by line, also when a file
fails its threshold."""

import threading

import duckdb
import pytest

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources import loader
from pipeline.ingest.sources.loader import IngestError, load_entity
from pipeline.ingest.sources.mapping import landing_layout

LEADS = ENTITIES_BY_TABLE["sfa_leads"]
PREPARE = loader.prepare_file
HEADER = (
    "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,converted_opportunity_id,"
    "disqualified_at,disqualified_reason,extra_note"
)


def _write(folder, name: str, rows: int, bad: dict[int, str]) -> None:
    """A leads file; `bad` replaces data row n by its text (a malformed record or a value that breaks the contract)."""
    lines = [HEADER]
    for i in range(1, rows + 1):
        lines.append(
            bad.get(i)
            or f"{name}-{i},MA{i},2024/05/{1 + i % 28:02d} 10:{i % 60:02d}:00,005U{i % 7},working,"
            f'2024/05/{1 + i % 28:02d} 11:00:00,,,,,"note ""{i}"", with a comma"'
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _landing(tmp_path, fail: bool = False):
    landing = tmp_path / "landing"
    folder = landing / "sfa" / "leads"
    _write(folder, "a", 3000, {10: "a-10,MA10,yesterday,005U1,working,,,,,,x", 2999: "a-2999,too,many,,,,,,,,,,fields"})
    _write(folder, "b", 2500, {1: 'b-1,MA1,2024/05/01 10:00:00,005U1,working,"2024/13/01 10:00:00",,,,,x'})
    _write(folder, "c", 2000, {})
    if fail:  # more bad rows than the threshold allows
        _write(folder, "d", 100, {i: f"d-{i},MA,never,,,,,,,," for i in range(1, 60)})
    return landing


def _load(tmp_path, landing, threads: int, name: str, monkeypatch, calls: list):
    prepare = PREPARE

    def recording(con, *args, **kwargs):
        calls.append((con, threading.current_thread().name))  # the connection kept, so no id is reused
        return prepare(con, *args, **kwargs)

    monkeypatch.setattr(loader, "prepare_file", recording)
    con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), config={"threads": threads})
    load = load_entity(con, LEADS, [landing_layout(landing)], landing, "Asia/Tokyo", "Asia/Tokyo")
    tables = {
        table: con.execute(f"SELECT * EXCLUDE ({stamp}) FROM extracted.{table} ORDER BY ALL").fetchall()
        for table, stamp in (("sfa_leads", "_modified_at"), ("quarantine", "quarantined_at"), ("load_log", "loaded_at"))
    }
    return con, load, tables


def test_files_read_at_once_load_what_files_read_one_by_one_load(tmp_path, monkeypatch):
    landing = _landing(tmp_path)
    serial_calls, parallel_calls = [], []
    _, serial, one_by_one = _load(tmp_path, landing, 1, "serial", monkeypatch, serial_calls)
    con, parallel, at_once = _load(tmp_path, landing, 2, "parallel", monkeypatch, parallel_calls)
    assert len({id(c) for c, _ in serial_calls}) == 1 and {t for _, t in serial_calls} == {"MainThread"}
    assert len({id(c) for c, _ in parallel_calls}) == 3  # a connection of its own for each file
    assert all(t.startswith("ingest") for _, t in parallel_calls)
    assert at_once == one_by_one
    assert [(f.file, f.data_rows, f.loaded, f.quarantined) for f in parallel.files] == [
        ("sfa/leads/a.csv", 3000, 2998, 2),
        ("sfa/leads/b.csv", 2500, 2499, 1),
        ("sfa/leads/c.csv", 2000, 2000, 0),
    ]
    assert [(f.file, f.data_rows, f.quarantined) for f in serial.files] == [
        (f.file, f.data_rows, f.quarantined) for f in parallel.files
    ]
    # each row keeps its own file's row number (data row n is line n + 1 here)
    assert con.execute(
        "SELECT count(*) FROM extracted.sfa_leads WHERE lead_id <> split_part(_source_file, '/', 3)[1:1] || '-' || "
        "_source_row"
    ).fetchall() == [(0,)]
    assert [(r[2], r[3], r[4]) for r in at_once["quarantine"]] == [
        ("sfa/leads/a.csv", 11, "created_at"),
        ("sfa/leads/a.csv", 3000, None),
        ("sfa/leads/b.csv", 2, "first_contact_at"),
    ]
    # nothing is left of the files' tables once the load is written
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = ?", [loader.SCRATCH]).fetchall() == [
        (0,)
    ]


def test_a_file_over_its_threshold_fails_the_load_alike(tmp_path, monkeypatch):
    landing = _landing(tmp_path, fail=True)
    messages = []
    for threads in (1, 2):
        con = duckdb.connect(str(tmp_path / f"fail{threads}.duckdb"), config={"threads": threads})
        with pytest.raises(IngestError) as failed:
            load_entity(con, LEADS, [landing_layout(landing)], landing, "Asia/Tokyo", "Asia/Tokyo")
        messages.append(str(failed.value))
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE NOT temporary AND database_name <> ?", [loader.SCRATCH]
        ).fetchall() == [(0,)]  # nothing written
        assert con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ?", [loader.SCRATCH]
        ).fetchall() == [(0,)]
    assert messages[0] == messages[1]
    assert "d.csv: 59 of 100 data rows" in messages[0]
