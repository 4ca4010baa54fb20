"""All Dagster definitions, assembled in one place from the concerns (loaded by workspace.yaml)."""

import dagster as dg

from pipeline.alerts.assets import alert_assets, alerts_job
from pipeline.alerts.sensors import alert_sensors
from pipeline.analysis.assets import hypothesis_tests
from pipeline.config.preflight import check_config
from pipeline.config.reference import reference_assets
from pipeline.config.settings import Settings
from pipeline.goals.assets import goal_assets
from pipeline.ingest.assets import ingest_assets
from pipeline.quality.gx_checks import build_gx_checks
from pipeline.quality.reconciliation import quality_checks
from pipeline.runs.sensor import recover_dead_runs
from pipeline.serving.publish import published_marts
from pipeline.serving.report import funnel_report
from pipeline.transforms.assets import dbt_models, kpi_marts
from pipeline.transforms.project import dbt_resource
from pipeline.warehouse.resource import Warehouse

#: The main job: everything but the alert history, from the landing folder to the published marts and the report.
refresh = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*alert_assets),
    description="Every asset and check, from the landing folder to the published marts and the report.",
)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions bound to the given settings; tests pass their own temporary landing folder and warehouse.

    The configuration files are read first: a mistake stops the code location from loading, with its message,
    before any run can start.
    """
    check_config(settings)
    return dg.Definitions(
        assets=[
            *ingest_assets,
            *goal_assets,
            *reference_assets,
            dbt_models,
            kpi_marts,
            hypothesis_tests,
            published_marts,
            funnel_report,
            *alert_assets,
        ],
        asset_checks=[*quality_checks, *build_gx_checks()],
        jobs=[refresh, alerts_job],
        sensors=[*alert_sensors, recover_dead_runs],
        resources={
            "settings": settings,
            "warehouse": Warehouse(path=settings.warehouse_path, lock_timeout_seconds=settings.lock_timeout_seconds),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions(Settings.from_env())
