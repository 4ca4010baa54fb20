"""Which process a run is, and whether it still lives: the one fact crash recovery rests on.

A run recorded as in progress may be alive in another process or dead after SIGKILL (or a power cut), and only the
first must never be touched. A process id alone cannot tell them apart after the id is reused, so a process is
known by its host, its id and its start time (psutil): the process with that id now is the run's process only if it
started no later than the run's process did. Runs of `make run` carry the three as tags; for runs the Dagster
daemon launched, every event a run's process records carries its id, and the event's time bounds its start.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import psutil

#: Run tags naming the process of a `make run` run.
HOST_TAG, PID_TAG, STARTED_TAG = "funnel/host", "funnel/pid", "funnel/process_started"
#: Events written by a run's own processes (the run worker, a step's process), never by the daemon or webserver.
OWN_EVENTS = {dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_START}
#: psutil's start times are rounded to the clock tick; a process is not newer than this past a recorded time.
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class RunProcess:
    """A process by host, id and a time it is known to have been running at (its start, or an event it wrote)."""

    host: str
    pid: int
    seen_at: float

    def alive(self) -> bool:
        """Whether this process still runs. On another host it cannot be told, and counts as alive."""
        if self.host != socket.gethostname():
            return True
        try:
            process = psutil.Process(self.pid)
            if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped by its parent
                return False
            started = process.create_time()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return False
        except psutil.AccessDenied:
            return True
        return started <= self.seen_at + TICK_SECONDS  # a later start is another process with a reused id


def this_process() -> dict[str, str]:
    """The tags that name the calling process as a run's process."""
    me = psutil.Process()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(me.pid), STARTED_TAG: repr(me.create_time())}


def processes_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[RunProcess]:
    """Every process the run is known to have run in: from its tags and from the events its processes wrote."""
    found = []
    if {HOST_TAG, PID_TAG, STARTED_TAG} <= run.tags.keys():
        found.append(RunProcess(run.tags[HOST_TAG], int(run.tags[PID_TAG]), float(run.tags[STARTED_TAG])))
    host = run.tags.get(HOST_TAG, socket.gethostname())  # Dagster's sqlite storage lives on the runs' host
    for entry in instance.all_logs(run.run_id, of_type=OWN_EVENTS):
        if entry.dagster_event and entry.dagster_event.pid:
            found.append(RunProcess(host, entry.dagster_event.pid, entry.timestamp))
    return found


def describe(pid: int) -> str:
    """`process 123 (python -m pipeline.run, started 2026-11-30 08:34)` for a message; just the id when gone."""
    try:
        process = psutil.Process(pid)
        command = " ".join(process.cmdline()) or process.name()
        started = datetime.fromtimestamp(process.create_time()).astimezone()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return f"process {pid}"
    if len(command) > 100:
        command = command[:97] + "..."
    return f"process {pid} ({command}, started {started:%Y-%m-%d %H:%M:%S %Z})"
