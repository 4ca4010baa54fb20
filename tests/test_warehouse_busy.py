"""A program outside the pipeline (a DuckDB CLI, a notebook) holding the warehouse file, as `make run` meets it:
before the run starts, while the run is under way, and while it looks whether demo extracts may be written. Each
time the holder is waited for once, named once, and the exit code is 75 (try again later), never 1 or 2.

The holders are real processes that keep the file open with duckdb.connect (tests/holders.py).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo import generator as demo
from pipeline.outcome import EXIT_FAILED, EXIT_WAREHOUSE_BUSY, outcome_of
from pipeline.run import main
from pipeline.warehouse.resource import Warehouse, WarehouseBusyError
from tests.holders import held
from tests.test_crash_kill import Deployment

LEADS, MONTHS, SEED = 800, 6, 11


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("busy") / "landing"
    demo.generate(LEADS, MONTHS, SEED, folder)
    return folder


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_make_run_waits_once_for_a_program_holding_the_warehouse_then_exits_75_naming_it(landing, tmp_path):
    deployment = Deployment(tmp_path, landing, lock_timeout=3)
    with duckdb.connect(str(deployment.warehouse)) as con:
        con.execute("create table kept as select 42 as answer")
    with held(deployment.warehouse, seconds=300) as holder:
        before = _digest(deployment.warehouse)
        started = time.monotonic()
        process = deployment.start("held")
        code = process.wait(timeout=120)
        took = time.monotonic() - started
        after = _digest(deployment.warehouse)  # while it is still held: the holder writes nothing
    said = deployment.output("held")
    print(f"make run exited {code} after {took:.1f} s")
    assert code == EXIT_WAREHOUSE_BUSY, said
    assert 3 <= took < 120
    named = f"held by process {holder.pid} ("
    assert said.count(f"waiting for the warehouse, {named}") == 1  # when the wait begins
    assert said.count(f"is {named}") == 1 and said.count("waited 3 s for it (FUNNEL_LOCK_TIMEOUT_SECONDS)") == 1
    assert "Nothing was run." in said and "step failed" not in said and "Traceback" not in said
    assert deployment.instance.get_runs() == []  # no run was started, so none is left to recover
    assert after == before and not deployment.warehouse.with_suffix(".duckdb.wal").exists()
    with duckdb.connect(str(deployment.warehouse), read_only=True) as con:
        assert con.execute("select answer from kept").fetchall() == [(42,)]


def _warehouse_steps(warehouse: Warehouse, wrap: bool) -> list[dg.AssetsDefinition]:
    """Three independent steps that write the warehouse, as the ingest steps do; one wraps the busy error in one
    of its own, as Great Expectations does."""

    def step(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name)
        def write() -> None:
            try:
                with warehouse.connect() as con:
                    con.execute(f"create table {name} as select 1 as n")
            except WarehouseBusyError as exc:
                if wrap and name == "gx_like":
                    raise RuntimeError(f"Attempt to connect to datasource failed: due to {exc!r}") from exc
                raise

        return write

    return [step(n) for n in ("ma_leads", "sfa_accounts", "gx_like")]


def test_steps_kept_out_by_a_held_warehouse_are_one_line_and_exit_75_unless_another_step_failed(tmp_path):
    path = tmp_path / "held.duckdb"
    duckdb.connect(str(path)).close()
    warehouse = Warehouse(path=str(path), lock_timeout_seconds=0.5)

    @dg.asset
    def broken() -> None:
        raise ValueError("a step that fails on its own")

    with held(path, seconds=300) as holder:
        busy = outcome_of(dg.materialize(_warehouse_steps(warehouse, wrap=True), raise_on_error=False))
        mixed = outcome_of(dg.materialize([*_warehouse_steps(warehouse, wrap=False), broken], raise_on_error=False))

    keys = [s.key for s in busy.failed_steps]
    assert sorted(keys) == ["gx_like", "ma_leads", "sfa_accounts"]
    assert all(s.busy for s in busy.failed_steps) and busy.exit_code == EXIT_WAREHOUSE_BUSY
    lines = busy.lines()
    assert len(lines) == 2 and lines[1].count(f"held by process {holder.pid} (") == 1, lines
    assert lines[1].startswith(f"  3 step(s) failed, the warehouse busy ({', '.join(keys)}): ")
    assert "waited 0.5 s for it (FUNNEL_LOCK_TIMEOUT_SECONDS)" in lines[1]
    assert busy.verdict().endswith(f"exit code {EXIT_WAREHOUSE_BUSY}")

    assert mixed.exit_code == EXIT_FAILED  # a step that failed for itself is a failure, busy or not
    text = "\n".join(mixed.lines())
    assert text.count(f"held by process {holder.pid} (") == 1
    assert "  step failed: broken: ValueError: a step that fails on its own" in text
    assert mixed.verdict().endswith("exit code 1")


def test_a_held_warehouse_is_reported_busy_when_make_run_looks_whether_the_demo_may_be_written(
    tmp_path, monkeypatch, capsys
):
    """An empty default landing folder: make run first reads the warehouse's load log, so as not to write the demo
    extracts over loaded files."""
    default = tmp_path / "landing"
    default.mkdir()
    warehouse = tmp_path / "themodel.duckdb"
    duckdb.connect(str(warehouse)).close()
    monkeypatch.setattr("pipeline.run.DEFAULT_LANDING", default)
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(default))
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("FUNNEL_LOCK_TIMEOUT_SECONDS", "1")
    with held(warehouse, seconds=300) as holder:
        before = _digest(warehouse)
        assert main([]) == EXIT_WAREHOUSE_BUSY
        assert _digest(warehouse) == before
    err = capsys.readouterr().err
    assert err.count(f"is held by process {holder.pid} (") == 1 and "waited 1 s for it" in err
    assert "Nothing was written." in err and "cannot be read" not in err
    assert list(default.iterdir()) == []  # no demo extracts


def test_a_warehouse_path_that_is_not_a_duckdb_file_stops_make_run_before_any_step_with_exit_2(landing, tmp_path):
    deployment = Deployment(tmp_path, landing)
    deployment.warehouse.write_text("lead_id,email\n1,a@example.com\n")  # FUNNEL_WAREHOUSE pointed at an extract
    before = _digest(deployment.warehouse)
    assert deployment.start("not-duckdb").wait(timeout=120) == 2
    said = deployment.output("not-duckdb")
    assert said.count(f"{deployment.warehouse} cannot be opened (") == 1 and "nothing was run" in said
    assert "Traceback" not in said and deployment.instance.get_runs() == []
    assert _digest(deployment.warehouse) == before
