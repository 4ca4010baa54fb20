"""Every dbt model is a Dagster asset and every dbt test an asset check (dagster-dbt), in two steps.

The KPI marts (tag `kpi`) are a second step so the blocking reconciliation gate on the stage tables can hold
them back. Settings reach dbt through the environment of each invocation (Settings.dbt_env), the same way
they reach a `dbt build` run by hand from transforms/.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.transforms.project import DBT_PROJECT_DIR, dbt_project, ensure_manifest

#: dbt tag of the KPI marts (transforms/dbt_project.yml), built only after the reconciliation gate passed.
KPI_TAG = "kpi"

MANIFEST = ensure_manifest()


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


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    with environment(settings.dbt_env()):
        invocation = dbt.cli(["build"], context=context)
    yield from invocation.stream()
    # dagster-dbt starts each invocation from the project's partial-parse state; keeping the state of this
    # invocation lets the next one (the KPI marts, the next run) skip a full re-parse.
    state = invocation.target_path / "partial_parse.msgpack"
    if state.exists():
        shutil.copyfile(state, DBT_PROJECT_DIR / dbt_project.target_path / "partial_parse.msgpack")


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=WarehouseDbtTranslator(),
    exclude=f"tag:{KPI_TAG}",
    pool=WAREHOUSE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    """Staging views, the intermediate models, the stage tables and the reconciliation marts, with their tests."""
    yield from _dbt_build(context, dbt, settings)


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=WarehouseDbtTranslator(),
    select=f"tag:{KPI_TAG}",
    name="kpi_marts",
    pool=WAREHOUSE_POOL,
)
def kpi_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    """The KPI marts. A separate step, so the reconciliation gate on the stage tables can hold them back."""
    yield from _dbt_build(context, dbt, settings)
