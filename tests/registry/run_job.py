"""Run the main job of a copy of the project in this interpreter and print what the registry test checks, as JSON.

Started by tests/test_funnel_registry.py with the copy first on sys.path, so the copy's registry, models and
Python are the ones that run: python run_job.py <project copy> <landing> <warehouse>.
"""

import json
import sys
from pathlib import Path

project, landing, warehouse = (Path(a) for a in sys.argv[1:4])
sys.path.insert(0, str(project))

import dagster as dg  # noqa: E402

from pipeline.alerts.statuses import read_statuses  # noqa: E402
from pipeline.config.settings import Settings  # noqa: E402
from pipeline.run import checks_of, materialize_all  # noqa: E402
from pipeline.serving.paths import published_file, report_dir  # noqa: E402

settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse))
result = materialize_all(settings, dg.DagsterInstance.ephemeral())
failed = [
    {"asset": c.asset_key.to_user_string(), "check": c.check_name, "severity": c.severity.value}
    for c in checks_of(result)
    if not c.passed
]
print(
    json.dumps(
        {
            "success": result.success,
            "failed_checks": failed,
            "alert_stages": sorted({row["stage"] for row in read_statuses(published_file(warehouse), 24)}),
            "report": (report_dir(warehouse) / "index.html").read_text(encoding="utf-8"),
        }
    )
)
