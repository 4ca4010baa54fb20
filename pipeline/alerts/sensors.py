"""The alert sensors: goal-miss alerts after each publication of the marts, and failed runs.

After each publication, `goal_alerts` compares every (month, stage) status of the latest FUNNEL_ALERT_MONTHS
months with the one it saw before (kept in its cursor) and raises one alert when a stage turns `missed` or
`at_risk`, and one `recovered` alert when it turns back. A failed delivery is retried on later evaluations;
the cursor remembers what was delivered, so an alert is never lost and never sent twice. What changed is
recorded in alerting.alerts by a run of `alerts_job`. `run_failure_alerts` reports failed runs.
"""

import hashlib
import json
import time
from dataclasses import asdict

import dagster as dg

from pipeline.alerts.assets import PUBLISHED, alerts_job
from pipeline.alerts.delivery import deliver
from pipeline.alerts.detection import Alert, State, detect
from pipeline.alerts.settings import AlertSettings
from pipeline.alerts.statuses import read_statuses
from pipeline.config.settings import Settings, read_environment
from pipeline.serving.paths import published_file


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


@dg.sensor(
    job=alerts_job,
    minimum_interval_seconds=read_environment().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
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


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    minimum_interval_seconds=read_environment().sensor_interval_seconds,
)
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


alert_sensors = [goal_alerts, run_failure_alerts]
