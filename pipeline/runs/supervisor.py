"""A run of a job in this process (`make run`) that always ends: bounded waits, Ctrl-C and SIGTERM, its slots.

Dagster's in-process executor waits for a pool slot in a loop that neither sleeps nor looks at interrupts, so a step
waiting for the `duckdb_warehouse` slot of another run spins a core and ignores Ctrl-C and SIGTERM for as long as
that run holds it; and a run stopped inside a step does not give back the slot the step claimed. So the run goes
through a supervisor:

- First the runs whose processes are gone give back what they hold (recovery.py), and the run waits, asleep, while
  a live run holds the pool's slot: at most the lock timeout, then it stops and names the holder. Recovery is
  tried again at every look, so a holder that dies during the wait is recovered and the wait ends.
- Then the warehouse file is opened once, read/write as the steps will, and closed: a program outside Dagster
  that has it open (a DuckDB CLI, a notebook) is waited for once, at most the lock timeout, and named, rather
  than by every step in turn, each failing after the whole timeout with the same message.
- The run is tagged with its process (processes.py), so a later run can tell if it dies.
- A thread watches it. Told of Ctrl-C or SIGTERM (through the signal wake-up fd, which Dagster leaves alone while it
  holds the signals), it lets Dagster interrupt the running step (dagster-dbt passes SIGINT on to dbt); when the run
  waits for a slot, or its step has not ended GRACE_SECONDS after the signal, the thread stops the run itself. A
  step that waits for the slot longer than the lock timeout stops the run too, unless the holder dies: it is
  recovered as it would be before the run. Stopping records the run as canceled or failed, frees its slots, ends
  its child processes (dbt) and exits the process, since Dagster's loop cannot be left any other way; what DuckDB
  had written is as safe as after SIGKILL (transactions, write-ahead log).
- When the run ends, any slot it still holds is freed and a run left unfinished is marked failed or canceled.
Signal handlers can only be set in the main thread, so supervise() must be called there.
Exit codes: 128 + the signal (130 for Ctrl-C, 143 for SIGTERM), EXIT_WAREHOUSE_BUSY when the warehouse stayed busy,
EXIT_CONFIG_ERROR when the warehouse file cannot be opened for another reason (it is not a DuckDB file).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import dagster as dg
import psutil

from pipeline.config.files import EXIT_CONFIG_ERROR
from pipeline.config.settings import WAREHOUSE_POOL
from pipeline.outcome import EXIT_WAREHOUSE_BUSY
from pipeline.runs.processes import describe, processes_of, this_process
from pipeline.runs.recovery import recover
from pipeline.warehouse.locks import WarehouseLocationError
from pipeline.warehouse.resource import Warehouse, WarehouseBusyError

#: How long a step may take to stop after Ctrl-C or SIGTERM before the supervisor stops the run itself.
GRACE_SECONDS = 15.0
#: How often the pool and the signals are looked at.
POLL_SECONDS = 0.5
#: How long child processes (dbt) get to exit after SIGTERM before they are killed.
CHILD_EXIT_SECONDS = 5.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

R = TypeVar("R")


class Stopped(BaseException):
    """Ctrl-C or SIGTERM outside Dagster's execution (a BaseException, so no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class WarehouseBusy(Exception):
    """Another live run held the warehouse's pool slot for the whole lock timeout."""


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


def _holders(instance: dg.DagsterInstance, pool: str, run_id: str) -> str | None:
    """Who holds the pool's slots when this run cannot have one, described for a person; None when one is free."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    others = [s for s in info.claimed_slots if s.run_id != run_id]
    if not others or (info.limit is not None and len(info.claimed_slots) < info.limit):
        return None
    described = []
    for slot in others:
        run = instance.get_run_by_id(slot.run_id)
        pids = sorted({p.pid for p in processes_of(instance, run) if p.alive()}) if run else []
        where = "; ".join(describe(pid) for pid in pids) or "its process unknown"
        described.append(f"run {slot.run_id} (step {slot.step_key}, {where})")
    return ", ".join(described)


@dataclass
class Supervised(Generic[R]):
    """How a supervised run ended: `result` when it ran to its end, else why it was `stopped` and the process's
    `exit_code` for that."""

    run_id: str
    result: R | None = None
    stopped: str | None = None
    exit_code: int = 0
    recovered: list[str] = field(default_factory=list)


def supervise(
    instance: dg.DagsterInstance,
    warehouse: Warehouse,
    execute: Callable[[str, dict[str, str]], R],
    pool: str = WAREHOUSE_POOL,
) -> Supervised[R]:
    """`execute(run_id, tags)` (a job's execute_in_process with that run id and tags, writing `warehouse`) under a
    supervisor; every wait is bounded by the warehouse's lock timeout."""
    return RunSupervisor(instance, warehouse, pool).run(execute)


class RunSupervisor:
    """Supervises the one run this process executes (see the module's docstring)."""

    def __init__(self, instance: dg.DagsterInstance, warehouse: Warehouse, pool: str) -> None:
        self.instance, self.warehouse, self.pool = instance, warehouse, pool
        self.lock_timeout = warehouse.lock_timeout_seconds
        self.run_id = str(uuid.uuid4())  # the form of a Dagster run id
        self._signum: int | None = None
        self._signaled_at = 0.0
        self.recovered: list[str] = []  # what crash recovery did while this run started and waited
        self._done = threading.Event()
        self._stopping = threading.Lock()

    # --- in the main thread ---------------------------------------------------------------------------------------

    def run(self, execute: Callable[[str, dict[str, str]], R]) -> Supervised[R]:
        outcome: Supervised[R] = Supervised(self.run_id, recovered=self.recovered)
        handlers = {s: signal.signal(s, _raise_stopped) for s in STOP_SIGNALS}
        self._reader, writer = socket.socketpair()
        writer.setblocking(False)
        wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._stderr = os.dup(2)  # Dagster's log capture points fd 2 elsewhere while the run executes
        watcher = threading.Thread(target=self._watch, name="run-supervisor", daemon=True)
        watcher.start()
        try:
            self._recover()
            self._wait_for_pool()
            self._wait_for_file()
            outcome.result = execute(self.run_id, this_process())
        except Stopped as exc:
            self._signum = self._signum or exc.signum
        except WarehouseBusy as exc:
            outcome.stopped, outcome.exit_code = str(exc), EXIT_WAREHOUSE_BUSY
        except WarehouseBusyError as exc:
            outcome.stopped, outcome.exit_code = f"{exc} Nothing was run.", EXIT_WAREHOUSE_BUSY
        except WarehouseLocationError as exc:  # not a DuckDB file, say: every step would fail on it
            outcome.stopped, outcome.exit_code = f"{exc}: nothing was run", EXIT_CONFIG_ERROR
        finally:
            self._done.set()
            with contextlib.suppress(OSError):  # wakes the watcher now rather than at the end of its POLL_SECONDS
                writer.send(b"\0")
            watcher.join()
            signal.set_wakeup_fd(wakeup)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self._reader.close()
            writer.close()
            os.close(self._stderr)
            with self._stopping:
                self._finish(None)
        if self._signum is not None:
            outcome.stopped, outcome.exit_code = self._signal_message(), 128 + self._signum
        return outcome

    def _recover(self) -> bool:
        """Recover the runs whose processes are gone (recovery.py), saying so on stderr; whether there were any."""
        recovered = [str(r) for r in recover(self.instance)]
        for line in recovered:
            os.write(self._stderr, f"crash recovery: {line}\n".encode())  # fd 2 is Dagster's while the run executes
        self.recovered.extend(recovered)
        return bool(recovered)

    def _wait_for_pool(self) -> None:
        """Sleep while a live run holds the pool's slot, at most the lock timeout; WarehouseBusy after that. The
        holder's death ends the wait: it is recovered at the next look."""
        deadline, told = time.monotonic() + self.lock_timeout, False
        while (holders := _holders(self.instance, self.pool, self.run_id)) is not None:
            if time.monotonic() >= deadline:
                raise WarehouseBusy(self._busy_message(holders))
            if not told:
                print(f"waiting for the warehouse, held by {holders}", file=sys.stderr, flush=True)
                told = True
            time.sleep(POLL_SECONDS)
            self._recover()

    def _wait_for_file(self) -> None:
        """Open the warehouse as the steps will (read/write) and close it, waiting at most the lock timeout for a
        process that has it open; WarehouseBusyError, naming that process, after that."""

        def tell(holder: str) -> None:
            print(f"waiting for the warehouse, held by {holder}", file=sys.stderr, flush=True)

        with self.warehouse.connect(on_wait=tell):
            pass

    def _busy_message(self, holders: str) -> str:
        return (
            f"the warehouse stayed busy for {self.lock_timeout:g} s (FUNNEL_LOCK_TIMEOUT_SECONDS): the pool "
            f"{self.pool} is held by {holders}. Run again when it has ended, or stop it (`make ui`, Runs)."
        )

    def _signal_message(self) -> str:
        name = signal.Signals(self._signum).name
        return (
            f"stopped by {name}: run {self.run_id} did not finish and holds nothing; what it wrote is kept, "
            "and the next run carries on from there"
        )

    # --- in the watching thread or at the end ---------------------------------------------------------------------

    def _finish(self, failure: str | None) -> None:
        """Record the run as ended (canceled after a signal, else failed) unless it is, and free its slots."""
        run = self.instance.get_run_by_id(self.run_id)
        if run is None:
            return
        if not run.is_finished:
            if self._signum is not None:
                self.instance.report_run_canceled(run, self._signal_message())
            else:
                self.instance.report_run_failed(run, failure or "The run's process ended without recording its end.")
        self.instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)

    def _watch(self) -> None:
        blocked_since = None
        while not self._done.is_set():
            if select.select([self._reader], [], [], POLL_SECONDS)[0]:
                for signum in self._reader.recv(64):
                    if signum in STOP_SIGNALS and self._signum is None:
                        self._signum, self._signaled_at = signum, time.monotonic()
            run = self.instance.get_run_by_id(self.run_id)
            if self._done.is_set() or run is None or run.is_finished:
                continue
            holders = self._blocked_by()
            if holders and self._recover():  # the holder died: its slot is free, and any new wait starts now
                holders, blocked_since = self._blocked_by(), None
            now = time.monotonic()
            blocked_since = (blocked_since or now) if holders else None
            if self._signum is not None and (holders or now - self._signaled_at > GRACE_SECONDS):
                self._stop(self._signal_message(), 128 + self._signum)
            if blocked_since is not None and now - blocked_since > self.lock_timeout:
                self._stop(self._busy_message(holders), EXIT_WAREHOUSE_BUSY)

    def _blocked_by(self) -> str | None:
        """Who holds the slot a step of this run waits for, or None when no step of it waits."""
        info = self.instance.event_log_storage.get_concurrency_info(self.pool)
        waiting = {p.step_key for p in info.pending_steps if p.run_id == self.run_id}
        holding = {s.step_key for s in info.claimed_slots if s.run_id == self.run_id}
        if not waiting - holding:
            return None
        return _holders(self.instance, self.pool, self.run_id) or "a run that is just letting it go"

    def _stop(self, message: str, code: int) -> None:
        """End the run from this thread: recorded, slots freed, child processes ended, the process exited."""
        if not self._stopping.acquire(blocking=False):
            return
        try:
            _end_children()
            sys.stdout.flush()
            # Dagster's loop may queue a claim again before the exit; the next run's recovery frees it then
            self._finish(message)
        except Exception as exc:  # the process must exit all the same
            message = f"{message} (while stopping: {exc!r})"
        finally:
            os.write(self._stderr, f"{message}\n".encode())
            os._exit(code)


def _end_children() -> None:
    """SIGTERM to every process this one started (dbt), SIGKILL to those still there CHILD_EXIT_SECONDS later."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    for child in psutil.wait_procs(children, timeout=CHILD_EXIT_SECONDS)[1]:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
