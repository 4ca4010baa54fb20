"""Crash recovery for runs the Dagster daemon launches: a sensor that recovers dead runs every half minute.

`make run` recovers before its own run (supervisor.py); runs launched from the UI, a schedule or a sensor start in a
run worker of the daemon's run launcher, where no code of the pipeline runs before their steps. Dagster's run
monitoring (dagster_home/dagster.yaml) fails runs that never start and frees the slots of runs that ended, but
the default run launcher cannot tell it that a started run's worker died, and the run queue holds new runs back
while the dead run keeps the `duckdb_warehouse` slot. This sensor, run by the daemon whether or not a run has
started, does what `make run` does first: runs whose processes are gone are marked failed and their slots freed.
"""

import dagster as dg

from pipeline.runs.recovery import recover

#: How often the daemon looks for dead runs, in seconds.
INTERVAL_SECONDS = 30


@dg.sensor(
    name="recover_dead_runs",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs whose process is gone as failed and frees their warehouse slot (docs/operations.md).",
)
def recover_dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    recovered = recover(context.instance)
    for item in recovered:
        context.log.warning(f"crash recovery: {item}")
    return dg.SkipReason("; ".join(map(str, recovered)) or "no dead run")
