"""Every dbt model is a Dagster asset and every dbt test an asset check (dagster-dbt), in one `dbt build` on DuckDB.

One invocation per run on DuckDB, because each dbt start costs seconds (start-up, manifest, adapter): the
hypothesis tests and the forecast are dbt Python models (transforms/models/analysis) rather than Python assets
between two dbt steps (on Spark, which runs no dbt Python model, they are: pipeline/analysis/assets.py), and
the reconciliation gate is a dbt test on marts.reconciliation that every KPI mart depends on, so dbt build
itself skips the KPI marts when it fails (transforms/models/reconciliation/reconciliation.yml). Settings reach
dbt through the environment of the invocation (Settings.dbt_env), the same way they reach a `dbt build` run by
hand from transforms/.

The engine (FUNNEL_ENGINE, docs/scale.md) picks the dbt target and its manifest, so the assets are the models that
engine builds. On Spark the step that builds the models reading the sources first writes the lake
(pipeline/warehouse/lake.py: the extracted layer and the reference data that ingest and the Python assets wrote, as
Parquet), which the Spark run's sources read.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL, Settings
from pipeline.transforms.project import dbt_project_for, ensure_manifest
from pipeline.warehouse.lake import LAKE_SCHEMAS, write_lake
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.rewrite import replace, temporary
from pipeline.warehouse.spark_recovery import remove_interrupted_writes


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Every relation's key is [schema, name]: sources map onto the Python assets that write them
    (extracted/ma_leads, reference/funnel_targets, ...), models onto their dbt schema (stages/marketing_entries)."""

    def get_asset_key(self, dbt_resource_props: dict) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
        return dg.AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ while a dbt subprocess is started (dagster-dbt passes os.environ on), then restored."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@cache
def dbt_models(engine: str = "duckdb") -> dg.AssetsDefinition:
    """Every model the engine's dbt target builds, as assets, and its data tests as checks."""

    @dbt_assets(
        manifest=ensure_manifest(engine),
        project=dbt_project_for(engine),
        dagster_dbt_translator=WarehouseDbtTranslator(),
        pool=WAREHOUSE_POOL,
    )
    def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings, warehouse: Warehouse):
        """The selected models and their data tests in one `dbt build`: all of them on DuckDB; on Spark those before
        and those after the analysis step, in two steps."""
        if settings.engine != engine:  # the assets are the models of the engine the code location was loaded for
            raise dg.Failure(
                f"the settings name engine {settings.engine!r}, but these assets are the models of {engine!r}: set "
                "FUNNEL_ENGINE and reload the code location to change engines (docs/scale.md)"
            )
        if engine != "duckdb":
            for folder in remove_interrupted_writes(settings.spark_dir):
                context.log.warning(f"removed what a killed Spark write left: {folder}")
            deps = context.assets_def.asset_deps
            if any(d.path[0] in LAKE_SCHEMAS for k in context.selected_asset_keys for d in deps[k]):
                written = write_lake(warehouse, Path(settings.lake_dir))
                context.log.info(f"lake {settings.lake_dir}: {len(written)} tables, {sum(written.values())} rows")
        # The Python model imports the pipeline package: the one this process runs, wherever it is installed.
        python_path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        with environment(settings.dbt_env() | {"PYTHONPATH": python_path}):
            # dbt's unit tests check the SQL on fixed inputs, so a data refresh cannot change their result: they run
            # where the SQL changes (`dbt build` by hand, tests/test_dbt_standalone.py), not in every run. Nothing
            # reads dbt's JSON artifacts of a run (dagster-dbt reads its event stream; the manifest is parsed once,
            # pipeline/transforms/project.py), and writing manifest.json twice and run_results.json took 2-3 s.
            invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test", "--no-write-json"], context=context)
        yield from invocation.stream()
        # dagster-dbt starts each invocation from the partial-parse state in the folder it makes invocation folders
        # in (DBT_TARGET_PATH or transforms/target); keeping the state of this invocation there lets the next run
        # skip a full re-parse. Copied beside it and renamed over it, so a run starting meanwhile never reads half a
        # file.
        state = invocation.target_path / "partial_parse.msgpack"
        if state.exists():
            kept = invocation.target_path.parent / state.name
            partial = temporary(kept, "copy")
            shutil.copyfile(state, partial)
            replace(partial, kept)

    return dbt_models
