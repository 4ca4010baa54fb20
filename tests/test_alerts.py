"""Goal alerts through the sensors, as on-call staff receive them: raised once per transition and delivered once
through a sink that goes down and up, however the sensor is evaluated (a reset cursor, two deployments at once,
`dagster sensor preview`); given up after the last retry with a failed run; an upgraded warehouse's history
taken over, not sent again; recorded in alerting.alerts."""

import os
import shutil
import subprocess
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.alerts.assets import DELIVERY_CHECK, PUBLISHED
from pipeline.alerts.ledger import Ledger
from pipeline.alerts.messages import goal_fields, render
from pipeline.alerts.sensors import goal_alerts, run_failure_alerts
from pipeline.alerts.settings import AlertSettings
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.definitions import build_definitions
from pipeline.serving.paths import alert_ledger_file, published_file
from tests.alert_receiver import Receiver


@pytest.fixture
def published_copy(demo_run, tmp_path) -> Settings:
    """The demo run's warehouse folder (warehouse, published marts, alert ledger), copied, its published file without
    marts.pipeline_coverage (as one published before the mart): these tests count goal alerts, the coverage alerts
    the same sensor raises are tests/test_coverage_alerts.py's."""
    folder = tmp_path / "warehouse"
    shutil.copytree(Path(demo_run.settings.warehouse_path).parent, folder)
    with duckdb.connect(str(published_file(str(folder / "themodel.duckdb")))) as con:
        con.execute("drop table pipeline_coverage")
    return Settings(landing_dir=demo_run.settings.landing_dir, warehouse_path=str(folder / "themodel.duckdb"))


@pytest.fixture
def alert_env(monkeypatch):
    """Deliver to a local receiver, retrying at once."""

    def configure(receiver: Receiver, max_attempts: int = 10) -> None:
        monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
        monkeypatch.setenv("FUNNEL_ALERT_RETRY_SECONDS", "0")
        monkeypatch.setenv("FUNNEL_ALERT_MAX_ATTEMPTS", str(max_attempts))

    return configure


def _bad(settings: Settings) -> list[tuple[str, str]]:
    """The (month, stage) missed or at risk in the latest two published months, read straight from the file."""
    with duckdb.connect(str(published_file(settings.warehouse_path)), read_only=True) as con:
        return con.execute("""
            select strftime(period_start, '%Y-%m'), stage from funnel_kpi_monthly
            where view = 'period' and status in ('missed', 'at_risk')
              and period_start >= (select max(period_start) from funnel_kpi_monthly) - interval 1 month
            order by 1, 2""").fetchall()


def _evaluate(instance: dg.DagsterInstance, settings: Settings, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"settings": settings})
    return goal_alerts(context)


def _copy(instance: dg.DagsterInstance, settings: Settings) -> dg.ExecuteInProcessResult:
    """A run of alerts_job, as the sensor's run request starts it."""
    job = build_definitions(settings).resolve_job_def("alerts_job")
    return job.execute_in_process(instance=instance, raise_on_error=False)


def _seeded(instance: dg.DagsterInstance, settings: Settings) -> None:
    """The first evaluation raises nothing and asks for the run that lets the ledger take over the history."""
    result = _evaluate(instance, settings)
    assert len(result.run_requests) == 1 and not Ledger(alert_ledger_file(settings.warehouse_path)).seeded()
    assert _copy(instance, settings).success
    assert Ledger(alert_ledger_file(settings.warehouse_path)).seeded()


def _publish(instance: dg.DagsterInstance) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=PUBLISHED))


def _recover(settings: Settings, month: str, stage: str) -> None:
    with duckdb.connect(str(published_file(settings.warehouse_path))) as con:
        con.execute(
            "update funnel_kpi_monthly set status = 'met', goal = target_goal "
            "where view = 'period' and strftime(period_start, '%Y-%m') = ? and stage = ?",
            [month, stage],
        )


def _copied(settings: Settings) -> list[tuple]:
    with duckdb.connect(settings.warehouse_path, read_only=True) as con:
        return con.execute(
            "select alert_id, kind, delivery_status, attempts from alerting.alerts order by alert_id"
        ).fetchall()


def test_an_alert_held_while_the_sink_is_down_arrives_once_when_it_is_back_with_the_cursor_reset(
    published_copy, alert_env
):
    receiver = Receiver()
    receiver.down()
    alert_env(receiver)
    bad = _bad(published_copy)
    assert len(bad) >= 3
    expected = sorted(f"goal_miss|{month}|{stage}|1" for month, stage in bad)

    with dg.DagsterInstance.ephemeral() as instance:
        _seeded(instance, published_copy)
        _publish(instance)
        _evaluate(instance, published_copy)  # the sink is down: held
        _evaluate(instance, published_copy)  # cursor reset: nothing raised again, still down
        held = Ledger(alert_ledger_file(published_copy.warehouse_path)).alerts()
        assert sorted(a.alert_id for a in held) == expected
        assert {(a.delivery_status, a.attempts) for a in held} == {("pending", 2)}
        assert all(f"127.0.0.1:{receiver.port}" in a.last_error for a in held)

        receiver.up()
        for _ in range(3):  # every evaluation with a fresh cursor, as a new daemon would
            _evaluate(instance, published_copy)
        assert sorted(receiver.ids()) == expected
        for month, stage in bad:
            assert sum(f"{stage}, {month}:" in t for t in receiver.titles()) == 1

        month, stage = bad[0]
        _recover(published_copy, month, stage)
        _publish(instance)
        for _ in range(2):
            _evaluate(instance, published_copy)
        assert receiver.ids()[len(bad) :] == [f"recovered|{month}|{stage}|2"]

        result = _evaluate(instance, published_copy)
        assert len(result.run_requests) == 1  # the copy is behind the ledger
        assert _copy(instance, published_copy).success
    copied = _copied(published_copy)
    assert [row[0] for row in copied] == sorted([*expected, f"recovered|{month}|{stage}|2"])
    assert {row[2] for row in copied} == {"delivered"}
    assert sorted(row[3] for row in copied) == [1] + [3] * len(bad)


def test_an_evaluation_without_a_channel_leaves_the_alerts_to_one_that_has_it(published_copy, monkeypatch, capfd):
    """`dagster sensor preview` from a shell without the environment file, or a developer's `make ui` on the same
    warehouse, evaluates with no FUNNEL_ALERT_URLS: the alerts wait, unattempted, for the daemon that has it."""
    monkeypatch.delenv("FUNNEL_ALERT_URLS", raising=False)
    expected = sorted(f"goal_miss|{month}|{stage}|1" for month, stage in _bad(published_copy))
    ledger = Ledger(alert_ledger_file(published_copy.warehouse_path))
    with dg.DagsterInstance.ephemeral() as instance:
        _seeded(instance, published_copy)
        _publish(instance)
        for _ in range(2):
            _evaluate(instance, published_copy)
        assert sorted(a.alert_id for a in ledger.alerts()) == expected
        assert {(a.delivery_status, a.attempts) for a in ledger.alerts()} == {("pending", 0)}
        assert f"{len(expected)} alert(s) wait for a channel: FUNNEL_ALERT_URLS is not set" in capfd.readouterr().err

        receiver = Receiver()
        monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
        for _ in range(2):
            _evaluate(instance, published_copy)
    assert sorted(receiver.ids()) == expected
    assert {(a.delivery_status, a.attempts) for a in ledger.alerts()} == {("delivered", 1)}


def test_two_deployments_at_once_and_a_sensor_preview_send_each_alert_once(published_copy, alert_env, tmp_path):
    receiver = Receiver(delay=0.05)
    alert_env(receiver)
    expected = sorted(f"goal_miss|{month}|{stage}|1" for month, stage in _bad(published_copy))
    with dg.DagsterInstance.ephemeral() as first, dg.DagsterInstance.ephemeral() as second:
        _seeded(first, published_copy)
        for instance in (first, second):  # two Dagster instances: two cursors, two run histories, one ledger
            _publish(instance)
        threads = [threading.Thread(target=_evaluate, args=(i, published_copy)) for i in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert sorted(receiver.ids()) == expected

    # `dagster sensor preview` loads the code location in its own process and evaluates with an empty cursor
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _publish(instance)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FUNNEL_")}
    environment |= {
        "DAGSTER_HOME": str(home),
        "FUNNEL_WAREHOUSE": published_copy.warehouse_path,
        "FUNNEL_LANDING_DIR": published_copy.landing_dir,
        "FUNNEL_ALERT_URLS": receiver.url,
    }
    preview = subprocess.run(
        [str(Path(os.sys.executable).parent / "dagster"), "sensor", "preview", "-w", "workspace.yaml", "goal_alerts"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert sorted(receiver.ids()) == expected


def test_an_alert_given_up_after_the_last_retry_fails_the_run_that_records_it(published_copy, alert_env):
    receiver = Receiver(fail_first=10**6)  # refuses everything
    alert_env(receiver, max_attempts=2)
    bad = _bad(published_copy)
    with dg.DagsterInstance.ephemeral() as instance:
        _seeded(instance, published_copy)
        _publish(instance)
        for _ in range(3):
            _evaluate(instance, published_copy)
        assert receiver.requests == 2 * len(bad)
        ledger = Ledger(alert_ledger_file(published_copy.warehouse_path))
        assert {(a.delivery_status, a.attempts) for a in ledger.alerts()} == {("failed", 2)}

        failed_run = _copy(instance, published_copy)
        assert not failed_run.success
        (check,) = failed_run.get_asset_check_evaluations()
        assert check.check_name == DELIVERY_CHECK and not check.passed
        assert all(f"goal_miss|{m}|{s}|1" in check.description for m, s in bad)
        assert {row[2] for row in _copied(published_copy)} == {"failed"}

        _report_failure(instance, failed_run, published_copy)
        reported = [a for a in ledger.alerts() if a.kind == "run_failure"]
        assert [a.alert_id for a in reported] == [f"run_failure|{failed_run.run_id}|1"]
        assert "alerting/alerts" in reported[0].body

        assert _copy(instance, published_copy).success  # each given-up alert fails one run, not every run


def test_a_migrated_warehouse_does_not_send_its_delivered_alerts_again(published_copy, alert_env):
    """A 0.1.0 warehouse (alert history in marts.alerts) upgraded with no ledger: what it delivered is not sent
    again, what it still had pending is delivered once, and numbering goes on from its history."""
    receiver = Receiver()
    alert_env(receiver)
    bad = _bad(published_copy)
    alert_ledger_file(published_copy.warehouse_path).unlink()
    pending_month, pending_stage = bad[-1]
    unsent_month, unsent_stage = bad[1]  # raised while 0.1.0 had no channel: old news now, not sent
    with duckdb.connect(published_copy.warehouse_path) as con:
        con.execute("create schema funnel")  # the 0.1.0 layout: pipeline/warehouse/migrate.py moves marts.alerts
        con.execute("""
            create table marts.alerts (
                alert_id varchar primary key, kind varchar, month varchar, stage varchar, status varchar,
                previous_status varchar, title varchar, body varchar, run_id varchar, raised_at timestamptz,
                delivery_status varchar, attempts integer, delivered_at timestamptz, last_error varchar)""")
        for month, stage in bad:
            status = {(pending_month, pending_stage): "pending", (unsent_month, unsent_stage): "no_channel"}
            con.execute(
                "insert into marts.alerts values (?, 'goal_miss', ?, ?, 'missed', null, ?, 'body', 'old-run', "
                "now(), ?, 1, null, null)",
                [
                    f"{month}|{stage}|1",
                    month,
                    stage,
                    f"0.1.0 alert {stage}, {month}",
                    status.get((month, stage), "delivered"),
                ],
            )

    with dg.DagsterInstance.ephemeral() as instance:
        _publish(instance)
        assert _evaluate(instance, published_copy).run_requests  # nothing raised before the history is taken over
        assert receiver.accepted == []
        assert _copy(instance, published_copy).success
        for _ in range(2):
            _evaluate(instance, published_copy)
        assert receiver.titles() == [f"0.1.0 alert {pending_stage}, {pending_month}"]
        copied = {row[0]: row[2] for row in _copied(published_copy)}
        assert copied[f"goal_miss|{unsent_month}|{unsent_stage}|1"] == "no_channel"  # loaded, kept as it was

        month, stage = bad[0]
        _recover(published_copy, month, stage)
        _publish(instance)
        _evaluate(instance, published_copy)
        assert len(receiver.accepted) == 2  # the pending one (written by 0.1.0, without an id) and this one
        assert receiver.ids()[-1] == f"recovered|{month}|{stage}|2"


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
    templates = settings.templates()
    title, body = render(
        templates, "goal_miss", "goal_miss|2026-10|inside_sales|1", goal_fields(templates, row, None, "run-1")
    )
    assert title == "【at_risk】2026-10 inside_sales: ゴール 35 / 目標 56（達成率 62%）"
    assert "月末見込み: 57 件（営業日 21 日中 13 日経過）" in body and "run-1" in body
    assert "アラート ID: goal_miss|2026-10|inside_sales|1" in body


def test_a_failed_run_is_reported_to_on_call(tmp_path, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    settings = Settings(landing_dir=str(tmp_path / "empty"), warehouse_path=str(tmp_path / "w.duckdb"))
    defs = build_definitions(settings)
    leads = defs.resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([leads], instance=instance, raise_on_error=False)
        assert not result.success
        for _ in range(2):  # reported twice (a sensor preview, a second daemon): sent once
            _report_failure(instance, result, settings)
    (message,) = receiver.accepted
    assert message["title"] == f"[failed] Dagster run {result.run_id} of __ephemeral_asset_job__"
    assert "extracted__ma_leads" in message["message"] and "no extract found" in message["message"]
    assert receiver.ids() == [f"run_failure|{result.run_id}|1"]


def test_a_failed_run_with_a_mistyped_warehouse_folder_is_skipped_and_the_folder_not_created(tmp_path, monkeypatch):
    receiver = Receiver()
    monkeypatch.setenv("FUNNEL_ALERT_URLS", receiver.url)
    folder = tmp_path / "wharehouse"
    settings = Settings(landing_dir=str(tmp_path / "empty"), warehouse_path=str(folder / "themodel.duckdb"))
    leads = build_definitions(settings).resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([leads], instance=instance, raise_on_error=False)
        assert not result.success
        skipped = _report_failure(instance, result, settings)
    assert isinstance(skipped, dg.SkipReason)
    assert f"run {result.run_id}" in skipped.skip_message and f"the warehouse folder {folder} does not exist" in (
        skipped.skip_message
    )
    assert not folder.exists() and receiver.accepted == []


def _report_failure(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, settings: Settings):
    """run_failure_alerts evaluated as the daemon would for the failed run of `result`."""
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"settings": settings},
    ).for_run_failure()
    return run_failure_alerts(context)
