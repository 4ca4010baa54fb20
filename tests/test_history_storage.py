"""The instance of `make run` (pipeline/runs/storage.py): DAGSTER_HOME's settings and files, read by a plain Dagster
as they are (the UI and the daemon use Dagster's default storage over them), a running run's events followed live
as the webserver follows them, no file kept open after housekeeping deletes a run, and the SQLite folder that
dagster.yaml names used."""

import shutil
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from pipeline.config.settings import PROJECT_ROOT
from pipeline.housekeeping import delete_run
from pipeline.runs.storage import EventLogStorage, history_instance


@dg.asset
def leads() -> int:
    return 3


@dg.asset
def stages(leads: int) -> int:
    return leads * 2


@dg.asset_check(asset=stages)
def stages_positive(stages: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=stages > 0)


JOB = dg.Definitions(
    assets=[leads, stages], asset_checks=[stages_positive], jobs=[dg.define_asset_job("small")]
).resolve_job_def("small")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _open_files() -> set[str]:
    return {f.path for f in psutil.Process().open_files()}


def test_runs_are_recorded_where_a_plain_dagster_reads_them(home: Path) -> None:
    with history_instance() as instance:
        assert isinstance(instance.event_log_storage, EventLogStorage)
        result = JOB.execute_in_process(instance=instance)
        assert result.success
        ours = [r.event_log_entry.dagster_event_type for r in instance.get_records_for_run(result.run_id).records]
    with dg.DagsterInstance.from_config(str(home)) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert plain.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        theirs = [r.event_log_entry.dagster_event_type for r in plain.get_records_for_run(result.run_id).records]
        assert theirs == ours and dg.DagsterEventType.ASSET_CHECK_EVALUATION in theirs
        materialization = plain.get_latest_materialization_event(dg.AssetKey("stages"))
        assert materialization is not None and materialization.run_id == result.run_id
        assert plain.get_settings("concurrency") == history_instance().get_settings("concurrency")


def test_a_running_runs_events_reach_a_watcher_in_another_instance(home: Path) -> None:
    with history_instance() as instance, dg.DagsterInstance.from_config(str(home)) as webserver:
        run = instance.create_run_for_job(JOB)
        seen: list[str] = []

        def follow(entry: dg.EventLogEntry, _cursor: str) -> None:
            seen.append(entry.message)

        webserver.watch_event_logs(run.run_id, None, follow)
        try:
            time.sleep(0.2)  # the watcher's observer thread starts
            instance.report_engine_event("first step done", run)
            deadline = time.monotonic() + 10
            while "first step done" not in seen and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "first step done" in seen
        finally:
            webserver.end_watch_event_logs(run.run_id, follow)


def test_a_run_stores_its_asset_and_check_events_without_opening_the_index_again(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dagster's SQLite storage asks whether a table exists before storing each asset or check event, on an engine
    # it creates for the question (has_table); the storage answers from what it has seen. A Dagster upgrade that
    # renamed has_table would make this test fail instead of slowing every run down.
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    engines: list[str] = []
    create_engine = sqlite_event_log.create_engine
    monkeypatch.setattr(
        sqlite_event_log, "create_engine", lambda url, **kw: engines.append(url) or create_engine(url, **kw)
    )
    with history_instance() as instance:
        assert JOB.execute_in_process(instance=instance).success
        first_run = len(engines)
        result = JOB.execute_in_process(instance=instance)
        assert result.success
        stored = [r.event_log_entry.dagster_event_type for r in instance.get_records_for_run(result.run_id).records]
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in stored and dg.DagsterEventType.ASSET_CHECK_EVALUATION in stored
    assert len(engines) == first_run, engines[first_run:]


def test_a_deleted_runs_file_is_not_kept_open(home: Path) -> None:
    with history_instance() as instance:
        first = JOB.execute_in_process(instance=instance).run_id
        JOB.execute_in_process(instance=instance)
        shard = str(home / "history" / "runs" / f"{first}.db")
        assert shard in _open_files()
        delete_run(instance, first)
        assert shard not in _open_files() and not Path(shard).exists()
        assert instance.get_run_by_id(first) is None


def test_a_storage_configured_in_dagster_yaml_stays_where_it_is_configured(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    with (home / "dagster.yaml").open("a") as config:
        config.write(f"storage:\n  sqlite:\n    base_dir: {elsewhere}\n")
    with history_instance() as instance:
        JOB.execute_in_process(instance=instance)
    assert (elsewhere / "history" / "runs.db").exists() and not (home / "history").exists()
