"""Backup and restore of the warehouse folder and Dagster's storage: a restored backup gives the same marts, and
nothing is replaced without --force, from a damaged backup, or while a run is in progress."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT, Settings
from tests.holders import held

LEDGER = "deliveries.sqlite"  # any other SQLite file beside the warehouse is backed up like the alert ledger


@dataclass
class World:
    landing: Path
    warehouse: Path
    home: Path  # DAGSTER_HOME
    backup: Path
    created: subprocess.CompletedProcess
    marts: dict[str, pd.DataFrame]  # every table of marts.duckdb
    warehouse_marts: dict[str, pd.DataFrame]  # schema marts of the warehouse
    run_ids: list[str]

    @property
    def folder(self) -> Path:
        return self.warehouse.parent


def _tables(path: Path, schema: str) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY 1", [schema]
        ).fetchall()
        return {t: con.execute(f"SELECT * FROM {schema}.{t}").df() for (t,) in names}


def _assert_same(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    assert sorted(actual) == sorted(expected)
    for table, frame in expected.items():
        pd.testing.assert_frame_equal(actual[table], frame, obj=table)


def _run_ids(home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return sorted(r.dagster_run.run_id for r in instance.get_run_records())


def _ledger(folder: Path) -> list[tuple]:
    with sqlite3.connect(folder / LEDGER) as con:
        return con.execute("SELECT alert_id, status FROM deliveries ORDER BY 1").fetchall()


def _run(warehouse: Path, home: Path, landing: Path, *args: str, **variables: str) -> subprocess.CompletedProcess:
    """`python -m ARGS` as an operator runs it, with the warehouse, DAGSTER_HOME and landing folder set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DAGSTER_HOME"))}
    env |= {"FUNNEL_WAREHOUSE": str(warehouse), "DAGSTER_HOME": str(home), "FUNNEL_LANDING_DIR": str(landing)}
    env |= variables
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _cli(world: World, *args: str, **variables: str) -> subprocess.CompletedProcess:
    return _run(world.warehouse, world.home, world.landing, *args, **variables)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Demo extracts materialized through a Dagster instance with SQLite storage, a delivery log, and a backup."""
    from pipeline.definitions import build_definitions

    base = tmp_path_factory.mktemp("backup")
    landing, warehouse, home = base / "landing", base / "warehouse" / "themodel.duckdb", base / "dagster_home"
    demo.generate(800, 6, 11, landing)
    home.mkdir()
    warehouse.parent.mkdir()  # a missing warehouse folder is an error, not created
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = build_definitions(settings).resolve_job_def("refresh").execute_in_process(instance=instance)
    assert result.success
    with sqlite3.connect(warehouse.parent / LEDGER) as ledger:
        ledger.execute("PRAGMA journal_mode=WAL")
        ledger.execute("CREATE TABLE deliveries (alert_id TEXT PRIMARY KEY, status TEXT)")
        ledger.execute("INSERT INTO deliveries VALUES ('goal-miss-2026-09-field_sales', 'delivered')")
    backup = base / "backups" / "first"
    created = _run(warehouse, home, landing, "pipeline.warehouse.backup", "create", str(backup))
    world = World(
        landing,
        warehouse,
        home,
        backup,
        created,
        _tables(warehouse.parent / "marts.duckdb", "main"),
        _tables(warehouse, "marts"),
        _run_ids(home),
    )
    return world


def test_a_backup_holds_every_state_file_with_its_size_and_hash(world):
    assert world.created.returncode == 0, world.created.stderr
    manifest = json.loads((world.backup / "manifest.json").read_text())
    files = {(e["area"], e["path"]): e for e in manifest["files"]}
    kinds = {key: e["kind"] for key, e in files.items()}
    assert kinds[("warehouse", "themodel.duckdb")] == "duckdb"
    assert kinds[("warehouse", LEDGER)] == kinds[("warehouse", "alert_ledger.sqlite")] == "sqlite"
    assert kinds[("dagster_home", "history/runs.db")] == "sqlite"
    beside = {p.relative_to(world.folder).as_posix() for p in world.folder.rglob("*") if p.is_file()}
    journals = {name for name in beside if name.endswith(("-wal", "-shm", "-journal"))}
    assert {path for area, path in files if area == "warehouse"} == beside - journals
    assert ("dagster_home", "dagster.yaml") not in files, "configuration is in version control"
    for (area, path), entry in files.items():
        copy = world.backup / area / path
        assert (copy.stat().st_size, _sha(copy)) == (entry["bytes"], entry["sha256"]), path
    assert manifest["versions"]["duckdb"] == duckdb.__version__


def test_a_restore_over_a_lost_and_damaged_warehouse_gives_the_same_marts(world):
    world.warehouse.unlink()
    (world.folder / "marts.duckdb").write_bytes(b"not a database")
    shutil.rmtree(world.folder / "parquet")
    with sqlite3.connect(world.folder / LEDGER) as ledger:
        ledger.execute("UPDATE deliveries SET status = 'failed'")
    (world.home / "history" / "runs.db").write_bytes(b"damaged" * 100)

    refused = _cli(world, "pipeline.warehouse.backup", "restore", str(world.backup))
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (world.folder / "marts.duckdb").read_bytes() == b"not a database", "nothing was replaced"

    done = _cli(world, "pipeline.warehouse.backup", "restore", str(world.backup), "--force")
    assert done.returncode == 0, done.stderr
    _assert_same(_tables(world.folder / "marts.duckdb", "main"), world.marts)
    _assert_same(_tables(world.warehouse, "marts"), world.warehouse_marts)
    for parquet in (world.backup / "warehouse" / "parquet").iterdir():
        assert _sha(world.folder / "parquet" / parquet.name) == _sha(parquet)
    assert _ledger(world.folder) == [("goal-miss-2026-09-field_sales", "delivered")]
    assert _run_ids(world.home) == world.run_ids


def test_a_damaged_or_incomplete_backup_is_refused_before_anything_changes(world, tmp_path):
    before = _sha(world.warehouse)
    damaged = tmp_path / "damaged"
    shutil.copytree(world.backup, damaged)
    report = damaged / "warehouse" / "report" / "index.html"
    report.write_bytes(report.read_bytes().replace(b"<html", b"<HTML", 1))
    checked = _cli(world, "pipeline.warehouse.backup", "verify", str(damaged))
    assert checked.returncode == 4 and f"{report}: its SHA-256 differs" in checked.stderr
    done = _cli(world, "pipeline.warehouse.backup", "restore", str(damaged), "--force")
    assert done.returncode == 4 and "nothing was restored" in done.stderr
    assert _sha(world.warehouse) == before

    manifest = json.loads((world.backup / "manifest.json").read_text())
    manifest["versions"]["duckdb"] = "99.0"
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    newer = _cli(world, "pipeline.warehouse.backup", "restore", str(damaged), "--force")
    assert newer.returncode == 4 and "duckdb 99.0" in newer.stderr
    (damaged / "manifest.json").unlink()
    incomplete = _cli(world, "pipeline.warehouse.backup", "verify", str(damaged))
    assert incomplete.returncode == 4 and "no manifest.json" in incomplete.stderr
    assert "Traceback" not in checked.stderr + done.stderr + newer.stderr + incomplete.stderr


def test_nothing_is_backed_up_or_restored_while_a_run_is_in_progress(world, tmp_path):
    with dg.DagsterInstance.from_config(str(world.home)) as instance:
        run = instance.add_run(dg.DagsterRun(job_name="refresh", status=dg.DagsterRunStatus.STARTED))
    try:
        created = _cli(world, "pipeline.warehouse.backup", "create", str(tmp_path / "during"))
        assert created.returncode == 3 and run.run_id in created.stderr
        assert not (tmp_path / "during" / "manifest.json").exists()
        restored = _cli(world, "pipeline.warehouse.backup", "restore", str(world.backup), "--force")
        assert restored.returncode == 3 and "in progress" in restored.stderr
    finally:
        with dg.DagsterInstance.from_config(str(world.home)) as instance:
            instance.delete_run(run.run_id)


def test_a_warehouse_held_by_another_process_stops_a_backup(world, tmp_path):
    with held(world.warehouse):
        done = _cli(
            world, "pipeline.warehouse.backup", "create", str(tmp_path / "held"), FUNNEL_LOCK_TIMEOUT_SECONDS="0.5"
        )
    assert done.returncode == 3
    assert "is held by" in done.stderr and "Nothing was backed up" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "held" / "manifest.json").exists()


def test_backups_go_to_a_new_folder_outside_the_ones_they_copy(world, tmp_path):
    inside = _cli(world, "pipeline.warehouse.backup", "create", str(world.folder / "backups"))
    assert inside.returncode == 2 and "keep backups elsewhere" in inside.stderr
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    used = _cli(world, "pipeline.warehouse.backup", "create", str(tmp_path / "used"))
    assert used.returncode == 2 and "not empty" in used.stderr


def test_a_person_erased_after_the_backup_stays_erased_when_it_is_restored(world):
    address = "lead0000000001@example.co.jp"
    assert address.encode() in (world.backup / "warehouse" / "themodel.duckdb").read_bytes()
    erased = _cli(world, "pipeline.privacy.erase", "--email", address)
    assert erased.returncode == 0, erased.stderr
    done = _cli(world, "pipeline.warehouse.backup", "restore", str(world.backup), "--force")
    assert done.returncode == 0, done.stderr
    assert "erased again" in done.stdout
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        row = con.execute("SELECT email, company FROM extracted.ma_leads WHERE lead_id = '0000000001'").fetchall()
        assert row == [(None, None)]
        assert con.execute("SELECT count(*) FROM privacy.erasures WHERE kind = 'email'").fetchall()[0][0] == 1
    assert address.encode() not in world.warehouse.read_bytes()
    _assert_same(_tables(world.folder / "marts.duckdb", "main"), world.marts)
