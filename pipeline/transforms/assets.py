"""Transforms: every dbt model is a Dagster asset and every dbt test an asset check (dagster-dbt).

The dbt project lives in transforms/. Its manifest is built on demand (`dbt parse`), never committed.
"""

import json
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "transforms"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

#: dbt tag of the KPI marts (transforms/dbt_project.yml), built only after the reconciliation gate passed.
KPI_TAG = "kpi"

#: The dbt installed beside this Python (the project's .venv), so no activated shell is needed.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def _sources_changed_since(manifest: Path) -> bool:
    built = manifest.stat().st_mtime
    watched = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        watched += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in watched)


def ensure_manifest() -> Path:
    """Parse the dbt project when its manifest is missing or older than any model, macro or test."""
    manifest = dbt_project.manifest_path
    if not manifest.exists() or _sources_changed_since(manifest):
        dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return manifest


MANIFEST = ensure_manifest()


class FunnelDbtTranslator(DagsterDbtTranslator):
    """Source tables map to the ingest assets' keys (raw/<table>); models keep their dbt names."""

    def get_asset_key(self, dbt_resource_props: dict) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["config"].get("schema") or "main", dbt_resource_props["name"]])


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    invocation = dbt.cli(["build", "--vars", json.dumps(settings.dbt_vars())], context=context)
    yield from invocation.stream()
    # dagster-dbt starts each invocation from the project's partial-parse state; keeping the state parsed
    # with this run's vars lets the next invocation (the KPI marts, the next run) skip a full re-parse.
    state = invocation.target_path / "partial_parse.msgpack"
    if state.exists():
        shutil.copyfile(state, DBT_PROJECT_DIR / dbt_project.target_path / "partial_parse.msgpack")


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=FunnelDbtTranslator(),
    exclude=f"tag:{KPI_TAG}",
    pool=WAREHOUSE_POOL,
)
def funnel_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    """Staging views, the four stage tables and the reconciliation marts, with each model's dbt tests."""
    yield from _dbt_build(context, dbt, settings)


@dbt_assets(
    manifest=MANIFEST,
    project=dbt_project,
    dagster_dbt_translator=FunnelDbtTranslator(),
    select=f"tag:{KPI_TAG}",
    name="funnel_kpi_marts",
    pool=WAREHOUSE_POOL,
)
def funnel_kpi_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, settings: Settings):
    """The KPI marts. A separate step, so the reconciliation gate on the stage tables can hold them back."""
    yield from _dbt_build(context, dbt, settings)


if __name__ == "__main__" and sys.argv[1:] == ["--prepare"]:
    print(f"dbt manifest: {MANIFEST}")
