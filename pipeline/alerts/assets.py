"""alerting.alerts: the warehouse's copy of the alert ledger, so SQL and BI see the alert history.

Alerts are written once, to the ledger (pipeline/alerts/ledger.py); this table is derived from it, rewritten
whole by each run of `alerts_job`, which the `goal_alerts` sensor requests when the ledger has changed since the
last copy. Runs write it because sensors may not open the warehouse while a run writes it.

The copy is also the way back into a ledger that is new: after an upgrade from 0.1.0 or 0.2.0 (which kept the
alert history only in the warehouse: marts.alerts, moved to alerting.alerts by pipeline/warehouse/migrate.py), or
when the ledger file was lost, the first run takes over the alerts it holds and the status of each (month,
stage) they were about, before any alert is raised, so none of them is sent again.

An alert given up after FUNNEL_ALERT_MAX_ATTEMPTS is a blocking ERROR check of this asset that fails, once per
alert: the run fails, so the UI lists it and `run_failure_alerts` reports it.
"""

import time
from collections import Counter

import dagster as dg
import duckdb
import pandas as pd

from pipeline.alerts.detection import WATCH_OF_KIND
from pipeline.alerts.ledger import Alert, Ledger
from pipeline.config.settings import WAREHOUSE_POOL
from pipeline.serving.paths import alert_ledger_file
from pipeline.warehouse.layers import ALERTING
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.tables import replace_table

PUBLISHED = dg.AssetKey(["serving", "published_marts"])
ALERTS = dg.AssetKey([ALERTING, "alerts"])
DELIVERY_CHECK = "delivery"

#: The columns of alerting.alerts, in order, with their DuckDB types (docs/data-model.md).
COLUMNS = {
    "alert_id": "VARCHAR",
    "kind": "VARCHAR",
    "subject": "VARCHAR",
    "number": "INTEGER",
    "month": "VARCHAR",
    "stage": "VARCHAR",
    "status": "VARCHAR",
    "previous_status": "VARCHAR",
    "title": "VARCHAR",
    "body": "VARCHAR",
    "run_id": "VARCHAR",
    "raised_at": "TIMESTAMPTZ",
    "delivery_status": "VARCHAR",
    "attempts": "INTEGER",
    "next_attempt_at": "TIMESTAMPTZ",
    "delivered_at": "TIMESTAMPTZ",
    "last_error": "VARCHAR",
}
_TIMES = [c for c, kind in COLUMNS.items() if kind == "TIMESTAMPTZ"]


def _epoch(value) -> float | None:
    return None if value is None or value != value else pd.Timestamp(value).timestamp()


def read_history(con: duckdb.DuckDBPyConnection, now: float) -> list[Alert]:
    """The alerts alerting.alerts holds, as ledger records: a copy this module wrote, or the history of 0.1.0 and
    0.2.0, whose ids were "<month>|<stage>|<n>" and which numbered each (month, stage)'s alerts from 1."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = 'alerts'", [ALERTING]
    ).fetchone()[0]
    if not exists:
        return []
    frame = con.execute(f"SELECT * FROM {ALERTING}.alerts").df()
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    legacy = "subject" not in frame.columns
    history, numbers = [], Counter()
    for r in sorted(rows, key=lambda r: (_epoch(r.get("raised_at")) or 0.0, r["alert_id"])):
        kind = r.get("kind") or "unknown"
        if not legacy:
            subject, number, alert_id = r["subject"], int(r["number"]), r["alert_id"]
        elif r.get("month") and r.get("stage"):
            subject = f"{r['month']}|{r['stage']}"
            numbers[subject] += 1
            number = numbers[subject]
            alert_id = f"{kind}|{subject}|{number}"
        else:  # not about a (month, stage): kept under its own id, never raised again
            subject, number, alert_id = r["alert_id"], 1, r["alert_id"]
        status = r.get("delivery_status") or "delivered"  # unknown: assume it went out rather than send it twice
        history.append(
            Alert(
                alert_id,
                kind,
                subject,
                number,
                r.get("month"),
                r.get("stage"),
                r.get("status"),
                r.get("previous_status"),
                r.get("title") or "",
                r.get("body") or "",
                r.get("run_id"),
                _epoch(r.get("raised_at")),
                status,
                int(r.get("attempts") or 0),
                now if status == "pending" else (_epoch(r.get("next_attempt_at")) or 0.0),
                _epoch(r.get("delivered_at")),
                r.get("last_error"),
            )
        )
    return history


def write_copy(con: duckdb.DuckDBPyConnection, alerts: list[Alert]) -> None:
    """alerting.alerts becomes `alerts`, in one statement."""
    frame = pd.DataFrame([{c: getattr(a, c) for c in COLUMNS} for a in alerts], columns=list(COLUMNS))
    for column in _TIMES:
        frame[column] = pd.to_datetime(frame[column].astype("float64"), unit="s", utc=True)
    replace_table(con, ALERTING, "alerts", frame, COLUMNS)


def _line(alert: Alert) -> str:
    return f"- {alert.delivery_status}: {alert.title} ({alert.alert_id})"


@dg.asset(
    key=ALERTS,
    group_name="alerts",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "sqlite"},
    check_specs=[
        dg.AssetCheckSpec(
            DELIVERY_CHECK,
            asset=ALERTS,
            blocking=True,
            description=(
                "Fails, and so fails the run, when an alert was given up (delivery_status failed) after "
                "FUNNEL_ALERT_MAX_ATTEMPTS attempts since the last run; once per alert."
            ),
        )
    ],
)
def alerts(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Every alert raised and its delivery: the warehouse's copy of the alert ledger (alert_ledger.sqlite)."""
    ledger = Ledger(alert_ledger_file(warehouse.path))
    taken = None
    with warehouse.connect() as con:
        if not ledger.seeded():
            taken = ledger.seed(read_history(con, time.time()), time.time(), WATCH_OF_KIND)
        version, records = ledger.snapshot()
        write_copy(con, records)
    given_up = [
        a for a in records if a.delivery_status == "failed" and not a.failure_reported and a.kind != "run_failure"
    ]  # a failed run is already a failed run in the UI; failing this run for it would only report itself
    ledger.copied(version, [a.alert_id for a in given_up])
    if taken is not None:
        context.log.info(f"the alert ledger took over {taken} alert(s) from {ALERTING}.alerts")
    for alert in given_up:
        context.log.error(f"given up after {alert.attempts} attempts: {alert.title} ({alert.last_error})")
    statuses = Counter(a.delivery_status for a in records)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(records),
            "ledger_version": version,
            "delivery_statuses": dg.MetadataValue.json(dict(statuses)),
            "latest": dg.MetadataValue.md("\n".join(_line(a) for a in records[-20:]) or "none"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=DELIVERY_CHECK,
                passed=not given_up,
                severity=dg.AssetCheckSeverity.ERROR,
                description=(
                    f"{len(given_up)} alert(s) could not be delivered and were given up: "
                    + "; ".join(f"{a.alert_id}: {a.last_error}" for a in given_up)
                )
                if given_up
                else None,
                metadata={"given_up": dg.MetadataValue.md("\n".join(_line(a) for a in given_up) or "none")},
            )
        ],
    )


alerts_job = dg.define_asset_job(
    "alerts_job", selection=[ALERTS], description="Copy the alert ledger into alerting.alerts."
)

alert_assets = [alerts]
