"""The Dagster daemon as production runs it: extracts dropped into the landing folder start exactly one run of
`refresh`, the goals it misses reach a webhook, and neither a touch, a rename, a crash of the daemon nor a reset
of the sensor's cursor starts the same content again.

The daemon is the real `dagster-daemon run` with a temporary DAGSTER_HOME holding the project's dagster.yaml; it
loads pipeline.definitions from this checkout and runs the way `make serve` runs it, with short sensor intervals.
Every wait is bounded; a missed deadline fails with the end of the daemon's log.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT
from pipeline.ingest.freshness import declared_entities

SENSOR = "landing_extracts"
ALERT_MONTHS = 2
STARTUP_SECONDS = 90
RUN_SECONDS = 240


class Webhook:
    """On-call staff's webhook on 127.0.0.1: every JSON message it was sent."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        messages = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                messages.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"


class Daemon:
    """`dagster-daemon run` in its own process group, its output in a log file."""

    def __init__(self, workspace: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.command = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)]
        self.env = env
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop the daemon and whatever it started (code servers, run workers)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def count(self, needle: str) -> int:
        return self.text().count(needle)

    def wait_for(self, what: str, condition: Callable[[], bool], seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"the daemon exited ({self.process.returncode}) before {what}\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {seconds:.0f} s\n{self.tail()}")
            time.sleep(0.5)

    def evaluations(self, reason: str) -> int:
        return self.count(f"Sensor {SENSOR} skipped: {reason}")

    def wait_for_evaluations(self, reason: str, more: int, seconds: float = 60) -> None:
        """`more` further evaluations of the landing sensor that skipped with `reason`."""
        target = self.evaluations(reason) + more
        self.wait_for(
            f"{more} evaluation(s) skipping with '{reason}'", lambda: self.evaluations(reason) >= target, seconds
        )

    def tail(self, lines: int = 150) -> str:
        return "--- end of the daemon's log ---\n" + "\n".join(self.text().splitlines()[-lines:])


def _liveness(daemon: Daemon, tolerance: int) -> tuple[int, str]:
    """`dagster-daemon liveness-check`: are the daemon's heartbeats younger than `tolerance` seconds?"""
    check = subprocess.run(
        [str(Path(sys.executable).parent / "dagster-daemon"), "liveness-check"],
        env=daemon.env | {"DAGSTER_DAEMON_HEARTBEAT_TOLERANCE": str(tolerance)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return check.returncode, check.stdout.strip()


def _targets_missed_everywhere(path: Path) -> None:
    """The project's targets with twenty times the revenue: every stage of the latest months misses its goal."""
    targets = yaml.safe_load((PROJECT_ROOT / "targets.yml").read_text(encoding="utf-8"))
    for month in targets["months"]:
        month["revenue"] *= 20
    path.write_text(yaml.safe_dump(targets), encoding="utf-8")


def _bad_statuses(published: Path) -> set[tuple[str, str, str]]:
    """(status, stage, month) of every stage missed or at risk in the latest months of the published marts."""
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute(
            """select status, stage, strftime(period_start, '%Y-%m') from funnel_kpi_monthly
               where view = 'period' and status in ('missed', 'at_risk') and period_start in (
                   select distinct period_start from funnel_kpi_monthly order by period_start desc limit ?)""",
            [ALERT_MONTHS],
        ).fetchall()
    return set(rows)


def _months_below_coverage(published: Path) -> set[str]:
    """The months of the published coverage mart whose open pipeline is below the minimum."""
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute(
            "select strftime(month, '%Y-%m') from pipeline_coverage where status = 'below_minimum'"
        ).fetchall()
    return {month for (month,) in rows}


@pytest.fixture
def deployment(tmp_path):
    home, landing, warehouse = tmp_path / "dagster_home", tmp_path / "landing", tmp_path / "warehouse"
    for folder in (home, landing, warehouse):
        folder.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    location = {
        "module_name": "pipeline.definitions",
        "location_name": "themodel",
        "working_directory": str(PROJECT_ROOT),
    }
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    _targets_missed_everywhere(tmp_path / "targets.yml")
    webhook = Webhook()
    env = {name: value for name, value in os.environ.items() if not name.startswith(("FUNNEL_", "DAGSTER_"))}
    env |= {
        "DAGSTER_HOME": str(home),
        "FUNNEL_LANDING_DIR": str(landing),
        "FUNNEL_WAREHOUSE": str(warehouse / "themodel.duckdb"),
        "FUNNEL_TARGETS": str(tmp_path / "targets.yml"),
        "FUNNEL_HYPOTHESES": str(tmp_path / "no_hypotheses.yml"),  # without the file, none
        "FUNNEL_ALERT_URLS": webhook.url,
        "FUNNEL_ALERT_MONTHS": str(ALERT_MONTHS),
        "FUNNEL_SENSOR_INTERVAL_SECONDS": "1",
        "FUNNEL_LANDING_SETTLE_SECONDS": "2",
        "FUNNEL_SCHEDULE_CRON": "0 0 1 1 *",  # not during the test
    }
    daemon = Daemon(workspace, env, tmp_path / "daemon.log")
    try:
        yield daemon, home, landing, warehouse, webhook
    finally:
        daemon.kill(signal.SIGTERM)
        webhook.server.shutdown()


def test_dropped_extracts_start_one_run_and_its_missed_goals_reach_the_webhook(deployment):
    daemon, home, landing, warehouse, webhook = deployment
    daemon.start()
    daemon.wait_for_evaluations("no extract in the landing folder", 2, STARTUP_SECONDS)
    assert _liveness(daemon, tolerance=120) == (0, "Daemon live")  # what monitoring asks (docs/operations.md)
    with dg.DagsterInstance.from_config(str(home)) as instance:

        def refresh_runs() -> list[dg.DagsterRun]:
            return instance.get_runs(filters=dg.RunsFilter(job_name="refresh"))

        assert refresh_runs() == []

        demo.generate(1000, 8, 3, landing)  # the extract set lands
        daemon.wait_for("a run of refresh", lambda: refresh_runs() != [], 60)
        finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
        daemon.wait_for("the end of the run", lambda: refresh_runs()[0].status in finished, RUN_SECONDS)
        (run,) = refresh_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS, daemon.tail()
        assert run.tags["dagster/sensor_name"] == SENSOR

        bad = _bad_statuses(warehouse / "marts.duckdb")
        thin = _months_below_coverage(warehouse / "marts.duckdb")
        assert {status for status, _, _ in bad} <= {"missed", "at_risk"} and len(bad) >= 4
        daemon.wait_for(
            f"{len(bad)} goal alerts at the webhook", lambda: len(_of_kind(webhook, "goal_miss")) >= len(bad), 60
        )

        # touched and renamed, same content: the sensor hashes it again and starts nothing
        folder = landing / "ma" / "leads"
        for path in folder.glob("*.csv"):
            path.rename(folder / f"2026-11-{path.name}")
        for path in landing.rglob("*.csv"):
            os.utime(path)
        daemon.wait_for_evaluations("files were touched or renamed", 1)

        # a crash of the daemon, and an operator resetting the sensor's cursor: the run key is remembered
        daemon.kill()
        reset = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "sensor", "cursor", SENSOR, "--delete"]
            + ["-w", daemon.command[-1]],
            env=daemon.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert reset.returncode == 0, reset.stdout + reset.stderr
        # the last heartbeat ages past the tolerance within seconds of the kill: what monitoring sees then
        deadline = time.monotonic() + 30
        while (liveness := _liveness(daemon, tolerance=1)) != (1, "Daemon(s) not running"):
            assert time.monotonic() < deadline, liveness
            time.sleep(1)
        already_ran = f"Skipping 1 run for sensor {SENSOR} already completed with run keys"
        assert daemon.count(already_ran) == 0
        daemon.start()
        daemon.wait_for(
            "the same content's run key to be dropped", lambda: daemon.count(already_ran) == 1, STARTUP_SECONDS
        )
        daemon.wait_for_evaluations("no extract changed since the last run was requested", 2)

        assert [r.run_id for r in refresh_runs()] == [run.run_id]
    goal, stale = _of_kind(webhook, "goal_miss"), _of_kind(webhook, "data_stale")
    # before the drop every declared required entity had no extract: one stale alert each, which the drop ended
    # silently; an optional one (spend, the team) missing is no alert
    assert sorted(m["message"].split("Alert data_stale|")[1].split("|")[0] for m in stale) == sorted(
        e.table for e in declared_entities() if not e.optional
    )
    # the kill of the daemon may kill a run it launched (alerts_job copying the ledger): the restarted daemon's
    # recover_dead_runs marks it failed, and on-call hears of it once
    failures = _of_kind(webhook, "run_failure")
    assert all("Crash recovery: run" in m["message"] and "(alerts_job)" in m["message"] for m in failures), failures
    assert len({m["message"] for m in failures}) == len(failures)
    # every month whose pipeline is below the coverage minimum: one coverage alert each
    coverage = _of_kind(webhook, "coverage_low")
    assert sorted(m["message"].split("Alert coverage_low|")[1].split("|")[0] for m in coverage) == sorted(thin)
    assert len(goal) + len(stale) + len(coverage) + len(failures) == len(webhook.messages), [
        m["title"] for m in webhook.messages
    ]
    titles = [message["title"] for message in goal]
    assert len(titles) == len(bad), titles
    for status, stage, month in bad:
        assert sum(t.startswith(f"[{status}] {stage}, {month}:") for t in titles) == 1, (status, stage, month, titles)
    assert all(run.run_id in message["message"] for message in goal)


def _of_kind(webhook: "Webhook", kind: str) -> list[dict]:
    """The messages the webhook received of one alert kind (each message ends with its alert id)."""
    return [m for m in webhook.messages if f"Alert {kind}|" in m["message"]]
