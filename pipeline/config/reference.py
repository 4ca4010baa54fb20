"""Configuration files the dbt models need, written as reference tables so dbt reads them like any source.

quality.yml (reconciliation tolerance and grace period per hand-over), improvement.yml (gross margin, re-approach
waits, paid sources) and sales_pipeline.yml (sales stages, coverage and forecast settings) could reach dbt as
--vars of the Dagster run, but then a `dbt build` run by hand would compute something else. As tables in
`reference`, declared as the dbt source `reference`, both routes read the same.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.config.improvement import load_improvement_config
from pipeline.config.quality import load_handoff_rules
from pipeline.config.sales_pipeline import load_sales_pipeline
from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.warehouse.layers import REFERENCE
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.tables import replace_table


@dg.asset(
    key=[REFERENCE, "reconciliation_rules"], group_name="reference", pool=WAREHOUSE_POOL, kinds={"duckdb", "yaml"}
)
def reconciliation_rules(warehouse: Warehouse, settings: Settings) -> dg.MaterializeResult:
    """Tolerance and grace period of every hand-over of the registry, from quality.yml."""
    rules = load_handoff_rules(Path(settings.quality_config))
    frame = pd.DataFrame(
        [
            {"handoff": name, "tolerance": rule.tolerance, "grace_period_hours": rule.grace_period_hours}
            for name, rule in rules.items()
        ]
    )
    with warehouse.connect() as con:
        replace_table(
            con,
            REFERENCE,
            "reconciliation_rules",
            frame,
            {"handoff": "VARCHAR", "tolerance": "DOUBLE", "grace_period_hours": "DOUBLE"},
        )
    return dg.MaterializeResult(
        metadata={
            "quality_config": settings.quality_config,
            "dagster/row_count": len(frame),
            "rules": dg.MetadataValue.md(frame.to_markdown(index=False)),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            [REFERENCE, "improvement_settings"],
            group_name="reference",
            kinds={"duckdb", "yaml"},
            description="improvement.yml's gross margin and default re-approach wait (one row).",
        ),
        dg.AssetSpec(
            [REFERENCE, "reapproach_waits"],
            group_name="reference",
            kinds={"duckdb", "yaml"},
            description="improvement.yml's re-approach wait per lost or disqualification reason.",
        ),
        dg.AssetSpec(
            [REFERENCE, "paid_sources"],
            group_name="reference",
            kinds={"duckdb", "yaml"},
            description="improvement.yml's paid_sources: the lead sources whose spend is paid acquisition.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def improvement_settings(warehouse: Warehouse, settings: Settings):
    """The improvement-loop settings of improvement.yml as three reference tables."""
    config = load_improvement_config(Path(settings.improvement_config))
    scalars = pd.DataFrame(
        [{"gross_margin": config.gross_margin, "reapproach_default_wait_days": config.reapproach.default_wait_days}]
    )
    waits = pd.DataFrame(list(config.wait_days().items()), columns=["reason", "wait_days"])
    paid = pd.DataFrame({"source": config.paid_sources}, dtype=object)
    with warehouse.connect() as con:
        replace_table(
            con,
            REFERENCE,
            "improvement_settings",
            scalars,
            {"gross_margin": "DOUBLE", "reapproach_default_wait_days": "INTEGER"},
        )
        replace_table(con, REFERENCE, "reapproach_waits", waits, {"reason": "VARCHAR", "wait_days": "INTEGER"})
        replace_table(con, REFERENCE, "paid_sources", paid, {"source": "VARCHAR"})
    yield dg.MaterializeResult(asset_key=[REFERENCE, "improvement_settings"], metadata={"dagster/row_count": 1})
    yield dg.MaterializeResult(asset_key=[REFERENCE, "reapproach_waits"], metadata={"dagster/row_count": len(waits)})
    yield dg.MaterializeResult(asset_key=[REFERENCE, "paid_sources"], metadata={"dagster/row_count": len(paid)})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            [REFERENCE, "sales_stages"],
            group_name="reference",
            kinds={"duckdb", "yaml"},
            description="sales_pipeline.yml's open opportunity stages in order, with their stall limits.",
        ),
        dg.AssetSpec(
            [REFERENCE, "sales_pipeline_settings"],
            group_name="reference",
            kinds={"duckdb", "yaml"},
            description="sales_pipeline.yml's week start, coverage minimum and months, forecast settings (one row).",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def sales_pipeline_settings(warehouse: Warehouse, settings: Settings):
    """The sales-pipeline settings of sales_pipeline.yml as two reference tables."""
    config = load_sales_pipeline(Path(settings.sales_pipeline_config))
    stages = pd.DataFrame(
        [
            {"stage_name": stage.name, "position": position, "stalled_after_days": stage.stalled_after_days}
            for position, stage in enumerate(config.stages, start=1)
        ]
    )
    scalars = pd.DataFrame(
        [
            {
                "week_start": config.iso_week_start,
                "coverage_minimum": config.coverage.minimum,
                "coverage_months": config.coverage.months,
                "forecast_interval": config.forecast.interval,
                "forecast_min_history": config.forecast.min_history,
            }
        ]
    )
    with warehouse.connect() as con:
        replace_table(
            con,
            REFERENCE,
            "sales_stages",
            stages,
            {"stage_name": "VARCHAR", "position": "INTEGER", "stalled_after_days": "INTEGER"},
        )
        replace_table(
            con,
            REFERENCE,
            "sales_pipeline_settings",
            scalars,
            {
                "week_start": "INTEGER",
                "coverage_minimum": "DOUBLE",
                "coverage_months": "INTEGER",
                "forecast_interval": "DOUBLE",
                "forecast_min_history": "INTEGER",
            },
        )
    yield dg.MaterializeResult(
        asset_key=[REFERENCE, "sales_stages"],
        metadata={"dagster/row_count": len(stages), "stages": dg.MetadataValue.md(stages.to_markdown(index=False))},
    )
    yield dg.MaterializeResult(asset_key=[REFERENCE, "sales_pipeline_settings"], metadata={"dagster/row_count": 1})


reference_assets = [reconciliation_rules, improvement_settings, sales_pipeline_settings]
