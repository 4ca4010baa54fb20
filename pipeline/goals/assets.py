"""The goal assets: the back-calculated targets, per-person targets and the business calendar as reference tables.

Only the Dagster side lives here (reading targets.yml and the setting, writing the tables, metadata); the
arithmetic is in back_calculation.py and calendar.py.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.config.targets import load_person_targets, load_plans
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
    "target_revenue": "DOUBLE",
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


OWNER_TARGET_COLUMNS = {"user_id": "VARCHAR", "month": "DATE", "target_goal": "DOUBLE"}


@dg.asset(key=[REFERENCE, "owner_targets"], group_name="reference", pool=WAREHOUSE_POOL, kinds={"duckdb", "yaml"})
def owner_targets(warehouse: Warehouse, settings: Settings) -> dg.MaterializeResult:
    """Per-person monthly goals from targets.yml's `people` (empty without them); others get a team share."""
    path = Path(settings.targets)
    targets = load_person_targets(path) if path.exists() else []
    frame = pd.DataFrame(
        [{"user_id": t.user_id, "month": t.month, "target_goal": t.goal} for t in targets],
        columns=list(OWNER_TARGET_COLUMNS),
    )
    with warehouse.connect() as con:
        replace_table(con, REFERENCE, "owner_targets", frame, OWNER_TARGET_COLUMNS)
    return dg.MaterializeResult(
        metadata={"targets_file": str(path), "people": frame["user_id"].nunique(), "dagster/row_count": len(frame)}
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


goal_assets = [funnel_targets, owner_targets, business_calendar_table]
