"""Every configuration file read before anything runs, so that a mistake in any of them stops a run before an
asset writes.

The assets read their files again when they run (the settings resource may be overridden per run in the Dagster
UI); this check is what makes `python -m pipeline.run` and the Dagster code location fail at once, with the
errors of every file together, instead of at the first asset that needs a broken file, after others have written.
"""

import importlib.util
import os
import shutil
from pathlib import Path

from pipeline.config.files import ConfigError
from pipeline.config.hypotheses import load_hypotheses
from pipeline.config.improvement import load_improvement_config
from pipeline.config.quality import load_handoff_rules
from pipeline.config.registry import funnel
from pipeline.config.sales_pipeline import load_sales_pipeline
from pipeline.config.settings import DBT_TARGETS, Settings
from pipeline.config.sources import load_sources
from pipeline.config.targets import load_plans


def check_config(settings: Settings) -> None:
    """Read the funnel registry and every file `settings` names; a ConfigError lists the problems of all files.

    The registry comes first and alone: the other files are checked against its stages and hand-overs.
    """
    check_engine(settings.engine)
    funnel()
    targets = Path(settings.targets)
    checks = (
        lambda: load_sources(Path(settings.sources_config), Path(settings.landing_dir)),
        lambda: load_plans(targets) if targets.exists() else None,  # without the file, no targets
        lambda: load_handoff_rules(Path(settings.quality_config)),
        lambda: load_improvement_config(Path(settings.improvement_config)),
        lambda: load_hypotheses(Path(settings.hypotheses)),
        lambda: load_sales_pipeline(Path(settings.sales_pipeline_config)),
    )
    errors = []
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))


def check_engine(engine: str) -> None:
    """The engine names a dbt target of the project, and what it runs on is installed: Spark needs the `spark` extra
    (dbt-spark, pyspark) and Java, which `make setup-spark` installs (docs/scale.md)."""
    if engine not in DBT_TARGETS:
        raise ConfigError(f"FUNNEL_ENGINE: {engine!r} is not an engine of this project ({', '.join(DBT_TARGETS)})")
    if engine == "spark":
        missing = [m for m in ("dbt.adapters.spark", "pyspark") if importlib.util.find_spec(m) is None]
        if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            missing.append("Java 17")
        if missing:
            raise ConfigError(f"FUNNEL_ENGINE=spark needs {', '.join(missing)}: run `make setup-spark` (docs/scale.md)")
