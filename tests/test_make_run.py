"""`make run` as an operator meets it: `python -m pipeline.run` in a fresh process over small demo extracts, once with
its output piped (plain lines) and once on a terminal (rich's live display) over extracts with one broken value.

What it prints is checked against what Dagster recorded of the same run and against the extracts themselves; the
exit code says whether an ERROR check failed; housekeeping leaves only the configured number of dbt target folders.
"""

from __future__ import annotations

import csv
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT
from pipeline.housekeeping import INVOCATION

LEADS, MONTHS, SEED = 2_000, 12, 11
KEEP_TARGETS = 1
#: A dbt invocation folder of an earlier run: a run makes one (one `dbt build`), so housekeeping has this to prune.
EARLIER_INVOCATION = "dbt_models-0000000-0000000"
TIMEOUT = 900
HEADER = "month    stage"  # the funnel table's header line
FORMAT = "%Y/%m/%d %H:%M:%S"  # timestamps of the demo's SFA extract
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class Ran:
    code: int
    out: str
    err: str
    run: dg.DagsterRun
    events: list[dg.EventLogEntry]


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("make_run")
    landing = root / "landing"
    demo.generate(LEADS, MONTHS, SEED, landing)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (root / "dbt_targets" / EARLIER_INVOCATION).mkdir(parents=True)
    return {"root": root, "landing": landing, "home": home, "targets": root / "dbt_targets"}


def _env(place: dict[str, Path], landing: Path, warehouse: Path) -> dict[str, str]:
    warehouse.parent.mkdir(parents=True, exist_ok=True)  # make run writes into an existing folder only
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DAGSTER_", "DBT_"))}
    env.update(
        FUNNEL_LANDING_DIR=str(landing),
        FUNNEL_WAREHOUSE=str(warehouse),
        FUNNEL_RETAIN_DBT_TARGETS=str(KEEP_TARGETS),
        DAGSTER_HOME=str(place["home"]),
        DBT_TARGET_PATH=str(place["targets"]),  # dagster-dbt's invocation folders, here instead of transforms/target
        COLUMNS="160",
        TERM="xterm-256color",
    )
    return env


def _recorded(place: dict[str, Path]) -> tuple[dg.DagsterRun, list[dg.EventLogEntry]]:
    with dg.DagsterInstance.from_config(str(place["home"])) as instance:
        run = instance.get_runs(limit=1)[0]
        return run, list(instance.all_logs(run.run_id))


def _piped(place: dict[str, Path], env: dict[str, str]) -> Ran:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    return Ran(done.returncode, done.stdout, done.stderr, *_recorded(place))


def _on_a_terminal(place: dict[str, Path], env: dict[str, str]) -> Ran:
    """Run with stdout on a pseudo-terminal of 160 columns, as in a shell; stderr to a file."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    err_file = place["root"] / "stderr.txt"
    with err_file.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=err,
        )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return Ran(code, b"".join(chunks).decode("utf-8", "replace"), err_file.read_text(), *_recorded(place))


def _invocation_folders(place: dict[str, Path]) -> list[str]:
    return sorted(p.name for p in place["targets"].iterdir() if p.is_dir() and INVOCATION.match(p.name))


def _dbt_invocations(run: dg.DagsterRun, events: list[dg.EventLogEntry]) -> int:
    """dbt steps of the run (each one dbt invocation): steps whose materializations carry dbt's unique_id."""
    steps = {
        e.step_key
        for e in events
        if e.dagster_event
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and "unique_id" in e.dagster_event.event_specific_data.materialization.metadata
    }
    return len(steps)


@pytest.fixture(scope="module")
def clean(place) -> Ran:
    return _piped(place, _env(place, place["landing"], place["root"] / "clean" / "themodel.duckdb"))


def test_a_clean_run_exits_0_with_a_line_per_step_and_the_funnel_table_within_40_lines(clean, place):
    assert clean.code == 0, clean.err[-3000:]
    lines = clean.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    assert header <= 40, "\n".join(lines[:header])
    # one line per step Dagster ran, in the order the steps finished
    events = [e.dagster_event for e in clean.events if e.dagster_event]
    finished = [e.step_key for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS]
    step_lines = [line for line in lines[:header] if line.startswith("  ok ")]
    assert len(step_lines) == len(finished) >= 15
    materialized: dict[str, list[str]] = {}
    for e in events:
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialized.setdefault(e.step_key, []).append(e.asset_key.to_user_string())
    for line, step in zip(step_lines, finished):
        assets = materialized.get(step, [])
        assert line.split()[1] == (assets[0] if len(assets) == 1 else step), (line, step)
    # rows of each extracted entity, counted in the extract files themselves
    for path in sorted(place["landing"].glob("*/*/*.csv")):
        system, entity = path.parts[-3], path.parts[-2]
        with path.open(encoding="utf-8") as f:
            rows = sum(1 for _ in csv.reader(f)) - 1
        line = next(line for line in step_lines if line.split()[1] == f"extracted/{system}_{entity}")
        assert f" {rows:,} rows " in line, line
    checks = [e for e in events if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert f"materialized {sum(map(len, materialized.values()))} assets; {len(checks)}/{len(checks)} checks" in (
        clean.out
    )
    assert "Monthly funnel, period view" in clean.out and not clean.err.strip()


def test_dbt_s_per_node_log_goes_to_the_tool_log_whose_path_is_printed(clean):
    path = Path(re.search(r"tool log \(.*\): (\S+)", clean.out).group(1))
    log = path.read_text(encoding="utf-8")
    assert re.search(r"\d+ of \d+ START sql (view|table) model staging\.stg_ma__leads", log)
    assert "STEP_SUCCESS" in log  # Dagster's event log of the run, too
    assert " START sql " not in clean.out and "stg_ma__leads" not in clean.out


def test_housekeeping_keeps_the_configured_number_of_dbt_target_folders_the_current_run_s(clean, place):
    assert _dbt_invocations(clean.run, clean.events) == 1  # one dbt build per run
    kept = _invocation_folders(place)
    assert len(kept) == KEEP_TARGETS and EARLIER_INVOCATION not in kept
    assert {INVOCATION.match(name)["run"] for name in kept} == {clean.run.run_id[:7]}
    assert re.search(rf"housekeeping: 1 dbt target folder\(s\) deleted .*, {KEEP_TARGETS} kept", clean.out)


def _break(landing: Path) -> None:
    """One SFA lead first contacted the day before it was created (a Great Expectations ERROR, nothing else) and
    one MA lead whose created_at is not a timestamp (quarantined with a WARN, under the bad-row floor)."""
    path = next((landing / "sfa" / "leads").glob("*.csv"))
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    created, contacted = rows[0].index("created_at"), rows[0].index("first_contact_at")
    row = next(r for r in rows[1:] if r[contacted])
    row[contacted] = f"{datetime.strptime(row[created], FORMAT) - timedelta(days=1):{FORMAT}}"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    with next((landing / "ma" / "leads").glob("*.csv")).open("a", encoding="utf-8") as f:
        f.write('"0009999999","x@example.co.jp","X","not a date","webinar","CMP-X"\n')


def test_a_failed_error_check_exits_1_listing_it_and_still_prints_the_funnel_on_a_terminal(clean, place):
    landing = place["root"] / "broken"
    shutil.copytree(place["landing"], landing)
    _break(landing)
    ran = _on_a_terminal(place, _env(place, landing, place["root"] / "broken" / "themodel.duckdb"))
    screen = ANSI.sub("", ran.out.replace("\r", "\n"))
    assert ran.code == 1, (screen[-3000:], ran.err)
    assert "assets and checks" in screen  # rich's live bar was drawn while the run went
    failed = {
        (
            e.dagster_event.event_specific_data.asset_key.to_user_string(),
            e.dagster_event.event_specific_data.severity.value,
        )
        for e in ran.events
        if e.dagster_event
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and not e.dagster_event.event_specific_data.passed
    }
    assert failed == {("extracted/sfa_leads", "ERROR"), ("extracted/ma_leads", "WARN")}
    assert re.search(
        r"ERROR extracted/sfa_leads great_expectations: 1 of \d+ expectations failed: "
        r"expect_column_pair_values_a_to_be_greater_than_b\(first_contact_at, created_at\)",
        screen,
    )
    leads = next((landing / "ma" / "leads").glob("*.csv"))  # _break appended the bad row: the file's last line
    assert (
        "WARN extracted/ma_leads quarantine: 1 row(s) of ma_leads are in extracted.quarantine; first "
        f"{leads.relative_to(landing)} line {len(leads.read_text(encoding='utf-8').splitlines())}, column created_at: "
        "value 'not a date' is not a valid timestamp"
    ) in " ".join(screen.split())
    assert screen.index("ERROR extracted/sfa_leads") < screen.index("Monthly funnel, period view")
    assert "1 ERROR check(s) failed (listed above the funnel table): exit code 1" in ran.err
    kept = _invocation_folders(place)
    assert len(kept) == KEEP_TARGETS and {INVOCATION.match(n)["run"] for n in kept} == {ran.run.run_id[:7]}
