"""Goal-miss alerts to on-call staff: a sensor that raises each alert once and delivers it with Apprise.

After each publication of the marts, `goal_alerts` compares every (month, stage) status of the latest
FUNNEL_ALERT_MONTHS months with the one it saw before (kept in its cursor) and raises one alert when a
stage turns `missed` or `at_risk`, and one `recovered` alert when it turns back. It reads the published
copy (marts.duckdb), never the warehouse file. Alerts go to the Apprise URLs in FUNNEL_ALERT_URLS
(Slack, Teams, e-mail, PagerDuty, JSON webhooks...; secrets stay in the environment). A failed delivery
is retried on later evaluations with exponential back-off; the cursor remembers what was delivered, so
an alert is never lost and never sent twice. Every alert and its delivery status is recorded in
alerting.alerts by a run of `alerts_job`. `run_failure_alerts` reports failed runs.
"""

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import apprise
import dagster as dg
import duckdb
import yaml

from pipeline.config.settings import WAREHOUSE_POOL, Settings, read_environment
from pipeline.serving.paths import published_file
from pipeline.warehouse.layers import ALERTING
from pipeline.warehouse.resource import Warehouse

PUBLISHED = dg.AssetKey(["serving", "published_marts"])
ALERTS = dg.AssetKey([ALERTING, "alerts"])
BAD = {"missed", "at_risk"}
GOOD = {"met", "on_track"}


@dataclass(frozen=True)
class AlertSettings:
    urls: list[str]
    language: str
    templates_dir: Path
    months: int
    retry_seconds: float

    @classmethod
    def from_env(cls) -> "AlertSettings":
        """The FUNNEL_ALERT_* variables, validated with the rest of the environment (pipeline/config/settings.py)."""
        env = read_environment()
        return cls(
            urls=list(env.alert_urls),
            language=env.alert_language,
            templates_dir=Path(env.alert_templates),
            months=env.alert_months,
            retry_seconds=env.alert_retry_seconds,
        )

    def templates(self) -> dict:
        path = self.templates_dir / f"{self.language}.yml"
        return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass
class Alert:
    alert_id: str
    kind: str  # goal_miss, recovered or run_failure
    month: str | None
    stage: str | None
    status: str | None
    previous_status: str | None
    title: str
    body: str
    run_id: str
    raised_at: float
    delivery_status: str = "pending"  # pending, delivered, no_channel
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None


@dataclass
class State:
    """What the sensor keeps in its cursor between evaluations."""

    last_storage_id: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # "YYYY-MM|stage" -> status
    transitions: dict[str, int] = field(default_factory=dict)  # "YYYY-MM|stage" -> alerts raised so far
    pending: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, cursor: str | None) -> "State":
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def read_statuses(published: Path, months: int) -> list[dict]:
    """Period-view rows of the latest `months` months, with the month's bottleneck stage."""
    with duckdb.connect(str(published), read_only=True) as con:
        return (
            con.execute(
                """
            with latest as (
                select distinct period_start from main.funnel_kpi_monthly
                where view = 'period' order by period_start desc limit ?
            )
            select strftime(k.period_start, '%Y-%m') as month, k.stage, k.status, k.goal, k.target_goal,
                   k.goal_attainment, k.projected_goal, k.business_days, k.business_days_elapsed,
                   (select string_agg(b.stage, ', ') from main.funnel_bottleneck as b
                    where b.period_start = k.period_start and b.is_bottleneck) as bottleneck
            from main.funnel_kpi_monthly as k inner join latest using (period_start)
            where k.view = 'period'
            order by k.period_start, k.stage_order
            """,
                [months],
            )
            .df()
            .to_dict("records")
        )


def _render(templates: dict, kind: str, row: dict, previous: str | None, run_id: str) -> tuple[str, str]:
    fields = {
        "month": row["month"],
        "stage": row["stage"],
        "status": row["status"],
        "previous_status": previous or "-",
        "goal": row["goal"],
        "target_goal": row["target_goal"],
        "run_id": run_id,
        "attainment": f"{row['goal_attainment']:.0%}" if row["goal_attainment"] == row["goal_attainment"] else "-",
        "status_text": templates["status_text"].get(row["status"], row["status"]),
        "bottleneck": row["bottleneck"] or "-",
    }
    projected = row.get("projected_goal")
    fields["projection"] = (
        templates["projection"].format(
            projected_goal=int(projected),
            business_days=int(row["business_days"]),
            business_days_elapsed=int(row["business_days_elapsed"]),
        )
        if projected == projected and projected is not None
        else ""
    )
    return templates[kind]["title"].format(**fields), templates[kind]["body"].format(**fields)


def detect(state: State, rows: list[dict], templates: dict, run_id: str, now: float) -> list[Alert]:
    """New alerts for (month, stage) rows whose status turned bad, or turned good after being bad."""
    alerts = []
    for row in rows:
        key = f"{row['month']}|{row['stage']}"
        previous, current = state.statuses.get(key), row["status"]
        state.statuses[key] = current
        if current in BAD and previous not in BAD:
            kind = "goal_miss"
        elif current in GOOD and previous in BAD:
            kind = "recovered"
        else:
            continue
        state.transitions[key] = state.transitions.get(key, 0) + 1
        title, body = _render(templates, kind, row, previous, run_id)
        alerts.append(
            Alert(
                f"{key}|{state.transitions[key]}",
                kind,
                row["month"],
                row["stage"],
                current,
                previous,
                title,
                body,
                run_id,
                now,
            )
        )
    return alerts


def deliver(alert: Alert, urls: list[str], retry_seconds: float, now: float) -> Alert:
    """Send one alert to every channel; on failure schedule the next attempt with exponential back-off."""
    if not urls:
        alert.delivery_status = "no_channel"
        return alert
    channels = apprise.Apprise()
    for url in urls:
        channels.add(url)
    alert.attempts += 1
    if channels.notify(title=alert.title, body=alert.body):
        alert.delivery_status, alert.delivered_at, alert.last_error = "delivered", now, None
    else:
        alert.last_error = "a channel did not accept the notification"
        alert.next_attempt_at = now + retry_seconds * 2 ** (alert.attempts - 1)
    return alert


def evaluate(
    state: State, settings: Settings, alert_settings: AlertSettings, instance: dg.DagsterInstance, now: float
) -> list[Alert]:
    """One evaluation: detect alerts after a new publication, deliver what is due; return changed alerts."""
    changed: list[Alert] = []
    latest = instance.fetch_materializations(PUBLISHED, limit=1).records
    if latest and latest[0].storage_id > state.last_storage_id:
        record = latest[0]
        published = published_file(settings.warehouse_path)
        rows = read_statuses(published, alert_settings.months)
        new = detect(state, rows, alert_settings.templates(), record.run_id, now)
        state.pending += [asdict(a) for a in new]
        state.last_storage_id = record.storage_id
        changed += new
    still_pending = []
    for record in state.pending:
        alert = Alert(**record)
        if alert.next_attempt_at <= now:
            alert = deliver(alert, alert_settings.urls, alert_settings.retry_seconds, now)
            changed = [c for c in changed if c.alert_id != alert.alert_id] + [alert]
        if alert.delivery_status == "pending":
            still_pending.append(asdict(alert))
    state.pending = still_pending
    return changed


class AlertRecords(dg.Config):
    """Alerts to record in alerting.alerts (JSON of Alert records), as the sensor passes them."""

    alerts_json: str = "[]"


@dg.asset(key=ALERTS, group_name="alerts", pool=WAREHOUSE_POOL, kinds={"duckdb"})
def alerts(context: dg.AssetExecutionContext, config: AlertRecords, warehouse: Warehouse) -> dg.MaterializeResult:
    """History of every goal-miss alert with its delivery status (latest state per alert)."""
    records = json.loads(config.alerts_json)
    with warehouse.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS alerting")
        con.execute("""
            CREATE TABLE IF NOT EXISTS alerting.alerts (
                alert_id VARCHAR PRIMARY KEY, kind VARCHAR, month VARCHAR, stage VARCHAR, status VARCHAR,
                previous_status VARCHAR, title VARCHAR, body VARCHAR, run_id VARCHAR, raised_at TIMESTAMPTZ,
                delivery_status VARCHAR, attempts INTEGER, delivered_at TIMESTAMPTZ, last_error VARCHAR)""")
        for r in records:
            con.execute(
                "INSERT OR REPLACE INTO alerting.alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?), ?, ?, "
                "to_timestamp(?), ?)",
                [
                    r["alert_id"],
                    r["kind"],
                    r["month"],
                    r["stage"],
                    r["status"],
                    r["previous_status"],
                    r["title"],
                    r["body"],
                    r["run_id"],
                    r["raised_at"],
                    r["delivery_status"],
                    r["attempts"],
                    r["delivered_at"],
                    r["last_error"],
                ],
            )
        total = con.execute("select count(*) from alerting.alerts").fetchall()[0][0]
    for r in records:
        context.log.info(f"{r['delivery_status']}: {r['title']}")
    return dg.MaterializeResult(
        metadata={
            "recorded": len(records),
            "dagster/row_count": total,
            "alerts": dg.MetadataValue.md(
                "\n".join(f"- {r['delivery_status']}: {r['title']}" for r in records) or "none"
            ),
        }
    )


alerts_job = dg.define_asset_job("alerts_job", selection=[ALERTS], description="Record alerts in alerting.alerts.")


@dg.sensor(job=alerts_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def goal_alerts(context: dg.SensorEvaluationContext, settings: Settings):
    """Raises goal-miss and recovered alerts after each publication of the marts and delivers them."""
    state = State.load(context.cursor)
    changed = evaluate(state, settings, AlertSettings.from_env(), context.instance, time.time())
    run_requests = []
    if changed:
        payload = json.dumps([asdict(a) for a in changed], sort_keys=True)
        run_requests.append(
            dg.RunRequest(
                run_key=f"alerts-{hashlib.sha256(payload.encode()).hexdigest()[:16]}",
                run_config={"ops": {"alerting__alerts": {"config": {"alerts_json": payload}}}},
            )
        )
        for alert in changed:
            context.log.info(f"{alert.delivery_status}: {alert.title}")
    return dg.SensorResult(run_requests=run_requests, cursor=state.dump())


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False)
def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
    """Tells on-call staff when a materialization fails."""
    alert_settings = AlertSettings.from_env()
    run = context.dagster_run
    template = alert_settings.templates()["run_failure"]
    fields = {"run_id": run.run_id, "job_name": run.job_name, "error": context.failure_event.message}
    alert = Alert(
        f"run|{run.run_id}",
        "run_failure",
        None,
        None,
        None,
        None,
        template["title"].format(**fields),
        template["body"].format(**fields),
        run.run_id,
        time.time(),
    )
    deliver(alert, alert_settings.urls, alert_settings.retry_seconds, time.time())
    context.log.info(f"{alert.delivery_status}: {alert.title}")


alert_assets = [alerts]
alert_sensors = [goal_alerts, run_failure_alerts]
