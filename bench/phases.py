"""Where a product run's time went: the seconds of its steps, grouped by phase (ingest, transforms, checks, publish).

The steps are read from the Dagster instance the run was recorded in (its DAGSTER_HOME), and a step's phase from
what the step produced, not from its name, so renaming or merging steps (one dbt invocation instead of four) does
not change the grouping: a step that materialized a dbt model is a transform; one that materialized an asset of a
known key prefix takes that prefix's phase; one that only evaluated checks is a check. Checks evaluated inside a
step that also materializes (dbt tests in dbt's step, the ingest's quarantine count) count with that step's phase:
the checks' whole share comes from the run without checks (bench/without_checks.py).
"""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

PHASES = ("ingest", "transforms", "checks", "publish")
#: Phase of a step that materialized an asset whose key starts with this (pipeline's groups ingest, reference,
#: analysis, serving). dbt models are recognised by their materialization's dbt unique_id instead.
PHASE_BY_KEY_PREFIX = {"extracted": "ingest", "reference": "ingest", "analysis": "transforms", "serving": "publish"}
DBT_METADATA = "unique_id"  # dagster-dbt records the dbt node's unique_id on every materialization of a model
OTHER = "other"  # a step this table does not know: shown, never dropped


@dataclass(frozen=True)
class Step:
    key: str
    phase: str
    seconds: float


@dataclass(frozen=True)
class RunSteps:
    run_id: str
    steps: list[Step]
    checks_evaluated: int  # check evaluations the run recorded (the run without checks keeps the inseparable ones)


def phase_of(materialized: list[dg.AssetMaterialization], checked: bool) -> str:
    """The phase of a step from the materializations it produced and whether it evaluated checks."""
    if any(DBT_METADATA in m.metadata for m in materialized):
        return "transforms"
    phases = {PHASE_BY_KEY_PREFIX.get(m.asset_key.path[0], OTHER) for m in materialized}
    if not phases:
        return "checks" if checked else OTHER
    return phases.pop() if len(phases) == 1 else OTHER


def run_steps(dagster_home: Path, job: str = "refresh") -> RunSteps:
    """The latest run of `job` recorded in `dagster_home`: its id, its steps with their phases, its checks."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=job), limit=1)
        if not runs:
            raise SystemExit(f"no run of {job} recorded in {dagster_home}")
        run_id = runs[0].run_id
        materialized: dict[str, list[dg.AssetMaterialization]] = defaultdict(list)
        checked: list[str] = []
        cursor = None
        while True:
            page = instance.get_records_for_run(
                run_id,
                cursor=cursor,
                of_type={dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION},
                limit=1000,
            )
            for record in page.records:
                event = record.event_log_entry.dagster_event
                if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
                    materialized[event.step_key].append(event.event_specific_data.materialization)
                else:
                    checked.append(event.step_key)
            if not page.has_more:
                break
            cursor = page.cursor
        steps = [
            Step(s.step_key, phase_of(materialized[s.step_key], s.step_key in checked), s.end_time - s.start_time)
            for s in instance.get_run_step_stats(run_id)
            if s.start_time is not None and s.end_time is not None
        ]
    return RunSteps(run_id, steps, len(checked))


def seconds_by_phase(steps: list[Step], wall_seconds: float) -> dict[str, float]:
    """Seconds per phase, plus `other` when a step fit none, and overhead: the wall time no step accounts for
    (interpreter start, imports, loading the definitions and dbt's manifest, printing, housekeeping)."""
    totals = dict.fromkeys(PHASES, 0.0)
    for step in steps:
        totals[step.phase] = totals.get(step.phase, 0.0) + step.seconds
    totals["overhead"] = wall_seconds - sum(step.seconds for step in steps)
    return {phase: round(seconds, 2) for phase, seconds in totals.items()}
