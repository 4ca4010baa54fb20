"""Crash recovery's parts, each tested against the real thing: a Dagster instance on disk, processes that live,
die or hold the warehouse file, read-only folders and an interrupted publish's files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest

from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL
from pipeline.runs.processes import HOST_TAG, PID_TAG, STARTED_TAG, RunProcess, this_process
from pipeline.runs.recovery import recover
from pipeline.serving.publish import publish_marts
from pipeline.warehouse.locks import WarehouseBusyError, WarehouseLocationError
from pipeline.warehouse.resource import Warehouse
from tests.holders import DUCKDB_READ_ONLY, held


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _run(instance: dg.DagsterInstance, tags: dict[str, str], slot: bool = True) -> str:
    """A run recorded as started by the process `tags` name, holding the warehouse pool's slot."""

    @dg.op
    def noop() -> None: ...

    @dg.job
    def refresh() -> None:
        noop()

    run = instance.create_run_for_job(refresh, tags=tags, status=dg.DagsterRunStatus.STARTED)
    if slot:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run.run_id, "extracted__ma_leads").is_claimed
    return run.run_id


def _dead_process() -> dict[str, str]:
    """The tags of a process that ran and exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(child.pid).create_time()
    child.wait()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(child.pid), STARTED_TAG: repr(started)}


def _holders(instance: dg.DagsterInstance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots}


def test_a_run_whose_process_is_gone_is_failed_and_its_slot_freed_and_a_live_one_is_left_alone(instance):
    dead = _run(instance, _dead_process())
    live = _run(instance, this_process(), slot=False)
    assert _holders(instance) == {dead}
    recovered = recover(instance)
    assert [r.run_id for r in recovered] == [dead]
    assert "which is gone (killed or crashed)" in str(recovered[0])
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(live).status == dg.DagsterRunStatus.STARTED
    assert _holders(instance) == set()
    assert recover(instance) == []  # nothing left to do


def test_a_live_run_keeps_its_slot_and_a_finished_run_that_kept_one_gives_it_back(instance):
    live = _run(instance, this_process())
    assert recover(instance) == [] and _holders(instance) == {live}
    instance.report_run_failed(instance.get_run_by_id(live), "ended without freeing its slot")
    recovered = recover(instance)
    assert [(r.run_id, r.was) for r in recovered] == [(live, "finished")] and _holders(instance) == set()


def test_a_reused_process_id_does_not_keep_a_dead_run_alive(instance):
    """The id of the run's process now belongs to a process that started later: this very one, say."""
    me = psutil.Process()
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), STARTED_TAG: repr(me.create_time() - 3600)}
    assert not RunProcess(socket.gethostname(), me.pid, me.create_time() - 3600).alive()
    assert RunProcess(socket.gethostname(), me.pid, me.create_time()).alive()
    assert RunProcess("another-host", 1, 0).alive()  # cannot be told: left alone
    dead = _run(instance, tags)
    assert [r.run_id for r in recover(instance)] == [dead]


def test_a_run_with_no_known_process_is_left_to_dagsters_run_monitoring(instance):
    unknown = _run(instance, {})
    assert recover(instance) == [] and _holders(instance) == {unknown}


def test_a_warehouse_held_too_long_fails_after_the_timeout_naming_the_process(tmp_path):
    path = tmp_path / "held.duckdb"
    duckdb.connect(str(path)).close()
    with held(path) as holder:
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as caught, Warehouse(path=str(path), lock_timeout_seconds=2).connect():
            pass
        waited = time.monotonic() - started
    assert 2 <= waited < 4
    message = str(caught.value)
    assert f"is held by process {holder.pid} ({sys.executable} -c import duckdb" in message
    assert "waited 2 s for it (FUNNEL_LOCK_TIMEOUT_SECONDS)" in message


def test_the_great_expectations_checks_wait_out_a_brief_read_only_open(tmp_path):
    """The run that failed at great_expectations_raw: another process read the file for a moment."""
    from pipeline.quality.gx_checks import load_suites, validate, value_sets

    warehouse = tmp_path / "w.duckdb"
    suite = next(s for s in load_suites() if s.name == "extracted.sfa_opportunities")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema extracted")
        con.execute(
            "create table extracted.sfa_opportunities (opportunity_id varchar, lead_id varchar, account_id varchar,"
            " owner_id varchar, type varchar, created_at timestamptz, stage_name varchar, is_closed boolean,"
            " is_won boolean, closed_at timestamptz, amount double, currency varchar, lost_reason varchar)"
        )
    sets = value_sets(PROJECT_ROOT / "quality.yml")
    with held(warehouse, DUCKDB_READ_ONLY, seconds=2) as holder:
        with pytest.raises(Exception, match=f"WarehouseBusyError.*held by process {holder.pid}"):  # wrapped by GX
            validate(suite, str(warehouse), sets, lock_timeout=0)  # without waiting: the failure seen
        result = validate(suite, str(warehouse), sets, lock_timeout=20)
    assert result.metadata["expectations_run"].value >= 3


def _as_nobody(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`command` as a user without root's pass over file permissions (the test may run as root)."""
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
def test_a_read_only_or_missing_warehouse_folder_is_reported_once_as_that_before_anything_is_written():
    tmp_path = Path(tempfile.mkdtemp(prefix="readonly-"))  # pytest's own temporary folders are its user's alone
    tmp_path.chmod(0o755)
    landing = tmp_path / "landing"
    (landing / "ma" / "leads").mkdir(parents=True)
    (landing / "ma" / "leads" / "leads.csv").write_text("lead_id,email,company,created_at,source,campaign_id\n")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    env = {**os.environ, "FUNNEL_LANDING_DIR": str(landing), "DAGSTER_HOME": str(tmp_path / "home")}
    for warehouse, says in [
        (locked / "themodel.duckdb", f"{locked} is read-only"),
        (tmp_path / "no" / "such" / "themodel.duckdb", f"{tmp_path / 'no' / 'such'} does not exist"),
    ]:
        done = _as_nobody([sys.executable, "-m", "pipeline.run"], {**env, "FUNNEL_WAREHOUSE": str(warehouse)})
        assert done.returncode == 2, done.stderr
        assert done.stderr.count(says) == 1 and "held by" not in done.stderr + done.stdout
        assert "nothing was written" in done.stderr
    assert list(locked.iterdir()) == [] and not (tmp_path / "no").exists() and not (tmp_path / "home").exists()
    shutil.rmtree(tmp_path)


def test_any_other_error_opening_the_warehouse_is_not_taken_for_a_lock(tmp_path):
    started = time.monotonic()
    missing = Warehouse(path=str(tmp_path / "no" / "such.duckdb"), lock_timeout_seconds=30)
    with pytest.raises(WarehouseLocationError, match="No such file or directory"), missing.connect():
        pass
    assert time.monotonic() - started < 5  # not retried


def test_a_publish_removes_what_an_interrupted_publish_left(tmp_path):
    warehouse = tmp_path / "themodel.duckdb"
    (tmp_path / "parquet").mkdir()
    leftovers = [
        tmp_path / ".marts.duckdb.4242.tmp",
        tmp_path / ".marts.duckdb.4242.tmp.wal",
        tmp_path / "parquet" / ".funnel_kpi_monthly.parquet.4242.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"partial")
    kept = [tmp_path / "notes.txt", tmp_path / "parquet" / "other.parquet"]
    for path in kept:
        path.write_text("not the publish's")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.funnel_kpi_monthly as select 1 as n")
        published = publish_marts(con, warehouse, ["funnel_kpi_monthly"])
    assert sorted(published.leftovers) == sorted(leftovers)
    assert not any(p.exists() for p in leftovers) and all(p.exists() for p in kept)
    assert sorted(p.name for p in tmp_path.glob(".*")) == []
    with duckdb.connect(str(published.path), read_only=True) as con:
        assert con.execute("select n from funnel_kpi_monthly").fetchall() == [(1,)]


def test_the_daemons_sensor_recovers_dead_runs_of_the_instance(instance):
    from pipeline.definitions import defs
    from pipeline.runs.sensor import recover_dead_runs

    assert defs.resolve_sensor_def("recover_dead_runs").default_status == dg.DefaultSensorStatus.RUNNING
    dead = _run(instance, _dead_process())
    result = recover_dead_runs(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and f"run {dead} (refresh) was left STARTED" in result.skip_message
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE and _holders(instance) == set()
    assert recover_dead_runs(dg.build_sensor_context(instance=instance)).skip_message == "no dead run"
