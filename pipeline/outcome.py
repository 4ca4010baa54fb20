"""What a run of `refresh` came to, for people and for scripts: the exit code of `make run` and the lines that say why.

A run fails (exit code 1) when a step failed or when any check of severity ERROR failed, blocking or not: the
Great Expectations suites and most dbt tests do not stop the run, yet their failure means numbers built on bad
input. Checks of severity WARN that fail are listed briefly and leave the exit code 0.

A step that failed because another process held the warehouse file past the lock timeout (WarehouseBusyError,
pipeline/warehouse/locks.py, found anywhere in the step's chain of errors) did not fail on its own: when every
failed step failed so, and no ERROR check failed, the run exits EXIT_WAREHOUSE_BUSY, and the busy steps share
one line, since each step waited for the same holder and says the same thing.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from pipeline.warehouse.locks import WarehouseBusyError

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo  # Dagster's serialized exception (event data)

#: Exit codes of `make run` (pipeline/run.py, README.md).
EXIT_OK = 0
EXIT_FAILED = 1  # a step or an ERROR-severity check failed
# 2: a configuration mistake or no extracts, before anything ran (pipeline.config.files.EXIT_CONFIG_ERROR)
#: Another process or live run held the warehouse for the whole lock timeout (sysexits' EX_TEMPFAIL: try later).
EXIT_WAREHOUSE_BUSY = 75

#: At most this many failed checks of each severity are listed; the rest are counted (all are in `make ui`).
LISTED = {"ERROR": 10, "WARN": 5}
#: At most this many of the errors of a failed dbt build are quoted (all are in the tool log).
LISTED_DBT_ERRORS = 3
#: A reason longer than one line goes on over at most this many lines of this width, each indented under it, so
#: that an ingest error's file, column and row stay on the screen (the whole text is in the tool log).
REASON_LINES, REASON_WIDTH, CONTINUED = 4, 160, "\n      "

#: Where dagster-dbt's error quotes dbt's log, whose colour codes are dropped; each error there is a header line
#: ("Runtime Error in test unique_… (models/…)", or "Failure in test <name> (…)" for a test of severity error that
#: found rows) followed by what went wrong.
_DBT_ERRORS = "Errors parsed from dbt logs:"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DBT_ERROR_HEADER = re.compile(r"^\s*[\w ]*Error in \w+ ")
_DBT_TEST_FAILURE = re.compile(r"^\s*Failure in test (\w+)")


def wrapped(text: str) -> str:
    """`text` on one line, or over at most REASON_LINES indented lines, the rest cut with "…"."""
    lines = textwrap.wrap(" ".join(text.split()), REASON_WIDTH, break_long_words=False, break_on_hyphens=False)
    if len(lines) > REASON_LINES:
        lines = [*lines[: REASON_LINES - 1], lines[REASON_LINES - 1][: REASON_WIDTH - 1] + "…"]
    return CONTINUED.join(lines)


@dataclass(frozen=True)
class FailedCheck:
    asset: str
    check: str
    severity: str
    reason: str

    def line(self) -> str:
        return f"  {self.severity:<5} {self.asset} {self.check}" + (f": {self.reason}" if self.reason else "")


@dataclass(frozen=True)
class FailedStep:
    key: str
    reason: str
    busy: bool = False  # it failed because the warehouse stayed held by another process


@dataclass(frozen=True)
class Outcome:
    """The materializations, checks and failures of one run."""

    materialized: int
    checks: int
    passed: int
    failed_checks: list[FailedCheck]
    failed_steps: list[FailedStep]
    run_succeeded: bool

    @property
    def errors(self) -> list[FailedCheck]:
        return [c for c in self.failed_checks if c.severity == "ERROR"]

    @property
    def warnings(self) -> list[FailedCheck]:
        return [c for c in self.failed_checks if c.severity != "ERROR"]

    @property
    def busy_steps(self) -> list[FailedStep]:
        return [s for s in self.failed_steps if s.busy]

    @property
    def exit_code(self) -> int:
        if self.run_succeeded and not self.errors:
            return EXIT_OK
        if self.failed_steps and all(s.busy for s in self.failed_steps) and not self.errors:
            return EXIT_WAREHOUSE_BUSY  # only the busy warehouse stopped it: a later run may well succeed
        return EXIT_FAILED

    def lines(self) -> list[str]:
        """One summary line, then the failed steps (those the busy warehouse stopped on one line per holder's
        message) and checks (ERROR first, then WARN), each list capped."""
        lines = [f"materialized {self.materialized} assets; {self.passed}/{self.checks} checks passed"]
        lines += [f"  step failed: {s.key}: {s.reason}" for s in self.failed_steps if not s.busy]
        by_reason: dict[str, list[str]] = {}
        for step in self.busy_steps:
            by_reason.setdefault(step.reason, []).append(step.key)
        lines += [
            f"  {len(keys)} step(s) failed, the warehouse busy ({', '.join(keys)}): {reason}"
            for reason, keys in by_reason.items()
        ]
        for severity, failed in (("ERROR", self.errors), ("WARN", self.warnings)):
            lines += [c.line() for c in failed[: LISTED[severity]]]
            if len(failed) > LISTED[severity]:
                lines.append(f"  … and {len(failed) - LISTED[severity]} more {severity} check(s) (`make ui`)")
        return lines

    def verdict(self) -> str | None:
        """The closing line for stderr when the exit code is not 0."""
        if self.exit_code == EXIT_WAREHOUSE_BUSY:
            return (
                "the warehouse stayed busy (FUNNEL_LOCK_TIMEOUT_SECONDS), so the run could not finish; what it wrote "
                f"is kept and the next run carries on from there: exit code {EXIT_WAREHOUSE_BUSY}"
            )
        if not self.run_succeeded:
            return "the run failed; see above (the tool log and `make ui` have the details): exit code 1"
        if self.errors:
            return f"{len(self.errors)} ERROR check(s) failed (listed above the funnel table): exit code 1"
        return None


def check_reason(evaluation: dg.AssetCheckEvaluation) -> str:
    """One line saying why a check failed: its description and, for a Great Expectations suite, which expectations
    failed; for a dbt test, what dbt reported."""
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    text = (evaluation.description or "").strip()
    text = text.splitlines()[0] if text else ""
    expectations = [f.get("expectation") for f in metadata.get("failed_details") or [] if isinstance(f, dict)]
    if text and any(expectations):
        text += ": " + ", ".join(e for e in expectations if e)
    if not text:
        failures, status = metadata.get("dagster_dbt/failed_row_count"), metadata.get("status")
        if status == "error":
            text = "the test could not run (the dbt build's error says why)"
        else:
            text = (
                f"{failures:,} failing row(s)"
                if isinstance(failures, int)
                else (f"dbt status {status}" if status else "")
            )
    return wrapped(text)


def _chain(error: SerializableErrorInfo | None) -> list[SerializableErrorInfo]:
    """The error and every error it was raised from or while handling, outermost first."""
    found = []
    while error is not None:
        found.append(error)
        error = error.cause or error.context
    return found


def busy_error(event: dg.DagsterEvent) -> SerializableErrorInfo | None:
    """The WarehouseBusyError behind a failed step, however the step's code wrapped it (Great Expectations does)."""
    return next((e for e in _chain(event.step_failure_data.error) if e.cls_name == WarehouseBusyError.__name__), None)


def dbt_errors(message: str) -> list[str]:
    """What went wrong in each error of a failed dbt build, as dagster-dbt quotes dbt's log in its error: the line
    after each error's header, once per distinct text (a missing exchange rate names its currency and month); for
    a failed test, its name with that line (dbt's "Got 1 result, configured to fail if != 0" alone names nothing)."""
    if _DBT_ERRORS not in message:
        return []
    lines = [s for line in _ANSI.sub("", message.partition(_DBT_ERRORS)[2]).splitlines() if (s := line.strip())]
    found: list[str] = []
    for header, detail in zip(lines, lines[1:], strict=False):
        if _DBT_ERROR_HEADER.match(detail):
            continue  # a test that could not run: "Failure in test …", then its "Runtime Error in test …" and why
        if failed := _DBT_TEST_FAILURE.match(header):
            detail = f"test {failed[1]} failed: {detail}"
        elif not _DBT_ERROR_HEADER.match(header):
            continue
        if detail not in found:
            found.append(detail)
    return found


def step_reason(event: dg.DagsterEvent) -> str:
    """The error of a failed step on one line, or a few (`wrapped`): the class, the message with long quoted
    commands elided; for a busy warehouse, the message that names the holding process; for a failed dbt build, what
    dbt said went wrong, one line per error."""
    if busy := busy_error(event):
        return " ".join((busy.message.partition(": ")[2] or busy.message).split())
    for error in _chain(event.step_failure_data.error):
        if found := dbt_errors(error.message):
            more = len(found) - LISTED_DBT_ERRORS
            quoted = [f"\n      {text}" for text in found[:LISTED_DBT_ERRORS]]
            return "dbt build failed:" + "".join(quoted) + (f"\n      … and {more} more (tool log)" if more > 0 else "")
    error = event.step_failure_data.error
    error = error.cause if error and error.cause else error
    if error is None:
        return event.message or ""
    text = re.sub(r"`[^`]{60,}`", "`…`", f"{error.cls_name}: {error.message.partition(': ')[2] or error.message}")
    return wrapped(text)


def outcome_of(result: dg.ExecuteInProcessResult) -> Outcome:
    events = result.all_events
    evaluations = [e.event_specific_data for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    return Outcome(
        materialized=len(result.get_asset_materialization_events()),
        checks=len(evaluations),
        passed=sum(c.passed for c in evaluations),
        failed_checks=sorted(
            (
                FailedCheck(c.asset_key.to_user_string(), c.check_name, c.severity.value, check_reason(c))
                for c in evaluations
                if not c.passed
            ),
            key=lambda c: c.severity != "ERROR",
        ),
        failed_steps=[
            FailedStep(e.step_key, step_reason(e), busy_error(e) is not None) for e in events if e.is_step_failure
        ],
        run_succeeded=result.success,
    )
