"""Freshness of the extracts: a check per ingest asset that warns when the newest extract is older than
FUNNEL_STALE_AFTER_HOURS, and one data_stale alert per stale episode, however often it is evaluated."""

import os
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo import generator as demo
from pipeline.alerts.ledger import Ledger
from pipeline.alerts.sensors import goal_alerts, stale_data
from pipeline.config.settings import Settings
from pipeline.ingest.assets import ingest_assets
from pipeline.ingest.freshness import CHECK_NAME, declared_entities, extract_freshness
from pipeline.serving.paths import alert_ledger_file
from pipeline.warehouse.resource import Warehouse
from tests.alert_receiver import Receiver

HOUR = 3600.0


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "landing"
    demo.generate(300, 6, 11, folder)
    return folder


def _age(landing: Path, folder: str, hours: float) -> list[Path]:
    """Set the modification time of every file of `folder` (e.g. ma/leads) to `hours` ago."""
    files = sorted((landing / folder).rglob("*.csv"))
    then = time.time() - hours * HOUR
    for f in files:
        os.utime(f, (then, then))
    return files


def _sensor(sensor, instance: dg.DagsterInstance, settings: Settings):
    return sensor(dg.build_sensor_context(instance=instance, cursor=None, resources={"settings": settings}))


def _check_only(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """A run of the freshness checks alone (they read no warehouse, so the ingest assets do not run)."""
    defs = dg.Definitions(
        assets=ingest_assets,
        asset_checks=[extract_freshness],
        jobs=[dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(extract_freshness))],
        resources={"settings": settings, "warehouse": Warehouse(path=settings.warehouse_path)},
    )
    return defs.resolve_job_def("freshness").execute_in_process(instance=instance, raise_on_error=False)


def test_a_stale_extract_raises_one_alert_per_stale_episode(landing, tmp_path, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    (tmp_path / "warehouse").mkdir()
    settings = Settings(
        landing_dir=str(landing), warehouse_path=str(tmp_path / "warehouse" / "themodel.duckdb"), stale_after_hours=48
    )
    (leads,) = _age(landing, "ma/leads", 72)
    declared = {dg.AssetKey(["extracted", e.table]) for e in declared_entities()}

    with dg.DagsterInstance.ephemeral() as instance:
        first = _sensor(stale_data, instance, settings)
        again = _sensor(stale_data, instance, settings)  # a second evaluation, or a preview: nothing new
        assert {e.asset_key for e in first.asset_events} == declared  # first seen: every check reported
        failed = [e for e in first.asset_events if not e.passed]
        assert [e.asset_key.path[-1] for e in failed] == ["ma_leads"]
        assert failed[0].severity == dg.AssetCheckSeverity.WARN and failed[0].check_name == CHECK_NAME
        assert again.asset_events == []

        for _ in range(2):
            _sensor(goal_alerts, instance, settings)  # delivers what is due
        assert receiver.ids() == ["data_stale|ma_leads|1"]
        (message,) = receiver.accepted
        assert leads.relative_to(landing).as_posix() in message["message"] and "(72 hours ago)" in message["message"]

        run = _check_only(settings, instance)  # the check in a run sees the same episode: no second alert
        assert run.success
        results = {e.asset_key.path[-1]: e for e in run.get_asset_check_evaluations()}
        assert not results["ma_leads"].passed and all(r.passed for k, r in results.items() if k != "ma_leads")
        assert "72.0 h old" in results["ma_leads"].description
        _sensor(goal_alerts, instance, settings)
        assert len(receiver.accepted) == 1

        _age(landing, "ma/leads", 0)  # the export delivers again: the episode ends, silently
        fresh = _sensor(stale_data, instance, settings)
        assert [(e.asset_key.path[-1], e.passed) for e in fresh.asset_events] == [("ma_leads", True)]
        _age(landing, "ma/leads", 49)  # and stops again: a new episode, a new alert
        _sensor(stale_data, instance, settings)
        _sensor(goal_alerts, instance, settings)
        assert receiver.ids() == ["data_stale|ma_leads|1", "data_stale|ma_leads|2"]


def test_a_missing_extract_is_stale_and_nothing_is_raised_before_the_ledger_took_over_the_history(
    landing, tmp_path, monkeypatch
):
    monkeypatch.setenv("FUNNEL_ALERT_URLS", "")
    warehouse = tmp_path / "warehouse" / "themodel.duckdb"
    warehouse.parent.mkdir()
    duckdb.connect(str(warehouse)).close()  # a warehouse whose alert history the ledger has not taken over
    settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse))
    for f in (landing / "crm" / "contracts").iterdir():
        f.unlink()
    ledger = Ledger(alert_ledger_file(warehouse))

    with dg.DagsterInstance.ephemeral() as instance:
        run = _check_only(settings, instance)
        assert run.success  # WARN: a stale extract does not fail the run
        results = {e.asset_key.path[-1]: e for e in run.get_asset_check_evaluations()}
        assert not results["crm_contracts"].passed
        assert results["crm_contracts"].description == "no extract of crm_contracts found"
        assert isinstance(_sensor(stale_data, instance, settings), dg.SkipReason)
        assert ledger.alerts() == []

        ledger.mark_seeded(time.time())
        _sensor(stale_data, instance, settings)
        (alert,) = ledger.alerts()
    assert alert.alert_id == "data_stale|crm_contracts|1" and alert.delivery_status == "pending"
    assert "is missing: no file matches it" in alert.body and str(landing) in alert.body


def test_a_mistyped_warehouse_folder_is_never_created_and_the_check_still_reports(landing, tmp_path, monkeypatch):
    """The sensors run every 30 s under `make serve`: had they created the folder, the next run would build a new,
    empty warehouse in it."""
    monkeypatch.setenv("FUNNEL_ALERT_URLS", Receiver().url)
    folder = tmp_path / "wharehouse"
    settings = Settings(landing_dir=str(landing), warehouse_path=str(folder / "themodel.duckdb"))
    _age(landing, "ma/leads", 72)
    with dg.DagsterInstance.ephemeral() as instance:
        for sensor in (stale_data, goal_alerts):
            skipped = _sensor(sensor, instance, settings)
            assert isinstance(skipped, dg.SkipReason)
            assert f"the warehouse folder {folder} does not exist" in skipped.skip_message
        run = _check_only(settings, instance)
        assert run.success
        results = {e.asset_key.path[-1]: e.passed for e in run.get_asset_check_evaluations()}
        assert results == {e.table: e.table != "ma_leads" for e in declared_entities()}
        logged = [entry.user_message for entry in instance.all_logs(run.run_id)]
        assert any(f"the warehouse folder {folder} does not exist" in m and "no data_stale alert" in m for m in logged)
    assert not folder.exists()
