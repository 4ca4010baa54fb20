"""pipeline/heap.py: only `make run`'s entry point turns the garbage collector off while it loads; a process that
imports the pipeline as a library (tests, the webserver's code location) keeps its collector as it was."""

import gc
import subprocess
import sys

from pipeline import heap
from pipeline.config.settings import PROJECT_ROOT


def test_importing_the_run_module_leaves_the_collector_on_and_release_changes_nothing() -> None:
    import pipeline.run  # noqa: F401

    frozen = gc.get_freeze_count()
    heap.release()
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_release_after_hold_freezes_what_exists_and_collects_again_what_comes_after() -> None:
    script = (
        "import gc; from pipeline import heap; heap.hold(); import json; assert not gc.isenabled();"
        "heap.release(); print(gc.isenabled(), gc.get_freeze_count() > 1000);"
        "cycle = []; cycle.append(cycle); del cycle; print(gc.collect() >= 1)"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
