"""Coverage alerts through the goal sensor, as on-call staff receive them: a month of marts.pipeline_coverage turning
below_minimum raises one coverage_low alert, however often the sensor is evaluated (a reset cursor); turning covered
or target_met one coverage_recovered; no_target neither; a later fall below the minimum a new coverage_low. Each is
delivered once to a local receiver, in English or Japanese."""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.alerts.detection import COVERAGE, coverage_transition
from pipeline.alerts.ledger import Ledger
from pipeline.alerts.messages import coverage_fields, render
from pipeline.alerts.sensors import goal_alerts
from pipeline.alerts.settings import AlertSettings
from pipeline.alerts.statuses import read_coverage
from pipeline.config.settings import Settings
from pipeline.definitions import build_definitions
from pipeline.serving.paths import alert_ledger_file, published_file
from tests.alert_receiver import Receiver


@pytest.fixture
def published_copy(demo_run, tmp_path) -> Settings:
    """The demo run's warehouse folder (warehouse, published marts, alert ledger), copied."""
    folder = tmp_path / "warehouse"
    shutil.copytree(Path(demo_run.settings.warehouse_path).parent, folder)
    return Settings(landing_dir=demo_run.settings.landing_dir, warehouse_path=str(folder / "themodel.duckdb"))


def _published(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(published_file(settings.warehouse_path))) as con:
        return con.execute(sql, params or []).fetchall()


def _set_status(settings: Settings, month: str, status: str) -> None:
    """What the next publication would show for `month` (as if its pipeline had grown or its target changed)."""
    _published(settings, "update pipeline_coverage set status = ? where strftime(month, '%Y-%m') = ?", [status, month])


def _evaluate(instance: dg.DagsterInstance, settings: Settings) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=None, resources={"settings": settings})
    return goal_alerts(context)


def _publish(instance: dg.DagsterInstance) -> None:
    from pipeline.alerts.assets import PUBLISHED

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=PUBLISHED))


def _coverage_ids(receiver: Receiver) -> list[str]:
    return [i for i in receiver.ids() if i and i.startswith("coverage_")]


def test_a_month_below_the_minimum_alerts_once_and_again_only_after_it_recovered(published_copy, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    monkeypatch.setenv("FUNNEL_ALERT_RETRY_SECONDS", "0")
    months = _published(published_copy, "select strftime(month, '%Y-%m'), status from pipeline_coverage order by 1")
    assert len(months) == 3
    low = [m for m, s in months if s == "below_minimum"]
    assert low, "the demo's pipeline covers every month: nothing to alert on"  # the demo pipeline is thin
    with dg.DagsterInstance.ephemeral() as instance:
        job = build_definitions(published_copy).resolve_job_def("alerts_job")
        _evaluate(instance, published_copy)  # asks for the run that lets the ledger take over the history
        assert job.execute_in_process(instance=instance, raise_on_error=False).success
        _publish(instance)
        for _ in range(3):  # a fresh cursor each time, as a restarted daemon: raised and sent once
            _evaluate(instance, published_copy)
        assert sorted(_coverage_ids(receiver)) == [f"coverage_low|{m}|1" for m in low]
        month = low[0]
        (title,) = [t for t in receiver.titles() if t.startswith(f"[coverage low] {month}:")]
        count, remaining, minimum = _published(
            published_copy,
            "select pipeline_count, remaining_count, coverage_minimum from pipeline_coverage "
            "where strftime(month, '%Y-%m') = ?",
            [month],
        )[0]
        assert (
            f"pipeline {count} deals for {remaining} still to win ({count / remaining:.2f}x, minimum {minimum:g}x)"
            in (title)
        )

        sent = len(_coverage_ids(receiver))
        for status, raised in (
            ("no_target", None),  # a month losing its target says nothing about its pipeline
            ("covered", f"coverage_recovered|{month}|2"),
            ("target_met", None),  # still fine: no second recovery
            ("below_minimum", f"coverage_low|{month}|3"),
        ):
            _set_status(published_copy, month, status)
            _publish(instance)
            for _ in range(2):
                _evaluate(instance, published_copy)
            if raised:
                sent += 1
                assert _coverage_ids(receiver)[-1] == raised, receiver.ids()
            assert len(_coverage_ids(receiver)) == sent, (status, receiver.ids())
    ledger = Ledger(alert_ledger_file(published_copy.warehouse_path))
    coverage = [a for a in ledger.alerts() if a.kind.startswith("coverage_")]
    assert {(a.delivery_status, a.attempts) for a in coverage} == {("delivered", 1)}
    assert {a.stage for a in coverage} == {"field_sales"}


def test_a_published_file_from_before_the_mart_raises_no_coverage_alert(published_copy):
    _published(published_copy, "drop table pipeline_coverage")
    assert read_coverage(published_file(published_copy.warehouse_path)) == []


def test_the_transition_rule():
    assert coverage_transition(None, "below_minimum") == "coverage_low"
    assert coverage_transition("no_target", "below_minimum") == "coverage_low"
    assert coverage_transition("below_minimum", "below_minimum") is None
    assert coverage_transition("below_minimum", "covered") == "coverage_recovered"
    assert coverage_transition("below_minimum", "target_met") == "coverage_recovered"
    assert coverage_transition("below_minimum", "no_target") is None
    assert coverage_transition(None, "covered") is None
    assert COVERAGE == "coverage"


def test_coverage_alerts_are_written_in_japanese_when_asked():
    settings = AlertSettings(
        urls=[], language="ja", templates_dir=Path(__file__).parent.parent / "alerts", months=2, retry_seconds=60
    )
    row = {
        "month": "2026-11",
        "status": "below_minimum",
        "pipeline_count": 10,
        "pipeline_amount": 52_700_000.0,
        "won_count": 2,
        "target_count": 15,
        "remaining_count": 13,
        "coverage_remaining_count": 10 / 13,
        "coverage_remaining_amount": 0.88,
        "coverage_minimum": 3.0,
        "overdue_count": 1,
        "undated_count": float("nan"),
    }
    title, body = render(
        settings.templates(), "coverage_low", "coverage_low|2026-11|1", coverage_fields(row, None, "run-1", "JPY")
    )
    assert title == "【カバレッジ不足】2026-11: パイプライン 10 件 / 残り目標 13 件（0.77x、基準 3x）"
    assert "新規商談 10 件、52,700,000 JPY（残りの売上目標の 0.88x）" in body
    assert "予定日のない商談: - 件" in body and "アラート ID: coverage_low|2026-11|1" in body
