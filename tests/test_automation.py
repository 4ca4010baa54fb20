"""The landing sensor and the daily schedule, evaluated as the daemon would, on files an operator drops and edits."""

import hashlib
import os
import re
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from demo import generator as demo
from pipeline.automation.landing import FINGERPRINT_TAG, landing_sensor
from pipeline.config.files import ConfigError
from pipeline.config.settings import PROJECT_ROOT, Settings, read_environment
from pipeline.definitions import build_definitions
from pipeline.ingest.contract import ENTITIES

HOUR = 3600


class Sensor:
    """The landing sensor over one landing folder, its cursor carried from one evaluation to the next."""

    def __init__(self, settings: Settings, settle_seconds: float = 0):
        self.settings, self.definition, self.cursor = settings, landing_sensor(30, settle_seconds), None

    def evaluate(self) -> dg.SensorResult:
        context = dg.build_sensor_context(cursor=self.cursor, resources={"settings": self.settings})
        result = self.definition(context)
        self.cursor = result.cursor
        return result

    def run_keys(self, evaluations: int = 1) -> list[str]:
        return [r.run_key for _ in range(evaluations) for r in self.evaluate().run_requests]


def _age(folder: Path, seconds: float) -> None:
    """Every file's modification time `seconds` in the past, as if written then."""
    then = time.time() - seconds
    for path in folder.rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


def _expected_key(landing: Path) -> str:
    """The run key from the files' bytes, by the input contract's folder layout rather than the sources file."""
    lines = sorted(
        f"landing/{e.table}\t{hashlib.sha256(p.read_bytes()).hexdigest()}"
        for e in ENTITIES
        for p in (landing / e.system / e.name).glob("*.csv")
    )
    return "landing-" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.fixture
def landing(tmp_path) -> Path:
    folder = tmp_path / "landing"
    demo.generate(300, 4, 5, folder)
    _age(folder, HOUR)
    return folder


@pytest.fixture
def sensor(landing, tmp_path) -> Sensor:
    return Sensor(Settings(landing_dir=str(landing), warehouse_path=str(tmp_path / "w.duckdb")))


def test_no_run_without_extracts(tmp_path):
    missing = Sensor(Settings(landing_dir=str(tmp_path / "nothing"), warehouse_path=str(tmp_path / "w.duckdb")))
    (tmp_path / "empty" / "ma").mkdir(parents=True)
    (tmp_path / "empty" / "ma" / "notes.txt").write_text("not an extract")
    empty = Sensor(Settings(landing_dir=str(tmp_path / "empty"), warehouse_path=str(tmp_path / "w.duckdb")))
    for sensor in (missing, empty):
        results = [sensor.evaluate() for _ in range(3)]
        assert all(r.run_requests == [] for r in results)
        assert results[-1].skip_reason.skip_message == "no extract in the landing folder"


def test_one_run_per_content_once_it_has_settled(sensor, landing):
    first = sensor.evaluate()  # the files are new to the sensor: they may still be being written
    assert first.run_requests == [] and "waiting for them to settle" in first.skip_reason.skip_message
    (request,) = sensor.evaluate().run_requests
    assert request.run_key == _expected_key(landing)
    assert request.tags[FINGERPRINT_TAG] == request.run_key.removeprefix("landing-")
    assert sensor.run_keys(evaluations=3) == []


def test_a_file_still_being_written_waits(sensor, landing):
    leads = next((landing / "ma" / "leads").glob("*.csv"))
    sensor.evaluate()
    for _ in range(3):  # a copy in progress: the file grows between evaluations
        with leads.open("a") as f:
            f.write("0000009999,late@example.com,Late KK,2026-10-01T00:00:00Z,web_form,CMP-1\n")
        os.utime(leads, (time.time() - HOUR, time.time() - HOUR))
        assert sensor.evaluate().run_requests == []
    assert sensor.run_keys() == [_expected_key(landing)]


def test_the_settle_time_is_counted_from_the_newest_file(landing, tmp_path):
    sensor = Sensor(Settings(landing_dir=str(landing), warehouse_path=str(tmp_path / "w.duckdb")), settle_seconds=600)
    _age(landing, 60)  # written a minute ago, and unchanged since
    results = [sensor.evaluate() for _ in range(3)]
    assert all(r.run_requests == [] for r in results)
    assert "waiting until 600 s" in results[-1].skip_reason.skip_message
    _age(landing, 601)
    assert sensor.run_keys(evaluations=2) == [_expected_key(landing)]


def test_touching_or_renaming_starts_nothing_but_new_content_does(sensor, landing):
    (first,) = sensor.run_keys(evaluations=2)
    _age(landing, HOUR / 2)  # touched
    folder = landing / "sfa" / "opportunities"
    for path in folder.glob("*.csv"):
        path.rename(folder / f"renamed-{path.name}")
    results = [sensor.evaluate() for _ in range(3)]
    assert all(r.run_requests == [] for r in results)
    assert "touched or renamed" in results[1].skip_reason.skip_message

    (landing / "notes.csv").write_text("a file of no entity\n")  # not read by the ingest, so not watched
    assert sensor.run_keys(evaluations=2) == []

    contracts = next((landing / "crm" / "contracts").glob("*.csv"))
    contracts.write_text(contracts.read_text().replace("\n", "\r\n"))  # same rows, other bytes
    _age(landing, HOUR)
    (second,) = sensor.run_keys(evaluations=2)
    assert second == _expected_key(landing) != first

    customers = next((landing / "crm" / "customers").glob("*.csv"))
    shutil.move(customers, landing / "crm" / "contracts" / "customers.csv")  # now read as contracts
    (third,) = sensor.run_keys(evaluations=2)
    assert third not in (first, second)

    customers_back = landing / "crm" / "customers" / customers.name
    shutil.move(landing / "crm" / "contracts" / "customers.csv", customers_back)
    assert sensor.run_keys(evaluations=2) == [second]  # content that ran before: the daemon drops this run key


def test_the_sources_file_decides_what_is_watched(tmp_path):
    landing = tmp_path / "landing"
    (landing / "excel").mkdir(parents=True)
    (landing / "ma").mkdir()
    sources = tmp_path / "sources.yml"
    sources.write_text(f"landing_layout: false\nsources: [{PROJECT_ROOT / 'docs/examples/excel_ja.yml'}]\n")
    settings = Settings(
        landing_dir=str(landing), warehouse_path=str(tmp_path / "w.duckdb"), sources_config=str(sources)
    )
    sensor = Sensor(settings)
    (landing / "ma" / "leads.csv").write_text("lead_id\n1\n")  # the canonical layout, which this company does not use
    _age(landing, HOUR)
    assert sensor.run_keys(evaluations=3) == []
    (landing / "excel" / "MAリード_2026-11.csv").write_bytes("リードID\n1\n".encode("cp932"))
    _age(landing, HOUR)
    (key,) = sensor.run_keys(evaluations=2)
    export = hashlib.sha256("リードID\n1\n".encode("cp932")).hexdigest()
    assert key == "landing-" + hashlib.sha256(f"excel_ja/ma_leads\t{export}".encode()).hexdigest()


def test_a_broken_sources_file_fails_the_tick_with_its_name(tmp_path):
    sources = tmp_path / "sources.yml"
    sources.write_text("landing_layuot: false\n")
    sensor = Sensor(
        Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w"), sources_config=str(sources))
    )
    with pytest.raises(ConfigError, match=r"sources.yml, line 1: landing_layuot: unknown key"):
        sensor.evaluate()


def _tick(schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 30, tzinfo=UTC))
    return schedule.evaluate_tick(context)


def test_the_schedule_runs_daily_in_the_reporting_time_zone_unless_a_run_is_unfinished(tmp_path, monkeypatch):
    monkeypatch.setenv("FUNNEL_SCHEDULE_CRON", "30 6 * * 1-5")
    settings = Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w.duckdb"), reporting_tz="UTC")
    schedule = build_definitions(settings).resolve_schedule_def("daily_refresh")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "30 6 * * 1-5",
        "UTC",
        "refresh",
    )
    assert (
        build_definitions(Settings(landing_dir="x", warehouse_path="y"))
        .resolve_schedule_def("daily_refresh")
        .execution_timezone
        == read_environment().reporting_tz
    )

    with dg.instance_for_test() as instance:
        assert len(_tick(schedule, instance).run_requests) == 1
        for status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            instance.add_run(dg.DagsterRun(job_name="refresh", run_id=str(uuid.uuid4()), status=status))
        instance.add_run(
            dg.DagsterRun(job_name="alerts_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
        )
        assert len(_tick(schedule, instance).run_requests) == 1  # finished runs, and other jobs, do not hold it back
        for status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
            run_id = str(uuid.uuid4())
            instance.add_run(dg.DagsterRun(job_name="refresh", run_id=run_id, status=status))
            data = _tick(schedule, instance)
            assert data.run_requests == [] and f"run {run_id} of refresh is {status.value}" in data.skip_message
            instance.report_run_canceled(instance.get_run_by_id(run_id))
        assert len(_tick(schedule, instance).run_requests) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FUNNEL_SCHEDULE_CRON", "0 25 * * *"),
        ("FUNNEL_SCHEDULE_CRON", "daily at 7"),
        ("FUNNEL_SCHEDULE_CRON", "0 7 * *"),
        ("FUNNEL_SENSOR_INTERVAL_SECONDS", "0"),
        ("FUNNEL_LANDING_SETTLE_SECONDS", "-1"),
        ("FUNNEL_SERVE_PORT", "70000"),
        ("FUNNEL_SERVE_HOST", "http://127.0.0.1"),
    ],
)
def test_a_mistyped_automation_setting_is_an_error_naming_it(variable, value, monkeypatch):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"environment: {variable}: .*got '{re.escape(value)}'"):
        Settings.from_env()
