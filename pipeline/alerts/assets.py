"""The alert history: alerting.alerts, recorded by a run of `alerts_job` with the alerts a sensor passes.

The sensors do not write to the warehouse: every alert and each change of its delivery status is passed to
a run of this asset, and the table keeps the latest state per alert.
"""

import json

import dagster as dg

from pipeline.config.settings import WAREHOUSE_POOL
from pipeline.warehouse.layers import ALERTING
from pipeline.warehouse.resource import Warehouse

PUBLISHED = dg.AssetKey(["serving", "published_marts"])
ALERTS = dg.AssetKey([ALERTING, "alerts"])


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

alert_assets = [alerts]
