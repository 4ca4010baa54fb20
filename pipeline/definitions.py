"""All Dagster definitions, assembled in one place from the concerns (loaded by workspace.yaml)."""

import dagster as dg

from pipeline.alerts.assets import alert_assets, alerts_job
from pipeline.alerts.sensors import alert_sensors
from pipeline.analysis.assets import analysis_assets
from pipeline.automation.landing import landing_sensor
from pipeline.automation.schedule import daily_schedule
from pipeline.config.preflight import check_config
from pipeline.config.reference import reference_assets
from pipeline.config.settings import Settings, read_environment
from pipeline.goals.assets import goal_assets
from pipeline.housekeeping import housekeeping_job, housekeeping_schedule
from pipeline.ingest.assets import ingest_assets
from pipeline.ingest.freshness import extract_freshness
from pipeline.quality.gx_checks import build_gx_checks
from pipeline.runs.sensor import recover_dead_runs
from pipeline.serving.publish import published_marts
from pipeline.serving.report import funnel_report
from pipeline.transforms.assets import dbt_models
from pipeline.transforms.project import dbt_resource
from pipeline.warehouse.resource import Warehouse

#: The main job: everything but the alert history, from the landing folder to the published marts and the report.
refresh = dg.define_asset_job(
    "refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(*alert_assets),
    description="Every asset and check, from the landing folder to the published marts and the report.",
    # One process for the whole run, as in `make run`: nearly every step waits for the one warehouse slot anyway,
    # and a process per step would load the code location twenty times over.
    executor_def=dg.in_process_executor,
)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Definitions bound to the given settings; tests pass their own temporary landing folder and warehouse.

    The configuration files are read first: a mistake stops the code location from loading, with its message,
    before any run can start.
    """
    check_config(settings)
    env = read_environment()
    return dg.Definitions(
        assets=[
            *ingest_assets,
            *goal_assets,
            *reference_assets,
            dbt_models(settings.engine),
            *analysis_assets(settings.engine),
            published_marts,
            funnel_report,
            *alert_assets,
        ],
        asset_checks=[*build_gx_checks(), extract_freshness],
        jobs=[refresh, alerts_job, housekeeping_job],
        sensors=[
            *alert_sensors,
            recover_dead_runs,
            landing_sensor(env.sensor_interval_seconds, env.landing_settle_seconds),
        ],
        schedules=[
            daily_schedule(env.schedule_cron, settings.reporting_tz),
            housekeeping_schedule(settings.reporting_tz),
        ],
        resources={
            "settings": settings,
            "warehouse": Warehouse.of(settings),
            "dbt": dbt_resource(settings.engine),
        },
    )


defs = build_definitions(Settings.from_env())
