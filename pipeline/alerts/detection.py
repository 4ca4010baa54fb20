"""Which alerts to raise: a stage turning missed or at risk and turning back, a month's pipeline coverage turning
below its minimum and back, an extract turning stale, a run failing.

The rules compare a subject's status with the one the ledger saw last (pipeline/alerts/ledger.py), never with a
sensor's cursor, so whoever evaluates, and however often, a transition raises its alert once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pipeline.alerts.ledger import Alert, Change, Ledger, Observation
from pipeline.alerts.messages import coverage_fields, goal_fields, render, run_failure_fields, stale_fields

if TYPE_CHECKING:
    from pipeline.config.settings import Settings
    from pipeline.ingest.freshness import Freshness

BAD = {"missed", "at_risk"}
GOOD = {"met", "on_track"}
#: The watches of the ledger: (month, stage) goal statuses, each month's pipeline coverage status
#: (marts.pipeline_coverage), and the freshness of each extracted table.
GOAL, COVERAGE, FRESHNESS = "goal", "coverage", "freshness"
STALE, FRESH = "stale", "fresh"
#: The coverage statuses that end a coverage_low episode (no_target is not recorded at all: a month without a
#: target says nothing about whether its pipeline recovered).
COVERED = {"covered", "target_met"}
#: The watch whose statuses each kind of alert reports a change of.
WATCH_OF_KIND = {
    "goal_miss": GOAL,
    "recovered": GOAL,
    "coverage_low": COVERAGE,
    "coverage_recovered": COVERAGE,
    "data_stale": FRESHNESS,
}


def goal_transition(previous: str | None, current: str) -> str | None:
    """goal_miss when a stage turns missed or at risk, recovered when it turns met or on track after that."""
    if current in BAD and previous not in BAD:
        return "goal_miss"
    if current in GOOD and previous in BAD:
        return "recovered"
    return None


def coverage_transition(previous: str | None, current: str) -> str | None:
    """coverage_low when a month turns below_minimum, coverage_recovered when it turns covered or met after that."""
    if current == "below_minimum" and previous != "below_minimum":
        return "coverage_low"
    if current in COVERED and previous == "below_minimum":
        return "coverage_recovered"
    return None


def stale_transition(previous: str | None, current: str) -> str | None:
    """data_stale when an extract turns stale: one alert per stale episode."""
    return "data_stale" if current == STALE and previous != STALE else None


def raise_goal_alerts(ledger: Ledger, rows: list[dict], templates: dict, run_id: str, now: float) -> list[Change]:
    """Record the status of each (month, stage) row of the published KPI mart; the changes, with their alerts."""

    def rendered(kind: str, alert_id: str, row: dict, previous: str | None) -> tuple[str, str]:
        return render(templates, kind, alert_id, goal_fields(templates, row, previous, run_id))

    observed = [
        Observation(f"{row['month']}|{row['stage']}", row["status"], row, row["month"], row["stage"]) for row in rows
    ]
    return ledger.observe(GOAL, observed, goal_transition, rendered, now, run_id)


def raise_coverage_alerts(
    ledger: Ledger, rows: list[dict], templates: dict, run_id: str, now: float, currency: str
) -> list[Change]:
    """Record the coverage status of each month row of the published marts.pipeline_coverage; the changes, with
    their alerts."""

    def rendered(kind: str, alert_id: str, row: dict, previous: str | None) -> tuple[str, str]:
        return render(templates, kind, alert_id, coverage_fields(row, previous, run_id, currency))

    # no_target is not recorded: a month that loses its target keeps its episode (a below_minimum month that gets
    # its target back still below the minimum raises nothing new)
    observed = [
        Observation(row["month"], row["status"], row, row["month"], "field_sales")
        for row in rows
        if row["status"] != "no_target"
    ]
    return ledger.observe(COVERAGE, observed, coverage_transition, rendered, now, run_id)


def raise_stale_alerts(
    ledger: Ledger, measured: list[Freshness], templates: dict, settings: Settings, now: float, run_id: str | None
) -> list[Change]:
    """Record whether each entity's extracts are stale; the changes, with the alert of each newly stale one."""
    zone = ZoneInfo(settings.reporting_tz)

    def rendered(kind: str, alert_id: str, f: Freshness, previous: str | None) -> tuple[str, str]:
        written = datetime.fromtimestamp(f.modified_at, zone) if f.modified_at is not None else None
        fields = stale_fields(
            templates,
            f.entity.system,
            f.entity.table,
            f.newest_file,
            written,
            f.age_hours,
            f.stale_after_hours,
            settings.landing_dir,
        )
        return render(templates, kind, alert_id, fields)

    observed = [Observation(f.entity.table, STALE if f.stale else FRESH, f) for f in measured]
    return ledger.observe(FRESHNESS, observed, stale_transition, rendered, now, run_id)


def raise_run_failure(ledger: Ledger, templates: dict, run_id: str, job_name: str, error: str, now: float) -> Alert:
    """The alert of a failed run: one per run, whoever reports it."""
    alert_id = f"run_failure|{run_id}|1"
    title, body = render(templates, "run_failure", alert_id, run_failure_fields(run_id, job_name, error))
    alert = Alert(alert_id, "run_failure", run_id, 1, None, None, None, None, title, body, run_id, now)
    alert.next_attempt_at = now
    ledger.record(alert)
    return alert
