"""`make run`: every asset materialized through Dagster, then the monthly funnel of the latest months printed from
marts.funnel_kpi_monthly and the pipeline coverage of the open and next month from marts.pipeline_coverage. On a
fresh checkout, whose default landing folder is empty, it first writes the demo extracts there; a landing folder
that is configured (FUNNEL_LANDING_DIR) but missing or empty is an error, and demo extracts are never written over a
warehouse that holds loaded files.

    python -m pipeline.run [--months 6]

While it works it prints a line per step as the step finishes (what, rows, checks, seconds; a live bar on a
terminal, pipeline/progress.py); dbt's line per model and test and Dagster's event log go to the tool log whose path it
prints (warehouse/logs/run.log). Then the failed checks, the funnel table and, last, one line of housekeeping
(pipeline/housekeeping.py: old dbt target folders and runs deleted).

Exit codes:
    0  the run succeeded and no ERROR-severity check failed (failed WARN checks are listed, nothing more)
    1  a step failed, or an ERROR-severity check failed (listed; the funnel table is still printed when every
       step ran, so the numbers and the failure are both on the screen)
    2  before anything is written: a configuration file or FUNNEL_ variable is wrong (every mistake is printed as
       `file, line N: key: problem`), the warehouse folder is missing or read-only, the warehouse file is not a
       DuckDB database, DAGSTER_HOME is set but not a folder, or there are no extracts
    75 the warehouse stayed busy for FUNNEL_LOCK_TIMEOUT_SECONDS: another process (a DuckDB CLI, a notebook) had
       the file open, or a live run held its pool slot; one message names the holder. Before the run starts
       nothing is written; when a holder appears mid-run, the steps it kept out are listed on one line and what
       earlier steps wrote is kept. Try again later
    130, 143  stopped by Ctrl-C or SIGTERM: the run is marked canceled or failed and its warehouse slot freed

A run left unfinished by a process that died (kill -9, out of memory) is marked failed, and its slot freed, before
this one starts and while it waits for that run's slot (pipeline/runs/).
"""

from pipeline import heap

if __name__ == "__main__":  # `python -m pipeline.run`: no garbage collection while the libraries load (heap.py)
    heap.hold()

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.preflight import check_config
from pipeline.config.registry import funnel
from pipeline.config.settings import DEFAULT_LANDING_DIR, PROJECT_ROOT, Settings
from pipeline.config.sources import load_sources
from pipeline.figures import number, percent
from pipeline.housekeeping import Retention, TargetSweep, housekeep
from pipeline.ingest.sources.mapping import landing_layout, matched_files
from pipeline.outcome import EXIT_WAREHOUSE_BUSY, outcome_of
from pipeline.progress import RunProgress, display_for, progress_logger
from pipeline.runs.storage import history_instance
from pipeline.runs.supervisor import supervise
from pipeline.serving.coverage_table import coverage_table
from pipeline.warehouse.location import location_problem
from pipeline.warehouse.locks import WarehouseBusyError, WarehouseLocationError
from pipeline.warehouse.marts import marts_on
from pipeline.warehouse.resource import Warehouse

#: The landing folder of a fresh checkout: the only one `make run` writes demo extracts into.
DEFAULT_LANDING = PROJECT_ROOT / DEFAULT_LANDING_DIR


def landing_is_empty(landing_dir: Path, sources_config: Path | None = None) -> bool:
    """True when no entity of the input contract has an extract in the landing folder, in the canonical layout
    or, given the sources file, through any source it configures (docs/sources.md)."""
    sources = load_sources(sources_config, landing_dir).sources if sources_config else [landing_layout(landing_dir)]
    return not any(matched_files(s, m) for s in sources for m in s.entities.values())


def loaded_files(warehouse: Warehouse) -> int:
    """How many extract files the warehouse's load log holds (0 for a new or missing file). WarehouseBusyError when
    another process holds the file for the whole lock timeout."""
    if not Path(warehouse.path).exists():
        return 0
    with warehouse.connect(read_only=True) as con:
        logs = {f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
        log = next((t for t in ("extracted.load_log", "raw.load_log") if t in logs), None)  # raw: before 0.2.0
        return con.execute(f"select count(*) from {log}").fetchall()[0][0] if log else 0


def no_extracts(settings: Settings) -> str | None:
    """Why the run must stop before writing anything when the landing folder has no extract, or None when the
    demo extracts may be written: only into the default landing folder, and never over loaded files.
    WarehouseBusyError when the warehouse cannot be looked at because another process holds it."""
    landing, warehouse = Path(settings.landing_dir), Path(settings.warehouse_path)
    if landing.resolve() != DEFAULT_LANDING.resolve():
        state = "does not exist" if not landing.exists() else "holds no extract"
        return (
            f"{landing} {state}: nothing to load (FUNNEL_LANDING_DIR). Demo extracts are written only into "
            f"{DEFAULT_LANDING} or by `make demo`; {warehouse} was not touched."
        )
    try:
        files = loaded_files(Warehouse.of(settings))
    except (duckdb.Error, WarehouseLocationError) as exc:
        return f"{landing} holds no extract and {warehouse} cannot be read to check it holds none ({exc})"
    if files:
        return (
            f"{landing} holds no extract, but {warehouse} holds the rows of {files} loaded file(s): demo "
            "extracts would replace them. Put the extracts back, or point FUNNEL_WAREHOUSE at a new file."
        )
    return None


def run_log(settings: Settings) -> Path:
    """Where `make run` keeps the tools' log of its last run (dbt's line per node and test), beside the warehouse."""
    return Path(settings.warehouse_path).parent / "logs" / "run.log"


def materialize_all(
    settings: Settings,
    instance: dg.DagsterInstance,
    logger: dg.LoggerDefinition | None = None,
    run_id: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run refresh (every asset and check) in this process; steps run one at a time. The run's records go to
    `logger` (progress_logger) when given, else warnings and errors to the console (stderr)."""
    from pipeline.definitions import build_definitions  # parses the dbt project on first import

    defs = build_definitions(settings)
    if logger is None:
        loggers = {"console": {"config": {"log_level": "WARNING"}}}
    else:
        defs, loggers = dg.Definitions.merge(defs, dg.Definitions(loggers={"progress": logger})), {"progress": {}}
    return defs.resolve_job_def("refresh").execute_in_process(
        instance=instance, raise_on_error=False, run_config={"loggers": loggers}, run_id=run_id, tags=tags
    )


def checks_of(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


def funnel_table(settings: Settings, months: int) -> str:
    """The period-view funnel of the latest `months` months as a text table, with targets and status."""
    reporting_tz = settings.reporting_tz
    with Warehouse.of(settings).connect(read_only=True) as con, marts_on(con, settings) as marts:
        rows = con.execute(
            f"""
            with latest as (
                select distinct period_start from {marts}.funnel_kpi_monthly
                where view = 'period' order by period_start desc limit ?
            )
            select k.period_start, k.stage, k.base, k.base_handover, k.base_direct, k.goal, k.conversion_rate,
                   k.as_of, k.target_goal, k.goal_attainment, k.projected_goal, k.status
            from {marts}.funnel_kpi_monthly as k
            inner join latest using (period_start)
            where k.view = 'period'
            order by k.period_start, k.stage_order
            """,
            [months],
        ).fetchall()
    if not rows:
        return "marts.funnel_kpi_monthly is empty"
    head = (
        f"{'month':<8} {'stage':<17} {'base':>8} {'handover':>9} {'direct':>7} {'goal':>7} {'conversion':>11}"
        f" {'target':>7} {'attain':>7} {'projected':>9}  status"
    )
    as_of = rows[0][7].astimezone(ZoneInfo(reporting_tz))
    lines = [
        f"Monthly funnel, period view, as of {as_of:%Y-%m-%d %H:%M} {reporting_tz}. "
        "A stage's goal is its hand-overs to the next stage; targets from targets.yml.",
        head,
        "-" * len(head),
    ]
    for period_start, stage, base, handover, direct, goal, rate, _, target, attainment, projected, status in rows:
        lines.append(
            f"{period_start:%Y-%m} {stage:<17} {base:>8,} {handover:>9,} {direct:>7,} {goal:>7,} {percent(rate):>11}"
            f" {number(target):>7} {percent(attainment):>7} {number(projected):>9}  {status}"
        )
        if stage == funnel().stage_names[-1]:
            lines.append("")
    return "\n".join(lines).rstrip()


def improvement_loop(settings: Settings) -> str:
    """The latest closed month's bottleneck and the verdict of every hypothesis in hypotheses.yml."""
    currency = settings.reporting_currency
    with Warehouse.of(settings).connect(read_only=True) as con, marts_on(con, settings) as marts:
        bottleneck = con.execute(
            f"""
            select period_start, stage, actual_rate, planned_rate, won_deals_shortfall, revenue_shortfall
            from {marts}.funnel_bottleneck
            where is_bottleneck and period_start < (select max(period_start) from {marts}.funnel_bottleneck)
            order by period_start desc limit 1
            """
        ).fetchall()
        hypotheses = con.execute(
            f"""
            select hypothesis_id, before_rate, after_rate, difference, ci_low, ci_high, p_value, verdict
            from {marts}.hypothesis_results order by hypothesis_id
            """
        ).fetchall()
    lines = []
    for month, stage, actual, planned, deals, revenue in bottleneck:
        lines.append(
            f"Bottleneck of {month:%Y-%m}: {stage} converted {percent(actual)} against a plan of {percent(planned)}, "
            f"costing about {deals:,.1f} won deals ({revenue or 0:,.0f} {currency}) downstream "
            "(marts.funnel_bottleneck)."
        )
    lines.append(
        "Hypotheses (hypotheses.yml -> marts.hypothesis_results):"
        if hypotheses
        else "No hypotheses recorded in hypotheses.yml."
    )
    for hid, before, after, diff, low, high, p, verdict in hypotheses:
        detail = (
            f"{percent(before)} -> {percent(after)}, difference {diff:+.1%} [{low:+.1%}, {high:+.1%}], p = {p:.3g}"
            if diff is not None
            else "not enough data"
        )
        lines.append(f"  {hid:<34} {detail:<60} {verdict}")
    return "\n".join(lines)


def reconciliation_errors(settings: Settings) -> str:
    """The months and hand-overs over tolerance, when the reconciliation gate stopped the run."""
    with Warehouse.of(settings).connect(read_only=True) as con, marts_on(con, settings) as marts:
        rows = con.execute(
            f"""
            select strftime(month, '%Y-%m'), handoff, upstream_count, missing_downstream, missing_upstream,
                   duplicated, unmatched_share
            from {marts}.reconciliation where status = 'error' order by unmatched_share desc limit 10
            """
        ).fetchall()
    lines = ["Hand-overs that do not reconcile (see marts.reconciliation_exceptions for the records):"]
    lines += [
        f"  {m} {h:<32} {share:6.2%} unmatched of {n:,} (missing downstream {md}, missing upstream {mu}, "
        f"duplicated {d})"
        for m, h, n, md, mu, d, share in rows
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def libraries_logging_to(out: TextIO) -> Iterator[None]:
    """What the libraries log while the run executes (SQLAlchemy under Great Expectations closing a connection a
    stop interrupted, dbt adapters' warnings) goes to the tool log, not to the screen: Python's last-resort handler
    would print it, tracebacks included, on stderr."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=6, help="how many latest months to print (default 6)")
    args = parser.parse_args(argv)
    try:  # before the demo extracts or the warehouse are written
        settings = Settings.from_env()
        check_config(settings)
    except ConfigError as exc:
        print(f"{exc}\nconfiguration error: nothing was run (docs/configuration.md)", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if problem := location_problem(settings.warehouse_path):
        print(f"{problem}: nothing was written", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    home = os.path.expanduser(os.environ.get("DAGSTER_HOME", ""))
    if home and not (os.path.isabs(home) and os.path.isdir(home)):  # where the run would be recorded
        print(f"DAGSTER_HOME {home} is not the absolute path of a folder: nothing was run", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    landing = Path(settings.landing_dir)
    if landing_is_empty(landing, Path(settings.sources_config)):
        try:
            problem = no_extracts(settings)
        except WarehouseBusyError as exc:
            print(f"{exc} Nothing was written.", file=sys.stderr)
            return EXIT_WAREHOUSE_BUSY
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_CONFIG_ERROR
        from demo.example import write_example  # numpy, pandas and pyarrow: only for a fresh checkout

        write_example(landing)
    log = run_log(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"materializing every asset through Dagster: {landing} -> {settings.warehouse_path}")
    print(f"tool log (dbt's line per model and test, Dagster's event log): {log}", flush=True)
    import pipeline.definitions  # noqa: F401  every library the run uses, loaded before the collector resumes

    heap.release()
    # With DAGSTER_HOME (set by the Makefile) the run is recorded where `make ui` shows it.
    instance = history_instance() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    with instance:
        sweep = target_sweep(instance)
        display = display_for(sys.stdout)  # the terminal, before stdout becomes the tool log
        try:
            with log.open("w", encoding="utf-8") as out, contextlib.redirect_stdout(out), libraries_logging_to(out):
                # dagster-dbt echoes every dbt event to stdout: into the tool log
                logger = progress_logger(RunProgress(display), out, instance)
                run = supervise(instance, Warehouse.of(settings), partial(materialize_all, settings, instance, logger))
        finally:
            display.close()
        if run.stopped:
            print(run.stopped, file=sys.stderr)
            return run.exit_code
        result = run.result
        outcome = outcome_of(result)
        print("\n".join(outcome.lines()))
        if result.success:
            print()
            print(funnel_table(settings, args.months))
            print()
            print(coverage_table(settings))
            print()
            print(improvement_loop(settings))
            print(f"\nDuckDB warehouse: {settings.warehouse_path}")
            if settings.engine != "duckdb":
                print(f"marts built by {settings.engine}: {settings.spark_dir}")
        elif any(
            c.check_name == "reconciliation_gate" and not c.passed and c.severity.value == "ERROR"
            for c in checks_of(result)
        ):
            print(reconciliation_errors(settings))
        print(housekeeping(instance, sweep))
    if outcome.verdict():
        print(outcome.verdict(), file=sys.stderr)
    return outcome.exit_code


def target_sweep(instance: dg.DagsterInstance) -> TargetSweep | None:
    """Old dbt target folders deleted while the run works (housekeeping.TargetSweep); None when the sweep cannot
    start, and housekeeping prunes them at the end instead."""
    try:
        return TargetSweep(instance, Retention.from_env())
    except Exception:  # housekeeping() tries again at the end and says what failed
        return None


def housekeeping(instance: dg.DagsterInstance, sweep: TargetSweep | None = None) -> str:
    """Prune dbt's target folders (or wait for `sweep` to have) and the run history to FUNNEL_RETAIN_*. Best effort:
    a failure (a folder that cannot be deleted, Dagster's storage busy) is one line, and the run's own result
    decides the exit code."""
    try:
        return housekeep(instance, Retention.from_env(), targets=sweep).line()
    except Exception as exc:  # whatever it is, the run itself is done and reported
        return f"housekeeping failed (the run is not affected; the next run tries again): {type(exc).__name__}: {exc}"


if __name__ == "__main__":
    heap.exit_process(main())
