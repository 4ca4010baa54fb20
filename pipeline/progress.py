"""What `make run` shows while it works: a line per step as it finishes (what, rows, checks, seconds).

Dagster hands every record of a run to the loggers of its job, and a record of an event carries the DagsterEvent
(the `dagster_event` attribute of the record, as Dagster's own JSON logger reads it). `progress_logger` is such a
logger: selected in the run config, it follows steps starting and finishing, materializations with their
`dagster/row_count` (or `rows`) metadata and check evaluations, and writes the run's event log as text to the tool
log too, so a failure's traceback is kept there while the screen shows one line.

On a terminal, rich draws a live bar of the assets and checks done under the finished steps; anywhere else (a pipe,
a file, cron, CI) each finished step is one plain line, flushed at once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol, TextIO

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

#: Events too many and too small for the tool log (one per output, planned asset or check).
QUIET = frozenset(
    {dg.DagsterEventType.STEP_OUTPUT, dg.DagsterEventType.HANDLED_OUTPUT, dg.DagsterEventType.LOADED_INPUT}
)


@dataclass
class Step:
    """One step of the run (an asset, a multi-asset such as a dbt build, or a check)."""

    key: str
    started: float = field(default_factory=time.monotonic)
    assets: list[str] = field(default_factory=list)
    rows: int | None = None
    checks: int = 0
    checks_failed: int = 0
    seconds: float | None = None
    outcome: str = "running"  # then "ok", "FAILED", "skipped" or "not run"

    @property
    def what(self) -> str:
        if len(self.assets) == 1:
            return self.assets[0]
        return f"{self.key} ({len(self.assets)} assets)" if self.assets else self.key

    def line(self) -> str:
        rows = f"{self.rows:,} rows" if self.rows is not None else ""
        checks = f"{self.checks - self.checks_failed}/{self.checks} checks" if self.checks else ""
        seconds = f"{self.seconds:.1f} s" if self.seconds is not None else ""
        if self.outcome == "not run":
            return f"  {self.outcome:<8}{self.what}: an upstream step failed"
        return f"  {self.outcome:<8}{self.what:<40} {rows:>14} {checks:>14} {seconds:>9}".rstrip()


class Display(Protocol):
    def planned(self, total: int) -> None: ...
    def started(self, step: Step) -> None: ...
    def advanced(self, step: Step) -> None: ...
    def finished(self, step: Step) -> None: ...
    def close(self) -> None: ...


class PlainDisplay:
    """A line per finished step, for output that is not a terminal."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def planned(self, total: int) -> None:
        pass

    def started(self, step: Step) -> None:
        pass

    def advanced(self, step: Step) -> None:
        pass

    def finished(self, step: Step) -> None:
        print(step.line(), file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveDisplay:
    """Finished steps printed above a live bar of the assets and checks done, and the running step."""

    STYLE = {"ok": "green", "FAILED": "bold red", "skipped": "yellow", "not run": "yellow"}

    def __init__(self, console: Console):
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("assets and checks"),
            TimeElapsedColumn(),
            console=console,
            transient=True,  # the bar goes when the run ends; the step lines stay
            redirect_stdout=False,  # stdout is the tool log while the run goes (dbt's lines)
            redirect_stderr=False,
        )
        self.task = self.progress.add_task("starting", total=None)
        self.progress.start()

    def planned(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def started(self, step: Step) -> None:
        self.progress.update(self.task, description=step.key)

    def advanced(self, step: Step) -> None:
        self.progress.update(
            self.task, advance=1, description=f"{step.key}: {len(step.assets)} assets, {step.checks} checks"
        )

    def finished(self, step: Step) -> None:
        line = Text(step.line())
        line.stylize(self.STYLE.get(step.outcome, ""), 2, 2 + len(step.outcome))
        self.progress.console.print(line, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.progress.stop()


def display_for(stream: TextIO) -> Display:
    """A live display on a terminal, plain lines anywhere else."""
    console = Console(file=stream)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveDisplay(console)
    return PlainDisplay(stream)


class RunProgress:
    """Steps of one run, followed from its Dagster events, shown on a Display as they start, advance and finish."""

    def __init__(self, display: Display):
        self.display = display
        self.steps: dict[str, Step] = {}

    def _finish(self, step: Step, outcome: str) -> None:
        step.outcome = outcome
        step.seconds = time.monotonic() - step.started
        self.display.finished(step)

    def event(self, event: dg.DagsterEvent) -> None:
        kind, key = event.event_type, event.step_key
        if kind == dg.DagsterEventType.STEP_START:
            self.steps[key] = Step(key)
            self.display.started(self.steps[key])
        elif key not in self.steps:
            return
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            step = self.steps[key]
            materialization = event.event_specific_data.materialization
            step.assets.append(materialization.asset_key.to_user_string())
            rows = _rows(materialization.metadata)
            if rows is not None:
                step.rows = (step.rows or 0) + rows
            self.display.advanced(step)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            step = self.steps[key]
            step.checks += 1
            step.checks_failed += not event.event_specific_data.passed
            self.display.advanced(step)
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            self._finish(self.steps[key], "ok")
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self._finish(self.steps[key], "FAILED")
        elif kind == dg.DagsterEventType.STEP_SKIPPED:
            self._finish(self.steps[key], "skipped")

    def not_run(self, key: str) -> None:
        """A step Dagster did not start because a step it needs failed (it logs that as an error, not an event)."""
        if key not in self.steps:
            self.steps[key] = step = Step(key, outcome="not run")
            self.display.finished(step)


def _rows(metadata: dict[str, dg.MetadataValue]) -> int | None:
    for name in ("dagster/row_count", "rows"):
        value = metadata.get(name)
        if value is not None and isinstance(value.value, int):
            return value.value
    return None


class _EventHandler(logging.Handler):
    def __init__(self, progress: RunProgress):
        super().__init__(logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is not None:
            self.progress.event(event)
            return
        meta = getattr(record, "dagster_meta", None) or {}
        if record.levelno >= logging.ERROR and meta.get("step_key"):
            self.progress.not_run(meta["step_key"])


class _ToolLog(logging.Handler):
    """The run's records as text, without the per-output and planning events."""

    def __init__(self, stream: TextIO):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None or event.event_type not in QUIET:
            self.stream.write(self.format(record) + "\n")
            self.stream.flush()


#: What a run will do, recorded by Dagster when the run is created (before any logger exists).
PLANNED = {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}


def progress_logger(progress: RunProgress, tool_log: TextIO, instance: dg.DagsterInstance) -> dg.LoggerDefinition:
    """A Dagster logger feeding `progress` and writing the run's event log to `tool_log`; select it in the run
    config as {"loggers": {"progress": {}}} of a job whose definitions have it under that name. The run's planned
    assets and checks, read from `instance`, are the length of the bar."""

    def build(context: dg.InitLoggerContext) -> logging.Logger:
        planned = instance.get_records_for_run(context.run_id, of_type=PLANNED, limit=1_000_000).records
        progress.display.planned(len(planned))
        logger = logging.Logger("funnel.progress", logging.DEBUG)  # not registered: no other handler sees it
        logger.addHandler(_EventHandler(progress))
        logger.addHandler(_ToolLog(tool_log))
        return logger

    return dg.LoggerDefinition(build, description="Steps as they finish, for `make run`; the event log as text.")
