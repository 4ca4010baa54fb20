"""The goal assets: the back-calculated targets and the business calendar as reference tables.

Only the Dagster side lives here (reading targets.yml and the setting, writing the tables, metadata); the
arithmetic is in back_calculation.py and calendar.py.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.config.targets import load_plans
from pipeline.goals.back_calculation import target_rows
from pipeline.goals.calendar import business_calendar
from pipeline.warehouse.layers import REFERENCE
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.tables import replace_table

TARGET_COLUMNS = {
    "month": "DATE",
    "stage": "VARCHAR",
    "stage_order": "INTEGER",
    "target_base": "BIGINT",
    "target_goal": "BIGINT",
    "average_deal_size": "DOUBLE",
}


@dg.asset(key=[REFERENCE, "funnel_targets"], group_name="reference", pool=WAREHOUSE_POOL, kinds={"duckdb", "yaml"})
def funnel_targets(context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings) -> dg.MaterializeResult:
    """Monthly targets back-calculated from targets.yml (empty when no targets file exists)."""
    path = Path(settings.targets)
    plans = load_plans(path) if path.exists() else []
    frame = target_rows(plans) if plans else pd.DataFrame(columns=list(TARGET_COLUMNS))
    with warehouse.connect() as con:
        replace_table(con, REFERENCE, "funnel_targets", frame, TARGET_COLUMNS)
    if not plans:
        context.log.info(f"{path} does not exist: no targets, every status is no_target")
    return dg.MaterializeResult(
        metadata={
            "targets_file": str(path),
            "months": len(plans),
            "dagster/row_count": len(frame),
            "targets": dg.MetadataValue.md(frame.head(24).to_markdown(index=False) if len(frame) else "none"),
        }
    )


@dg.asset(key=[REFERENCE, "business_calendar"], group_name="reference", pool=WAREHOUSE_POOL, kinds={"duckdb"})
def business_calendar_table(warehouse: Warehouse, settings: Settings) -> dg.MaterializeResult:
    """Business days (weekdays less public holidays of FUNNEL_HOLIDAY_CALENDAR) for pacing the open month."""
    frame = business_calendar(settings.holiday_calendar)
    with warehouse.connect() as con:
        replace_table(
            con,
            REFERENCE,
            "business_calendar",
            frame,
            {"day": "DATE", "is_business_day": "BOOLEAN", "is_holiday": "BOOLEAN"},
        )
    return dg.MaterializeResult(
        metadata={
            "calendar": settings.holiday_calendar,
            "dagster/row_count": len(frame),
            "holidays": int(frame["is_holiday"].sum()),
        }
    )


goal_assets = [funnel_targets, business_calendar_table]
