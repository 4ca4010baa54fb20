"""Erasure on request: nothing of the person is left in any byte of the warehouse folder, every count stays, and
neither a later load of the landing files that still hold them nor a copied address brings them back."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.ingest.assets import ingest
from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.warehouse.resource import Warehouse
from tests.conftest import materialize
from tests.holders import held

ADDRESS = "Taro.Yamada@Example.jp"  # as the MA exported it first; the request gives it in other letter cases
COMPANIES = ("株式会社消去テスト", "消去テスト合同会社")  # the company before and after the lead updated it
EXTRAS = ("03-5555-0101", "090-1234-5678", "消去太郎")  # phone, mobile, last name: columns beyond the contract
OTHER_NOTE = "referred by <taro.yamada@example.jp>"  # another lead's free text naming the person


def _write_person(landing: Path) -> None:
    """One person across MA and SFA: two versions of their lead (the company changed), a second lead of theirs that
    is quarantined (bad timestamp), their MQL and SFA lead with extra columns, and another SFA lead whose note names
    them."""
    (landing / "ma/leads/zz_person_v1.csv").write_text(
        "lead_id,email,company,created_at,source,campaign_id,phone\n"
        f"0999990001,{ADDRESS},{COMPANIES[0]},2026-06-10T10:00:00+09:00,web_form,CMP-X,{EXTRAS[0]}\n",
        encoding="utf-8",
    )
    (landing / "ma/leads/zz_person_v2.csv").write_text(
        "lead_id,email,company,created_at,source,campaign_id\n"
        f"0999990001,{ADDRESS.lower()},{COMPANIES[1]},2026-06-10T10:00:00+09:00,web_form,CMP-X\n"
        f"0999990002,{ADDRESS.lower()},{COMPANIES[1]},not-a-date,web_form,CMP-X\n",
        encoding="utf-8",
    )
    (landing / "ma/mql_events/zz_person.csv").write_text(
        "lead_id,mql_at,score,sfa_lead_id\n0999990001,2026-06-12T10:00:00+09:00,55,00QPERSON0000001\n"
    )
    (landing / "sfa/leads/zz_person.csv").write_text(
        "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,converted_opportunity_id,"
        "disqualified_at,disqualified_reason,last_name,mobile,note\n"
        f"00QPERSON0000001,0999990001,2026-06-12T11:00:00+09:00,005IS0000000001,working,,,,,,{EXTRAS[2]},{EXTRAS[1]},\n"
        f"00QOTHER00000001,,2026-06-13T11:00:00+09:00,005IS0000000001,working,,,,,,佐藤,090-0000-0000,{OTHER_NOTE}\n",
        encoding="utf-8",
    )


def _values() -> list[bytes]:
    return [v.encode() for v in (ADDRESS, ADDRESS.lower(), *COMPANIES, *EXTRAS)]


def _files_holding(folder: Path) -> dict[str, list[str]]:
    """file -> which of the person's values its raw bytes contain (the address in any letter case)."""
    found = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [v.decode() for v in _values() if v in data or v.lower() in data.lower()]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def _marts(published: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(published), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT * FROM main.{t}").df() for t in tables}


def _rows(warehouse: Path) -> dict[str, int]:
    with Warehouse(path=str(warehouse)).connect() as con:
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'extracted'").fetchall()
        return {t: con.execute(f"SELECT count(*) FROM extracted.{t}").fetchall()[0][0] for (t,) in tables}


def _erase(warehouse: Path, landing: Path, *args: str, dagster_home: Path | None = None, **variables: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DAGSTER_HOME"))}
    env |= {"FUNNEL_WAREHOUSE": str(warehouse), "FUNNEL_LANDING_DIR": str(landing), **variables}
    if dagster_home:
        env["DAGSTER_HOME"] = str(dagster_home)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.privacy.erase", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@dataclass
class Erased:
    landing: Path
    warehouse: Path
    before_erasure: Path  # a copy of the warehouse file as the first run left it
    marts: dict[str, pd.DataFrame]
    rows: dict[str, int]
    held_before: dict[str, list[str]]
    output: subprocess.CompletedProcess
    held_after: dict[str, list[str]]
    dagster_home: Path


@pytest.fixture(scope="module")
def erased(tmp_path_factory) -> Erased:
    base = tmp_path_factory.mktemp("erasure")
    landing, warehouse = base / "landing", base / "warehouse" / "themodel.duckdb"
    demo.generate(800, 6, 11, landing)
    _write_person(landing)
    warehouse.parent.mkdir()  # a missing warehouse folder is an error, not created
    run = materialize(landing, warehouse)
    assert run.result.success
    before_erasure = base / "before.duckdb"
    shutil.copyfile(warehouse, before_erasure)
    marts, rows, held_before = (
        _marts(warehouse.parent / "marts.duckdb"),
        _rows(warehouse),
        _files_holding(warehouse.parent),
    )
    home = base / "dagster_home"  # a run's event log that quoted the address, as a failed check might
    (home / "history" / "runs").mkdir(parents=True)
    (home / "history" / "runs" / "run-1.db").write_bytes(b"...value '" + ADDRESS.encode() + b"\\x00' ...")
    output = _erase(warehouse, landing, "--email", "TARO.yamada@EXAMPLE.jp", dagster_home=home)
    return Erased(
        landing, warehouse, before_erasure, marts, rows, held_before, output, _files_holding(warehouse.parent), home
    )


def test_nothing_of_the_person_is_left_in_any_file_of_the_warehouse_folder(erased):
    # without the rewrite DuckDB would keep the values in free blocks: the first run's file holds them all
    assert set(erased.held_before["themodel.duckdb"]) == {v.decode() for v in _values()}
    assert not any(name.startswith(("marts.duckdb", "parquet", "report")) for name in erased.held_before)
    assert erased.output.returncode == 0, erased.output.stderr
    assert "rewrote themodel.duckdb" in erased.output.stdout
    assert erased.held_after == {}, "the person is still in these files (raw bytes)"
    assert not erased.warehouse.with_name("themodel.duckdb.wal").exists()
    assert not [p.name for p in erased.warehouse.parent.iterdir() if p.name.startswith(".")], "no temporary file"


def test_every_row_is_kept_and_only_the_person_loses_values(erased):
    assert _rows(erased.warehouse) == erased.rows
    with Warehouse(path=str(erased.warehouse)).connect() as con:
        leads = con.execute(
            "SELECT email, company, phone, created_at IS NOT NULL FROM extracted.ma_leads WHERE lead_id = '0999990001'"
        ).fetchall()
        assert leads == [(None, None, None, True)] * 2, "both versions of the record, emptied"
        sfa = dict(
            con.execute(
                "SELECT lead_id, [last_name, mobile, note, status] FROM extracted.sfa_leads WHERE lead_id LIKE '00Q%0001'"
            ).fetchall()
        )
        assert sfa["00QPERSON0000001"] == [None, None, None, "working"]
        assert sfa["00QOTHER00000001"] == ["佐藤", "090-0000-0000", None, "working"], "only the note naming them"
        line = con.execute("SELECT raw_line, reason FROM extracted.quarantine WHERE file LIKE '%zz_person%'").fetchall()
        assert line == [("[erased]", "value 'not-a-date' is not a valid timestamp")]
        assert con.execute("SELECT count(*) FROM extracted.ma_leads WHERE email IS NOT NULL").fetchall()[0][0] == 800
        kinds = con.execute("SELECT kind, count(*) FROM privacy.erasures GROUP BY ALL ORDER BY 1").fetchall()
        assert kinds == [("email", 1), ("ma_lead", 1), ("sfa_lead", 1)]
        digest = hashlib.sha256(f"email:{ADDRESS.lower()}".encode()).hexdigest()
        assert con.execute("SELECT count(*) FROM privacy.erasures WHERE digest = ?", [digest]).fetchall()[0][0] == 1


def test_the_operator_is_told_which_landing_files_and_runs_still_hold_the_person(erased):
    out = erased.output.stdout
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    expected = ["ma/leads/zz_person_v1.csv", "ma/leads/zz_person_v2.csv", "ma/mql_events/zz_person.csv"]
    assert [str(erased.landing / f) for f in [*expected, "sfa/leads/zz_person.csv"]] == listed[:4]
    assert str(erased.dagster_home / "history" / "runs" / "run-1.db") in listed
    assert ADDRESS.lower() not in out.lower() and COMPANIES[1] not in out, "the output quotes nothing of the person"


def test_a_later_run_over_the_same_extracts_keeps_them_out_and_every_mart_equal(erased):
    # the file changes (its lines swapped), so it is loaded again with the person in it
    changed = erased.landing / "ma/leads/zz_person_v2.csv"
    header, *lines = changed.read_text(encoding="utf-8").splitlines()
    changed.write_text("\n".join([header, *reversed(lines)]) + "\n", encoding="utf-8")
    run = materialize(erased.landing, erased.warehouse)
    assert run.result.success
    loaded = [e for e in run.result.get_asset_materialization_events() if e.asset_key.path == ["extracted", "ma_leads"]]
    assert loaded[0].materialization.metadata["files_loaded"].value == 1
    assert _files_holding(erased.warehouse.parent) == {}
    after = _marts(erased.warehouse.parent / "marts.duckdb")
    assert after.keys() == erased.marts.keys()
    for table, frame in erased.marts.items():
        pd.testing.assert_frame_equal(after[table], frame, obj=table)


def test_an_address_a_model_copied_is_replaced_where_it_stands(erased, tmp_path):
    warehouse = tmp_path / "copy" / "themodel.duckdb"
    warehouse.parent.mkdir()
    shutil.copyfile(erased.before_erasure, warehouse)
    with Warehouse(path=str(warehouse)).connect() as con:
        con.execute(
            "CREATE TABLE intermediate.leaky AS SELECT lead_id, 'contact: ' || email || ', then ' || email AS note "
            "FROM extracted.ma_leads"
        )
        before = con.execute("SELECT note FROM intermediate.leaky WHERE lead_id <> '0999990001' ORDER BY 1").fetchall()
    done = _erase(warehouse, erased.landing, "--lead-id", "0999990001")
    assert done.returncode == 0, done.stderr
    assert "(intermediate.leaky 2)" in done.stdout
    with Warehouse(path=str(warehouse)).connect() as con:
        notes = con.execute("SELECT DISTINCT note FROM intermediate.leaky WHERE lead_id = '0999990001'").fetchall()
        assert notes == [("contact: [erased], then [erased]",)]
        after = con.execute("SELECT note FROM intermediate.leaky WHERE lead_id <> '0999990001' ORDER BY 1").fetchall()
        assert after == before
    assert _files_holding(warehouse.parent) == {}


def test_a_person_only_in_a_landing_file_is_recorded_and_loaded_without_their_data(erased, tmp_path):
    warehouse = tmp_path / "themodel.duckdb"
    shutil.copyfile(erased.warehouse, warehouse)
    landing = tmp_path / "landing"
    shutil.copytree(erased.landing, landing)
    (landing / "ma/leads/zz_new.csv").write_text(
        "lead_id,email,company,created_at,source,campaign_id\n"
        "0999990009,hanako@example.org,株式会社新規,2026-06-20T10:00:00+09:00,web_form,CMP-X\n"
        "0999990010,keep@example.org,株式会社残す,2026-06-20T11:00:00+09:00,web_form,CMP-X\n",
        encoding="utf-8",
    )
    done = _erase(warehouse, landing, "--email", "hanako@example.org")
    assert done.returncode == 0, done.stderr
    assert "holds nothing of the person yet" in done.stdout and str(landing / "ma/leads/zz_new.csv") in done.stdout
    settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse))
    with Warehouse(path=str(warehouse)).connect() as con:
        ingest(con, ENTITIES_BY_TABLE["ma_leads"], settings)
        new = con.execute(
            "SELECT lead_id, email, company FROM extracted.ma_leads WHERE lead_id >= '0999990009' ORDER BY 1"
        ).fetchall()
    assert new == [("0999990009", None, None), ("0999990010", "keep@example.org", "株式会社残す")]
    assert b"hanako@example.org" not in warehouse.read_bytes()


def test_someone_found_nowhere_changes_nothing(erased):
    digest = hashlib.sha256(erased.warehouse.read_bytes()).hexdigest()
    done = _erase(erased.warehouse, erased.landing, "--email", "nobody@example.jp", "--lead-id", "404")
    assert done.returncode == 1
    assert "nothing was changed" in done.stderr and "Traceback" not in done.stderr
    assert hashlib.sha256(erased.warehouse.read_bytes()).hexdigest() == digest


def test_asking_again_is_answered_and_rewrites_the_file_again(erased):
    # what a rewrite killed part-way would leave: a copy made before the erasure, of a process that is gone
    stale = erased.warehouse.with_name(".themodel.duckdb.999999999.rewrite")
    shutil.copyfile(erased.before_erasure, stale)
    done = _erase(erased.warehouse, erased.landing, "--email", ADDRESS)
    assert done.returncode == 0, done.stderr
    assert "they were erased before (1 of their identities are on record)" in done.stdout
    assert "rewrote themodel.duckdb" in done.stdout, "a retry after a failed rewrite must not leave free blocks"
    assert not stale.exists()
    assert _files_holding(erased.warehouse.parent) == {}


def test_usage_mistakes_are_exit_2(erased, tmp_path):
    done = _erase(erased.warehouse, erased.landing)
    assert done.returncode == 2 and "--email" in done.stderr
    done = _erase(tmp_path / "typo.duckdb", erased.landing, "--email", "a@example.jp")
    assert done.returncode == 2 and "typo.duckdb does not exist" in done.stderr
    assert not (tmp_path / "typo.duckdb").exists()


def test_a_held_warehouse_is_reported_and_nothing_is_erased(erased, tmp_path):
    warehouse = tmp_path / "held.duckdb"
    shutil.copyfile(erased.before_erasure, warehouse)
    with held(warehouse):
        done = _erase(warehouse, erased.landing, "--email", ADDRESS, FUNNEL_LOCK_TIMEOUT_SECONDS="0.5")
    assert done.returncode == 3
    assert "is held by" in done.stderr and "Nothing was erased" in done.stderr and "Traceback" not in done.stderr
    assert ADDRESS.lower().encode() in warehouse.read_bytes()
