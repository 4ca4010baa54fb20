"""Recovery from runs whose process died, at the start of every run: no run waits on a dead one.

A run killed with SIGKILL (or by a power cut) stays recorded as in progress and keeps the slot of the
`duckdb_warehouse` pool its step held, so every later run would wait for that slot forever. Dagster frees a run's
slots only when the run itself ends them or when its run monitoring sees the run finished
(`free_slots_after_run_end_seconds`), and its run monitoring cannot tell that the worker of the default run
launcher died. So each run first looks at the runs recorded as in progress: one whose processes are all gone
(processes.py) is marked failed (canceled, when it was being canceled) and its slots and queued claims are freed.
A run whose process lives, or whose process cannot be known, is never touched. The data needs no repair: every
step's writes to DuckDB are transactions, and the published files are replaced by rename.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from pipeline.runs.processes import processes_of
from pipeline.runs.statuses import PAST_THE_QUEUE


@dataclass(frozen=True)
class Recovered:
    run_id: str
    job_name: str
    was: str  # the status it was left in, or "finished" for a finished run that still held a slot
    pids: tuple[int, ...]

    def __str__(self) -> str:
        if self.was == "finished":
            return f"freed the warehouse slot still held by run {self.run_id} ({self.job_name}), which had ended"
        processes = ", ".join(str(p) for p in self.pids)
        return (
            f"run {self.run_id} ({self.job_name}) was left {self.was} by process {processes}, which is gone "
            "(killed or crashed): marked failed and its warehouse slot freed"
        )


def _slot_holders(instance: dg.DagsterInstance) -> set[str]:
    """Every run that holds a slot or a queued claim in any pool."""
    storage = instance.event_log_storage
    holders = set(storage.get_concurrency_run_ids())
    for info in storage.get_concurrency_infos(list(storage.get_concurrency_keys())).values():
        holders |= {slot.run_id for slot in info.claimed_slots}
    return holders


def recover(instance: dg.DagsterInstance) -> list[Recovered]:
    """Mark the runs whose processes are gone as failed and free what they hold; what was done, for the log."""
    if not instance.event_log_storage.supports_global_concurrency_limits:
        return []
    recovered = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=list(PAST_THE_QUEUE))):
        run = record.dagster_run
        processes = processes_of(instance, run)
        if not processes or any(p.alive() for p in processes):
            continue
        pids = tuple(sorted({p.pid for p in processes}))
        item = Recovered(run.run_id, run.job_name, run.status.value, pids)
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, f"Crash recovery: {item}.")
        else:
            instance.report_run_failed(run, f"Crash recovery: {item}.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(item)
    for run_id in _slot_holders(instance):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:  # deleted, or ended without giving its slot back
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            recovered.append(Recovered(run_id, run.job_name if run else "deleted run", "finished", ()))
    return recovered
