"""`python -m pipeline.run` with the checks of its job left out: what the benchmark measures the checks' share against.

    python bench/without_checks.py     (read the same FUNNEL_* variables and DAGSTER_HOME as pipeline.run)

The same process from start to exit as the product's (configuration checks, the supervised in-process run, the
funnel table, housekeeping), with one difference: the job `refresh` keeps its name and its assets but selects no
check (dbt tests, Great Expectations suites, freshness, reconciliation gates). A check an asset computes in its
own step cannot be left out (the ingest's quarantine count: an asset that cannot be subset yields it), so those
stay; they cost one count per entity.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import heap  # noqa: E402

if __name__ == "__main__":  # as `python -m pipeline.run` does (pipeline/heap.py)
    heap.hold()

import dagster as dg  # noqa: E402

import pipeline.definitions  # noqa: E402
from pipeline import run  # noqa: E402
from pipeline.config.settings import Settings  # noqa: E402

JOB = "refresh"
with_checks = pipeline.definitions.build_definitions


def job_without_checks(defs: dg.Definitions):
    """The job JOB of `defs`, its checks left out but those its assets compute in their own steps."""
    full = next(job for job in defs.jobs if job.name == JOB)
    inseparable = [
        key
        for assets in defs.assets or []
        if isinstance(assets, dg.AssetsDefinition) and not assets.can_subset
        for key in assets.check_keys
    ]
    return dg.define_asset_job(
        JOB,
        selection=full.selection.without_checks() | (dg.AssetSelection.checks(*inseparable) & full.selection),
        description=f"{full.description} Without its checks (bench/without_checks.py).",
        executor_def=full.executor_def,
    )


def build_definitions(settings: Settings) -> dg.Definitions:
    """The product's definitions with JOB replaced by its check-less twin (and no sensors or schedules to start)."""
    defs = with_checks(settings)
    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=[job_without_checks(defs)],
        resources=defs.resources,
        loggers=defs.loggers,
    )


if __name__ == "__main__":
    # pipeline.run builds the product's definitions through this module attribute when it starts the run.
    pipeline.definitions.build_definitions = build_definitions
    heap.exit_process(run.main())
