"""All Dagster definitions of the funnel, assembled in one place (loaded by workspace.yaml)."""

import dagster as dg

from pipeline.alerts.goal_alerts import alert_assets, alert_sensors, alerts_job
from pipeline.goals.targets import goal_assets
from pipeline.quality.gx_checks import build_gx_checks
from pipeline.analysis.hypotheses import hypothesis_tests
from pipeline.ingest.assets import ingest_assets
from pipeline.serving.publish import published_marts
from pipeline.quality.reconciliation import quality_checks
from pipeline.serving.report import funnel_report
from pipeline.config.preflight import check_config
from pipeline.config.settings import Settings
from pipeline.transforms.assets import dbt_resource, funnel_dbt_models, funnel_kpi_marts
from pipeline.warehouse import Warehouse

#: Materializes everything but the alert history: ingest -> staging -> funnel -> marts -> serving, with every check.
funnel_job = dg.define_asset_job(
    "funnel_job",
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
        assets=[*ingest_assets, *goal_assets, funnel_dbt_models, funnel_kpi_marts, hypothesis_tests, published_marts,
                funnel_report, *alert_assets],
        asset_checks=[*quality_checks, *build_gx_checks()],
        jobs=[funnel_job, alerts_job],
        sensors=alert_sensors,
        resources={
            "settings": settings,
            "warehouse": Warehouse(path=settings.warehouse_path),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions(Settings.from_env())
