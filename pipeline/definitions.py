"""All Dagster definitions of the funnel, assembled in one place (loaded by workspace.yaml)."""

import dagster as dg

from pipeline.goals import goal_assets
from pipeline.gx_checks import build_gx_checks
from pipeline.ingest import ingest_assets
from pipeline.settings import Settings
from pipeline.publish import published_marts
from pipeline.quality import quality_checks
from pipeline.report import funnel_report
from pipeline.transforms import dbt_resource, funnel_dbt_models, funnel_kpi_marts
from pipeline.warehouse import Warehouse

#: Materializes everything: ingest -> staging -> funnel -> marts, with every check.
funnel_job = dg.define_asset_job("funnel_job", selection=dg.AssetSelection.all(), description=__doc__)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions bound to the given settings; tests pass their own temporary landing folder and warehouse."""
    return dg.Definitions(
        assets=[*ingest_assets, *goal_assets, funnel_dbt_models, funnel_kpi_marts, published_marts, funnel_report],
        asset_checks=[*quality_checks, *build_gx_checks()],
        jobs=[funnel_job],
        resources={
            "settings": settings,
            "warehouse": Warehouse(path=settings.warehouse_path),
            "dbt": dbt_resource(),
        },
    )


defs = build_definitions(Settings.from_env())
