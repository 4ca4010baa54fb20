"""The alert sensors: goal alerts after each publication of the marts, stale extracts, and failed runs.

Everything they raise and deliver is in the alert ledger (pipeline/alerts/ledger.py), not in their cursors, so a
fresh cursor, `dagster sensor preview`, a restarted daemon or a second deployment never sends an alert twice.

- `goal_alerts`, after each publication of the marts (the KPI marts as readers see them), compares every
  (month, stage) status of the latest FUNNEL_ALERT_MONTHS months with the one the ledger saw last: a stage
  turning missed or at risk raises one alert, turning back one `recovered` alert. It then delivers every alert
  that is due, of any kind, and requests a run of `alerts_job` when the warehouse copy (alerting.alerts) is
  behind the ledger. From the same publication it compares each month of marts.pipeline_coverage: a month turning
  below_minimum raises one `coverage_low` alert, turning covered or target_met again one `coverage_recovered`.
  Its cursor only remembers the last publication read, to skip reading it again.
- `stale_data` evaluates the freshness of the extracts (pipeline/ingest/freshness.py) between runs: an extract
  turning stale raises one `data_stale` alert, and the freshness check's new result is reported in the UI.
- `run_failure_alerts` raises one alert per failed run and delivers it.

Until the ledger has taken over the alert history a warehouse may hold (its first `alerts_job` run; at once
when there is no warehouse file yet), no goal or stale alert is raised, so an upgrade sends nothing again.
When the warehouse folder does not exist (a mistyped FUNNEL_WAREHOUSE), every sensor skips and names it: the
ledger is kept there and never creates it. Without FUNNEL_ALERT_URLS nothing is sent and the evaluation says how
many alerts wait for a channel.
"""

import json
import time
from pathlib import Path

import dagster as dg

from pipeline.alerts.assets import PUBLISHED, alerts_job
from pipeline.alerts.delivery import deliver_due
from pipeline.alerts.detection import raise_coverage_alerts, raise_goal_alerts, raise_run_failure
from pipeline.alerts.ledger import Ledger, MissingFolder
from pipeline.alerts.settings import AlertSettings
from pipeline.alerts.statuses import read_coverage, read_statuses
from pipeline.config.files import ConfigError
from pipeline.config.settings import Settings, read_environment
from pipeline.ingest.freshness import evaluation, measure, record
from pipeline.runs.statuses import WAITING_TO_START
from pipeline.serving.paths import alert_ledger_file, published_file

#: After a run of alerts_job failed before it copied the ledger, how long before another is requested, so a
#: broken warehouse is not met with a failing run every 30 seconds.
COPY_RETRY_SECONDS = 300.0
WAITING = (
    "the alert ledger has not yet taken over the alert history of the warehouse: a run of alerts_job does that, "
    "and until then no alert is raised"
)


def ledger_ready(ledger: Ledger, settings: Settings, now: float) -> bool:
    """Whether alerts may be raised: the ledger took over the warehouse's alert history, or there is no warehouse
    file, hence no history."""
    if ledger.seeded():
        return True
    if not Path(settings.warehouse_path).exists():
        ledger.mark_seeded(now)
        return True
    return False


def copy_requests(instance: dg.DagsterInstance, ledger: Ledger, settings: Settings, now: float) -> list:
    """A run of alerts_job when the warehouse copy is behind the ledger and no such run is waiting to start."""
    if not Path(settings.warehouse_path).exists() or not ledger.behind():
        return []
    waiting = dg.RunsFilter(
        job_name=alerts_job.name,
        statuses=list(WAITING_TO_START),
    )
    if instance.get_runs(filters=waiting, limit=1):
        return []
    last = instance.get_run_records(filters=dg.RunsFilter(job_name=alerts_job.name), limit=1)
    failed = last and last[0].dagster_run.status == dg.DagsterRunStatus.FAILURE
    if failed and last[0].end_time and now - last[0].end_time < COPY_RETRY_SECONDS:
        return []
    return [dg.RunRequest()]


#: What a sensor function is given: its log is all these helpers use.
Context = dg.SensorEvaluationContext | dg.RunStatusSensorContext


def _skipped(context: Context, reason: str) -> dg.SkipReason:
    context.log.warning(reason)
    return dg.SkipReason(reason)


def _deliver(context: Context, ledger: Ledger, alert_settings: AlertSettings) -> None:
    """Send every alert that is due; without a channel, say how many wait for one."""
    if not alert_settings.urls:
        if waiting := ledger.waiting():
            context.log.warning(
                f"{waiting} alert(s) wait for a channel: FUNNEL_ALERT_URLS is not set in this process's environment, "
                "so they stay pending until an evaluation that has it delivers them"
            )
        return
    for alert in deliver_due(ledger, alert_settings):
        context.log.info(f"{alert.delivery_status} after {alert.attempts} attempt(s): {alert.alert_id}")


def _last_publication(cursor: str | None) -> int:
    """The storage id of the last publication read; a cursor of 0.2.0 (with statuses and pending alerts) too."""
    try:
        return int(json.loads(cursor).get("last_storage_id", 0)) if cursor else 0
    except (ValueError, AttributeError, TypeError):
        return 0


@dg.sensor(
    job=alerts_job,
    minimum_interval_seconds=read_environment().sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def goal_alerts(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult | dg.SkipReason:
    """Raises goal-miss, coverage-low and their recovered alerts after each publication of the marts; delivers every
    alert due."""
    try:
        return _goal_alerts(context, settings)
    except MissingFolder as exc:
        return _skipped(context, str(exc))


def _goal_alerts(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult:
    alert_settings = AlertSettings.from_env()
    ledger = Ledger(alert_ledger_file(settings.warehouse_path))
    now = time.time()
    last = _last_publication(context.cursor)
    if ledger_ready(ledger, settings, now):
        latest = context.instance.fetch_materializations(PUBLISHED, limit=1).records
        published = published_file(settings.warehouse_path)
        if latest and latest[0].storage_id > last:
            if published.exists():
                rows = read_statuses(published, alert_settings.months)
                templates = alert_settings.templates()
                changes = raise_goal_alerts(ledger, rows, templates, latest[0].run_id, now)
                coverage = read_coverage(published)
                currency = settings.reporting_currency
                changes += raise_coverage_alerts(ledger, coverage, templates, latest[0].run_id, now, currency)
                for change in changes:
                    if change.alert:
                        context.log.info(f"raised {change.alert.alert_id}: {change.alert.title}")
                last = latest[0].storage_id
            else:
                context.log.warning(f"{published} was published but is gone: its statuses cannot be read")
    else:
        context.log.info(WAITING)
    _deliver(context, ledger, alert_settings)
    return dg.SensorResult(
        run_requests=copy_requests(context.instance, ledger, settings, now),
        cursor=json.dumps({"last_storage_id": last}),
    )


@dg.sensor(minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING)
def stale_data(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult | dg.SkipReason:
    """Evaluates the freshness of every extract between runs; an extract turning stale raises one alert."""
    now = time.time()
    try:
        ledger = Ledger(alert_ledger_file(settings.warehouse_path))
        if not ledger_ready(ledger, settings, now):
            return dg.SkipReason(WAITING)
        try:
            measured = measure(settings, now)
        except ConfigError as exc:
            return dg.SkipReason(f"the sources cannot be read: {exc}")
        changed = {change.subject: change for change in record(ledger, settings, measured, now, None)}
    except MissingFolder as exc:
        return _skipped(context, str(exc))
    for change in changed.values():
        if change.alert:
            context.log.info(f"raised {change.alert.alert_id}: {change.alert.title}")
    # a check result is reported when it changes; the runs of refresh report it every time
    events = [dg.AssetCheckEvaluation(**evaluation(f)) for f in measured if f.entity.table in changed]
    return dg.SensorResult(asset_events=events)


def _cause(error) -> str:
    """What went wrong in a step, without Dagster's wrapping: the innermost error's message."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    minimum_interval_seconds=read_environment().sensor_interval_seconds,
)
def run_failure_alerts(context: dg.RunFailureSensorContext, settings: Settings) -> dg.SkipReason | None:
    """Tells on-call staff when a run fails: one alert per run, delivered with the rest."""
    alert_settings = AlertSettings.from_env()
    run = context.dagster_run
    steps = [_cause(e.step_failure_data.error) for e in context.get_step_failure_events() if e.step_failure_data.error]
    error = "\n".join([context.failure_event.message or "", *steps]).strip()
    try:
        ledger = Ledger(alert_ledger_file(settings.warehouse_path))
        alert = raise_run_failure(ledger, alert_settings.templates(), run.run_id, run.job_name, error, time.time())
        context.log.info(f"raised {alert.alert_id}: {alert.title}")
        _deliver(context, ledger, alert_settings)
    except MissingFolder as exc:
        return _skipped(context, f"the failure of run {run.run_id} ({run.job_name}) is not reported: {exc}")
    return None


alert_sensors = [goal_alerts, stale_data, run_failure_alerts]
