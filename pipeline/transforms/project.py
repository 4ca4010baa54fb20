"""The dbt project (transforms/) as dagster-dbt sees it: its manifest, built on demand, and the CLI resource.

The manifest is parsed when missing or older than any model, macro, test or project file, never committed; one per
engine (FUNNEL_ENGINE, docs/scale.md), parsed for its dbt target, because the models an engine runs differ (dbt-spark
runs no Python model). `python -m pipeline.transforms.project --prepare` builds the configured engine's ahead of
`dagster dev`. Processes that start together
(`make serve`'s webserver and daemon, a `make run` beside them, parallel test workers) parse it once between them:
the first takes a file lock beside the manifest and parses, the others wait and then find it fresh; without the
lock each would rewrite target/manifest.json while another reads it.

The resource skips two things dagster-dbt does before every run's first dbt invocation that this project does not
use: it runs `dbt --version` (a second dbt start-up, which also asks pypi.org for the latest release: seconds, and
a network call from every run) to learn the version of the dbt it runs, which is the dbt-core installed beside
this Python; and it loads a dbt adapter with the project's macros inside the run's process for each invocation,
which serves only to fetch row counts or column metadata after the build (`fetch_row_counts`,
`fetch_column_metadata`), never called here.

dbt itself starts as `python pipeline/transforms/dbt_main.py`: dbt-core's command line whose partial-parse check
ignores the warehouse file's folder (dbt_main.py says why that is sound), so a new warehouse path does not cost a full
parse.
"""

import os
import sys
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from filelock import FileLock
from packaging.version import Version

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import DBT_TARGETS, PROJECT_ROOT, read_environment

DBT_PROJECT_DIR = PROJECT_ROOT / "transforms"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


@cache
def dbt_project_for(engine: str) -> DbtProject:
    """The project as the engine's dbt target parses it: DuckDB's manifest in target/, another's in target/<engine>/
    (invocations of both go to dbt_target_root())."""
    if engine == "duckdb":
        return dbt_project
    return DbtProject(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        target=DBT_TARGETS[engine],
        target_path=Path(dbt_project.target_path) / engine,
    )


#: The dbt installed beside this Python (the project's .venv): the plain dbt a `dbt build` by hand from transforms/
#: runs (as the tests that compare with one do).
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")

#: dbt's command line as the pipeline runs it: this Python (the project's .venv, so no activated shell is needed)
#: running dbt_main.py, which starts dbt-core's CLI.
DBT_COMMAND = [sys.executable, str(Path(__file__).with_name("dbt_main.py"))]


class ProjectDbtCli(DbtCliResource):
    """DbtCliResource for the dbt beside this Python, without the version probe and in-process adapter (above)."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))  # DBT_COMMAND runs this environment's dbt

    def _initialize_dbt_core_adapter(self, args: list[str]) -> None:
        return None  # an invocation without an adapter streams its events all the same


def dbt_resource(engine: str = "duckdb") -> DbtCliResource:
    """The dbt command line for the engine's dbt target."""
    # dagster-dbt runs [dbt_executable, *global_config_flags, *args]: the flags' place carries the script
    return ProjectDbtCli(
        project_dir=dbt_project_for(engine),  # which carries the engine's target
        dbt_executable=DBT_COMMAND[0],
        global_config_flags=DBT_COMMAND[1:],
    )


def dbt_target_root() -> Path:
    """Where dagster-dbt puts invocation folders and starts each from the partial-parse state: DBT_TARGET_PATH (as
    dagster-dbt reads it) or target/, both relative to the dbt project."""
    return DBT_PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", dbt_project.target_path)


def _sources_changed_since(manifest: Path) -> bool:
    built = manifest.stat().st_mtime
    watched = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "tests"):
        watched += [p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file()]
    return any(p.stat().st_mtime > built for p in watched)


def ensure_manifest(engine: str = "duckdb") -> Path:
    """Parse the dbt project for the engine when its manifest is missing or older than any model, macro or test."""
    project = dbt_project_for(engine)
    manifest = project.manifest_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(manifest.with_name("manifest.json.lock")):
        if not manifest.exists() or _sources_changed_since(manifest):
            dbt_resource(engine).cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return manifest


if __name__ == "__main__" and sys.argv[1:] == ["--prepare"]:
    try:
        engine = read_environment().engine
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(EXIT_CONFIG_ERROR)
    print(f"dbt manifest: {ensure_manifest(engine)}")
