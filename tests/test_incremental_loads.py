"""Incremental, idempotent loads: the load log, replaced and removed files, newest-wins duplicates, and the
quarantine asset check."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.config.settings import Settings
from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import IngestError, load_entity, sha256
from pipeline.ingest.sources.mapping import landing_layout, parse_mapping
from tests.staging_sql import newest

LEADS = ENTITIES_BY_TABLE["ma_leads"]
HEADER = "lead_id,email,company,created_at,source,campaign_id\n"


def _write(landing: Path, name: str, *rows: str) -> Path:
    path = landing / "ma" / "leads" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _lead(lead_id: str, company: str = "A", created: str = "2024-04-01 10:00:00") -> str:
    return f"{lead_id},{lead_id}@x.jp,{company},{created},web,C1"


def _load(con, landing: Path, sources=None):
    return load_entity(con, LEADS, sources or [landing_layout(landing, 0.5)], landing, "Asia/Tokyo", "Asia/Tokyo")


def _raw(con) -> list[tuple]:
    return con.execute(f"SELECT lead_id, company, _source_file FROM {newest('ma_leads')} ORDER BY lead_id").fetchall()


def test_unchanged_files_are_skipped_changed_replace_their_rows_new_append_and_removed_leave(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    april = _write(landing, "2024-04.csv", _lead("0001"), _lead("0002"))
    first = _load(con, landing)
    assert [f.action for f in first.files] == ["new"] and first.rows == 2
    log = con.execute("SELECT file, sha256, data_rows, loaded_rows FROM extracted.load_log").fetchall()
    assert log == [("ma/leads/2024-04.csv", sha256(april), 2, 2)]

    again = _load(con, landing)
    assert [f.action for f in again.files] == ["unchanged"]
    assert con.execute("SELECT count(*) FROM extracted.load_log").fetchall() == [(1,)]
    assert _raw(con) == [("0001", "A", "ma/leads/2024-04.csv"), ("0002", "A", "ma/leads/2024-04.csv")]

    _write(landing, "2024-05.csv", _lead("0003"))  # next month's export appends
    _write(landing, "2024-04.csv", _lead("0001", "A2"))  # April re-exported: replaces what April loaded
    third = _load(con, landing)
    assert sorted((f.file, f.action) for f in third.files) == [
        ("ma/leads/2024-04.csv", "changed"),
        ("ma/leads/2024-05.csv", "new"),
    ]
    assert _raw(con) == [("0001", "A2", "ma/leads/2024-04.csv"), ("0003", "A", "ma/leads/2024-05.csv")]

    april.unlink()
    fourth = _load(con, landing)
    assert sorted((f.file, f.action) for f in fourth.files) == [
        ("ma/leads/2024-04.csv", "removed"),
        ("ma/leads/2024-05.csv", "unchanged"),
    ]
    assert _raw(con) == [("0003", "A", "ma/leads/2024-05.csv")]
    assert con.execute("SELECT file FROM extracted.load_log").fetchall() == [("ma/leads/2024-05.csv",)]


def test_a_fixed_file_takes_its_quarantined_rows_out_of_quarantine(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "a.csv", _lead("0001"), _lead("0002", created="soon"))
    assert _load(con, landing).files[0].quarantined == 1
    assert con.execute("SELECT line, column_name, raw_line FROM extracted.quarantine").fetchall() == [
        (3, "created_at", "0002,0002@x.jp,A,soon,web,C1")
    ]
    _write(landing, "a.csv", _lead("0001"), _lead("0002"))
    assert _load(con, landing).rows == 2
    assert con.execute("SELECT count(*) FROM extracted.quarantine").fetchall() == [(0,)]


def test_duplicates_across_files_resolve_to_the_file_that_sorts_last_and_are_counted(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "2024-04.csv", _lead("0001", "old"), _lead("0002"))
    _write(landing, "2024-05.csv", _lead("0001", "new"))
    result = _load(con, landing)
    assert (result.rows, result.duplicates) == (2, 1)
    assert _raw(con)[0] == ("0001", "new", "ma/leads/2024-05.csv")


def test_duplicates_compare_file_names_not_the_folders_they_sit_in(tmp_path):
    """archive/2024-04.csv sorts after 2024-05.csv as a path; by its name it is the older export."""
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "archive/2024-04.csv", _lead("0001", "april"))
    _write(landing, "2024-05.csv", _lead("0001", "may"))
    _write(landing, "x/2024-06.csv", _lead("0002", "x"))
    _write(landing, "y/2024-06.csv", _lead("0002", "y"))  # the same name twice: the path decides
    _load(con, landing)
    assert _raw(con) == [("0001", "may", "ma/leads/2024-05.csv"), ("0002", "y", "ma/leads/y/2024-06.csv")]


def test_when_every_file_of_an_entity_is_gone_the_load_fails_and_raw_keeps_its_rows(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "2024-04.csv", _lead("0001"))
    _load(con, landing)
    (landing / "ma" / "leads" / "2024-04.csv").unlink()
    with pytest.raises(IngestError, match="extracted.ma_leads was not changed and still holds the rows of 1 file"):
        _load(con, landing)
    assert _raw(con) == [("0001", "A", "ma/leads/2024-04.csv")]


def test_a_last_modified_column_beats_file_order(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    for name, company, modified in (("a.csv", "newer", "2024-06-01 00:00:00"), ("b.csv", "older", "2024-05-01")):
        path = landing / "exports" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"id,name,created,modified\n0001,{company},2024-04-01,{modified}\n", encoding="utf-8")
    mapping = parse_mapping(
        {
            "source": "crm",
            "entities": {
                "ma_leads": {
                    "files": "exports/*.csv",
                    "last_modified": "modified",
                    "columns": {"lead_id": "id", "company": "name", "created_at": "created"},
                }
            },
        },
        "test",
        landing,
        0.01,
    )
    result = _load(con, landing, [mapping])
    assert (result.rows, result.duplicates) == (1, 1)
    assert con.execute(f"SELECT company, _source FROM {newest('ma_leads')}").fetchall() == [("newer", "crm")]


def test_an_unreadable_last_modified_value_is_quarantined_not_taken_as_missing(tmp_path):
    """Read as empty, 01/06/2024 would lose to the older export; the row goes to quarantine instead."""
    landing, con = tmp_path / "landing", duckdb.connect()
    for name, company, modified in (("a.csv", "newer", "01/06/2024 10:00"), ("b.csv", "older", "2024-05-01")):
        path = landing / "exports" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"id,name,created,modified\n0001,{company},2024-04-01,{modified}\n0002,x,2024-04-01,\n", encoding="utf-8"
        )
    mapping = parse_mapping(
        {
            "source": "crm",
            "entities": {
                "ma_leads": {
                    "files": "exports/*.csv",
                    "last_modified": "modified",
                    "columns": {"lead_id": "id", "company": "name", "created_at": "created"},
                }
            },
        },
        "test",
        landing,
        0.5,
    )
    result = _load(con, landing, [mapping])
    assert [(f.file, f.loaded, f.quarantined) for f in result.files] == [
        ("exports/a.csv", 1, 1),
        ("exports/b.csv", 2, 0),
    ]
    assert con.execute("SELECT file, line, column_name, reason FROM extracted.quarantine").fetchall() == [
        ("exports/a.csv", 2, "last_modified", "value '01/06/2024 10:00' is not a valid timestamp")
    ]
    assert con.execute(f"SELECT company FROM {newest('ma_leads')} WHERE lead_id = '0001'").fetchall() == [("older",)]


def test_the_ingest_asset_reports_files_and_warns_on_quarantine(tmp_path):
    from pipeline.definitions import build_definitions

    landing = tmp_path / "landing"
    _write(landing, "a.csv", _lead("0001"), _lead("0002"), _lead("0003", created="31/04/2024"))
    settings = Settings(
        landing_dir=str(landing),
        warehouse_path=str(tmp_path / "w.duckdb"),
        sources_config=str(tmp_path / "sources.yml"),
    )
    (tmp_path / "sources.yml").write_text("landing_layout: true\nbad_row_threshold: 0.5\n")
    leads = build_definitions(settings).resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))

    def run():
        result = dg.materialize([leads], instance=dg.DagsterInstance.ephemeral())
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        (check,) = result.get_asset_check_evaluations()
        return {k: v.value for k, v in metadata.items()}, check

    metadata, check = run()
    assert metadata["dagster/row_count"] == 2 and metadata["quarantined_rows"] == 1
    assert metadata["files_loaded"] == 1 and metadata["files_skipped"] == 0
    assert check.check_name == "quarantine" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["quarantined_rows"].value == 1

    metadata, check = run()  # same file again: nothing to do, the quarantine is still there
    assert metadata["files_loaded"] == 0 and metadata["files_skipped"] == 1 and metadata["dagster/row_count"] == 2
    assert not check.passed
    # the skipped file's counts come from the load log, so the metadata agrees with the warning
    assert metadata["quarantined_rows"] == 1 == check.metadata["quarantined_rows"].value
    assert [(f["action"], f["data_rows"], f["loaded"], f["quarantined"]) for f in metadata["file_list"]] == [
        ("unchanged", 3, 2, 1)
    ]

    _write(landing, "a.csv", _lead("0001"), _lead("0002"), _lead("0003"))
    metadata, check = run()
    assert metadata["files_replaced"] == 1 and metadata["dagster/row_count"] == 3 and check.passed


def test_a_changed_lookup_file_reloads_the_files_that_join_it(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    (landing / "x").mkdir(parents=True)
    (landing / "x" / "leads.csv").write_text("id,created\n1,2024-04-01\n2,2024-04-02\n", encoding="utf-8")
    (landing / "x" / "bad.csv").write_text("id\n2\n", encoding="utf-8")
    mapping = parse_mapping(
        {
            "source": "crm",
            "entities": {
                "ma_leads": {
                    "files": "x/leads.csv",
                    "lookups": {"spam": {"files": "x/bad.csv", "columns": ["id"]}},
                    "where": "NOT EXISTS (SELECT 1 FROM spam WHERE spam.id = _src.id)",
                    "columns": {"lead_id": "id", "created_at": "created"},
                }
            },
        },
        "test",
        landing,
        0.01,
    )
    first = _load(con, landing, [mapping])
    assert (first.rows, first.files[0].excluded) == (1, 1)
    assert [f.action for f in _load(con, landing, [mapping]).files] == ["unchanged"]
    (landing / "x" / "bad.csv").write_text("id\n1\n", encoding="utf-8")
    third = _load(con, landing, [mapping])
    assert [f.action for f in third.files] == ["changed"]
    assert con.execute(f"SELECT lead_id FROM {newest('ma_leads')}").fetchall() == [("2",)]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall() == [(0,)]


def test_a_changed_mapping_or_time_zone_reloads_unchanged_files(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "a.csv", _lead("0001", created="2024-04-01 09:00:00"))
    _load(con, landing)
    tokyo = load_entity(con, LEADS, [landing_layout(landing, 0.5)], landing, "Asia/Tokyo", "Asia/Tokyo")
    assert [f.action for f in tokyo.files] == ["unchanged"]
    utc = load_entity(con, LEADS, [landing_layout(landing, 0.5)], landing, "UTC", "Asia/Tokyo")
    assert [f.action for f in utc.files] == ["changed"]
    assert con.execute(
        f"SELECT strftime(timezone('UTC', created_at), '%H:%M') FROM {newest('ma_leads')}"
    ).fetchall() == [("09:00",)]


def test_a_changed_reporting_zone_reloads_unchanged_files_as_it_reads_a_date_alone(tmp_path):
    landing, con = tmp_path / "landing", duckdb.connect()
    _write(landing, "a.csv", _lead("0001", created="2024-04-01"))

    def created_utc(source_tz: str, reporting_tz: str) -> tuple[list[str], str]:
        load = load_entity(con, LEADS, [landing_layout(landing, 0.5)], landing, source_tz, reporting_tz)
        return [f.action for f in load.files], con.execute(
            f"SELECT strftime(timezone('UTC', created_at), '%Y-%m-%d %H:%M') FROM {newest('ma_leads')}"
        ).fetchall()[0][0]

    assert created_utc("UTC", "Asia/Tokyo") == (["new"], "2024-03-31 15:00")  # April 1 began at 15:00 UTC in Tokyo
    assert created_utc("UTC", "Asia/Tokyo") == (["unchanged"], "2024-03-31 15:00")
    assert created_utc("UTC", "UTC") == (["changed"], "2024-04-01 00:00")
