"""Housekeeping: run history past FUNNEL_RETAIN_RUNS / FUNNEL_RETAIN_RUN_DAYS is deleted with everything it left in
DAGSTER_HOME, the newest runs stay, and dbt target folders past FUNNEL_RETAIN_DBT_TARGETS go (real dbt invocations:
tests/test_make_run.py)."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from pipeline.housekeeping import (
    Retention,
    TargetSweep,
    housekeep,
    housekeeping_job,
    prune_dbt_targets,
    prune_runs,
)


@dg.op(config_schema={"fail": dg.Field(bool, default_value=False)})
def step(context: dg.OpExecutionContext) -> None:
    context.log.info("a line for the captured logs")
    if context.op_config["fail"]:
        raise RuntimeError("broken on purpose")


@dg.job
def job_a() -> None:
    step()


@dg.job
def job_b() -> None:
    step()


def _run(instance: dg.DagsterInstance, job: dg.JobDefinition, ok: bool) -> str:
    config = {"ops": {"step": {"config": {"fail": not ok}}}}
    return job.execute_in_process(run_config=config, instance=instance, raise_on_error=False).run_id


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        yield instance


def _left_behind(instance: dg.DagsterInstance, home: Path, run_id: str) -> list[str]:
    """What a run still has in DAGSTER_HOME: its record, its event database file and events, its captured logs."""
    things = []
    if instance.get_run_by_id(run_id) is not None:
        things.append("run")
    database = list(home.rglob(f"{run_id}.db"))
    if database:  # only then: reading a run's events creates its file
        things += ["event database"] + (["events"] if instance.all_logs(run_id) else [])
    if (home / "storage" / run_id).exists():
        things.append("captured logs")
    return things


def test_runs_beyond_the_newest_are_deleted_with_their_logs_and_the_newest_of_each_job_kept(instance, tmp_path):
    home = tmp_path / "home"
    waiting = instance.create_run_for_job(job_a).run_id  # created, never started: may still run
    a1 = _run(instance, job_a, ok=True)
    b1 = _run(instance, job_b, ok=True)
    a2 = _run(instance, job_a, ok=True)
    a3, a4, a5 = (_run(instance, job_a, ok=False) for _ in range(3))
    for run_id in (a1, a3):
        assert _left_behind(instance, home, run_id) == ["run", "event database", "events", "captured logs"]

    deleted, kept = prune_runs(instance, keep=2, days=30)

    # a5 and a4 are the newest two; a2 is job a's newest success, b1 job b's newest run; waiting is not finished
    assert {r.run_id for r in instance.get_runs()} == {waiting, b1, a2, a4, a5}
    assert (deleted, kept) == (2, 5)
    for run_id in (a1, a3):
        assert _left_behind(instance, home, run_id) == []
    assert _left_behind(instance, home, a4) == ["run", "event database", "events", "captured logs"]

    # two days later, with one day of retention: only what is always kept remains
    deleted, kept = prune_runs(instance, keep=100, days=1, now=time.time() + 2 * 86_400)
    assert {r.run_id for r in instance.get_runs()} == {waiting, b1, a2, a5} and deleted == 1
    assert _left_behind(instance, home, a4) == []


def test_runs_younger_than_the_retention_and_among_the_newest_stay(instance):
    runs = [_run(instance, job_a, ok=True) for _ in range(3)]
    assert prune_runs(instance, keep=3, days=1) == (0, 3)
    assert [r.run_id for r in instance.get_runs()] == runs[::-1]


def _invocation(root: Path, name: str, age: float) -> Path:
    folder = root / name
    (folder / "compiled").mkdir(parents=True)
    (folder / "compiled" / "model.sql").write_text("select 1\n" * 1000)
    (folder / "dbt.log").write_text("log\n")
    stamp = time.time() - age
    for path in (folder / "dbt.log", folder):
        os.utime(path, (stamp, stamp))
    return folder


def test_only_the_newest_dbt_target_folders_stay_and_those_of_a_run_still_going(tmp_path):
    root = tmp_path / "target"
    names = [f"dbt_models-{i:07x}-abcdef{i}" for i in range(6)]  # names[0] the newest
    for age, name in enumerate(names):
        _invocation(root, name, age * 60.0)
    _invocation(root, "1234567", 3600)  # outside a run (dagster-dbt with no context)
    (root / "manifest.json").write_text("{}")
    (root / "compiled").mkdir()  # dbt's own folders are not invocations

    deleted, freed, kept = prune_dbt_targets(root, keep=2, running=[f"{4:07x}" + "-0000-0000"])

    left = sorted(p.name for p in root.iterdir())
    assert left == sorted([names[0], names[1], names[4], "compiled", "manifest.json"])
    assert (deleted, kept) == (4, 3) and freed >= 4 * 9000
    with pytest.raises(ValueError):
        prune_dbt_targets(root, keep=0)


def test_make_run_s_sweep_leaves_room_for_its_run_s_own_folder_and_spares_a_run_still_going(instance, tmp_path):
    root = tmp_path / "target"
    names = [f"dbt_models-{i:07x}-abcdef{i}" for i in range(5)]  # names[0] the newest
    for age, name in enumerate(names):
        _invocation(root, name, age * 60.0)
    going = instance.create_run_for_job(job_a)  # another run, not finished: its folder stays, whatever its age
    _invocation(root, f"dbt_models-{going.run_id[:7]}-0000000", 3600)
    freed_by = {name: sum(f.stat().st_size for f in (root / name).rglob("*") if f.is_file()) for name in names}

    sweep = TargetSweep(instance, Retention(dbt_targets=2, runs=10, run_days=90), root)
    own = _invocation(root, "dbt_models-fffffff-0000000", 0)  # the run's dbt step makes its folder meanwhile
    deleted, freed, kept = sweep.result()

    assert sorted(p.name for p in root.iterdir()) == sorted(
        [names[0], f"dbt_models-{going.run_id[:7]}-0000000", own.name]
    )
    assert (deleted, freed, kept) == (4, sum(freed_by[n] for n in names[1:]), 3)
    swept = housekeep(instance, Retention(dbt_targets=2, runs=10, run_days=90), root, targets=sweep)
    assert (swept.target_folders, swept.target_folders_kept) == (4, 3)


def test_the_housekeeping_job_applies_the_funnel_retain_variables(instance, tmp_path, monkeypatch):
    root = tmp_path / "target"
    for age in range(3):
        _invocation(root, f"kpi_marts-{age:07x}-0000000", age * 60.0)
    runs = [_run(instance, job_a, ok=True) for _ in range(3)]
    monkeypatch.setenv("DBT_TARGET_PATH", str(root))
    monkeypatch.setenv("FUNNEL_RETAIN_DBT_TARGETS", "1")
    monkeypatch.setenv("FUNNEL_RETAIN_RUNS", "1")
    assert Retention.from_env() == Retention(dbt_targets=1, runs=1, run_days=90)  # the default days

    result = housekeeping_job.execute_in_process(instance=instance)

    assert result.success
    assert [p.name for p in root.iterdir()] == [f"kpi_marts-{0:07x}-0000000"]
    # job a keeps its newest run; the housekeeping run itself is the newest of its job
    assert {r.run_id for r in instance.get_runs()} == {runs[-1], result.run_id}


def test_a_mistyped_retention_is_a_configuration_error_naming_the_variable(monkeypatch):
    from pipeline.config.files import ConfigError

    monkeypatch.setenv("FUNNEL_RETAIN_RUNS", "0")
    with pytest.raises(ConfigError, match="FUNNEL_RETAIN_RUNS"):
        Retention.from_env()


def test_an_ephemeral_instance_has_no_history_to_prune(tmp_path):
    with dg.DagsterInstance.ephemeral() as instance:
        swept = housekeep(instance, Retention(dbt_targets=1, runs=1, run_days=1), tmp_path / "none")
    assert swept.runs_kept is None and "no run history" in swept.line()
