"""Goal-miss alerts: raised once per transition, delivered exactly once through failures, recorded."""

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.alerts.assets import PUBLISHED
from pipeline.alerts.detection import State, detect
from pipeline.alerts.sensors import goal_alerts
from pipeline.alerts.settings import AlertSettings
from pipeline.config.settings import Settings
from pipeline.definitions import build_definitions


class Receiver:
    """A webhook on 127.0.0.1 that refuses the first `fail_first` requests with HTTP 500."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first, self.requests, self.accepted = fail_first, 0, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests += 1
                ok = receiver.requests > receiver.fail_first
                if ok:
                    receiver.accepted.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [b["title"] for b in self.accepted]


@pytest.fixture
def published_copy(demo_run, tmp_path) -> Settings:
    folder = tmp_path / "warehouse"
    shutil.copytree(Path(demo_run.settings.warehouse_path).parent, folder)
    return Settings(landing_dir=demo_run.settings.landing_dir, warehouse_path=str(folder / "themodel.duckdb"))


def _evaluate(instance, settings, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"settings": settings})
    result = goal_alerts(context)
    return result, result.cursor


def test_each_alert_arrives_exactly_once_after_failures_and_a_recovery_once(published_copy, monkeypatch):
    receiver = Receiver(fail_first=2)
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    monkeypatch.setenv("FUNNEL_ALERT_RETRY_SECONDS", "0")
    published = Path(published_copy.warehouse_path).parent / "marts.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        bad = con.execute("""
            select strftime(period_start, '%Y-%m'), stage from funnel_kpi_monthly
            where view = 'period' and status in ('missed', 'at_risk')
              and period_start >= (select max(period_start) from funnel_kpi_monthly) - interval 1 month""").fetchall()
    assert len(bad) >= 3

    with dg.DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=PUBLISHED))
        first, cursor = _evaluate(instance, published_copy, None)
        assert receiver.requests == len(bad) and len(receiver.accepted) == len(bad) - 2
        second, cursor = _evaluate(instance, published_copy, cursor)  # the two failed ones, retried
        third, cursor = _evaluate(instance, published_copy, cursor)  # nothing new, nothing due
        titles = receiver.titles()
        assert len(titles) == len(set(titles)) == len(bad)
        for month, stage in bad:
            assert sum(f"{stage}, {month}:" in t for t in titles) == 1
        assert third.run_requests == []

        month, stage = bad[0]
        with duckdb.connect(str(published)) as con:
            con.execute(
                "update funnel_kpi_monthly set status = 'met', goal = target_goal "
                "where view = 'period' and strftime(period_start, '%Y-%m') = ? and stage = ?",
                [month, stage],
            )
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=PUBLISHED))
        fourth, cursor = _evaluate(instance, published_copy, cursor)
        fifth, cursor = _evaluate(instance, published_copy, cursor)
        recovered = [t for t in receiver.titles() if t.startswith("[recovered]")]
        assert recovered == [t for t in recovered if f"{stage}, {month}:" in t] and len(recovered) == 1
        assert len(receiver.titles()) == len(bad) + 1

        requests = [r for result in (first, second, fourth) for r in result.run_requests]
        defs = build_definitions(published_copy)
        for request in requests:
            run = defs.resolve_job_def("alerts_job").execute_in_process(
                run_config=request.run_config, instance=instance
            )
            assert run.success
    with duckdb.connect(published_copy.warehouse_path) as con:
        rows = con.execute("select kind, delivery_status, attempts from alerting.alerts").fetchall()
    assert len(rows) == len(bad) + 1
    assert all(status == "delivered" for _, status, _ in rows)
    assert sorted(attempts for _, _, attempts in rows)[-2:] == [2, 2]
    assert sum(kind == "recovered" for kind, _, _ in rows) == 1


def test_alerts_are_written_in_japanese_when_asked():
    settings = AlertSettings(
        urls=[], language="ja", templates_dir=Path(__file__).parent.parent / "alerts", months=2, retry_seconds=60
    )
    row = {
        "month": "2026-10",
        "stage": "inside_sales",
        "status": "at_risk",
        "goal": 35,
        "target_goal": 56,
        "goal_attainment": 0.625,
        "projected_goal": 57,
        "business_days": 21,
        "business_days_elapsed": 13,
        "bottleneck": "inside_sales",
    }
    (alert,) = detect(State(), [row], settings.templates(), "run-1", 0.0)
    assert alert.title == "【at_risk】2026-10 inside_sales: ゴール 35 / 目標 56（達成率 62%）"
    assert "月末見込み: 57 件（営業日 21 日中 13 日経過）" in alert.body and "run-1" in alert.body
    assert detect(State(statuses={"2026-10|inside_sales": "at_risk"}), [row], settings.templates(), "r", 0.0) == []


def test_a_failed_run_is_reported_to_on_call(tmp_path, monkeypatch):
    from pipeline.alerts.sensors import run_failure_alerts

    receiver = Receiver(fail_first=0)
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    settings = Settings(landing_dir=str(tmp_path / "empty"), warehouse_path=str(tmp_path / "w.duckdb"))
    defs = build_definitions(settings)
    leads = defs.resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([leads], instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
        ).for_run_failure()
        run_failure_alerts(context)
    (message,) = receiver.accepted
    assert message["title"] == f"[failed] Dagster run {result.run_id} of __ephemeral_asset_job__"
    assert "extracted__ma_leads" in message["message"]
