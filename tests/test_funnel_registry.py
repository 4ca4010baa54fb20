"""The funnel's shape lives in one registry (transforms/dbt_project.yml, vars.funnel): adding a stage is a registry
entry plus one stage model with its YAML, and a company without a marketing-automation system removes a stage by
editing the registry alone. Each test changes a copy of the project the way a team would, runs the main job in a
fresh interpreter (tests/registry/run_job.py) and checks what it built against tests/independent_funnel.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import yaml

from pipeline.config.settings import PROJECT_ROOT
from tests.independent_funnel import _read, _ts, kpis_of, stage_entries

HERE = Path(__file__).parent / "registry"
#: What a copy of the project leaves out: environments and everything a run writes (anywhere) ...
NOT_COPIED_ANYWHERE = {".git", ".venv", "__pycache__", "target", "logs", "storage", "schedules"}
NOT_COPIED_ANYWHERE |= {".logs_queue", ".telemetry"}
#: ... the project's own data folders (only at the top: pipeline/warehouse is code) ...
NOT_COPIED_AT_THE_TOP = {"data", "warehouse", "bench"}
#: ... and Dagster's run history (only in DAGSTER_HOME: transforms/models/history is the dbt history layer).
NOT_COPIED_FROM_DAGSTER_HOME = {"history"}


def NOT_COPIED(folder: str, names: list[str]) -> set[str]:  # noqa: N802  shutil.copytree's ignore
    top = Path(folder) == PROJECT_ROOT
    home = Path(folder) == PROJECT_ROOT / "dagster_home"
    return {
        n
        for n in names
        if n in NOT_COPIED_ANYWHERE
        or (top and n in NOT_COPIED_AT_THE_TOP)
        or (home and n in NOT_COPIED_FROM_DAGSTER_HOME)
    }


KPI_COLUMNS = ["base", "base_handover", "goal", "dropped"]


def _copy_project(tmp: Path) -> Path:
    project = tmp / "project"
    shutil.copytree(PROJECT_ROOT, project, ignore=NOT_COPIED)
    return project


def _edit_yaml(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _run(project: Path, landing: Path, warehouse: Path) -> dict:
    done = subprocess.run(
        [sys.executable, str(HERE / "run_job.py"), str(project), str(landing), str(warehouse)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _assert_kpis_match(warehouse: Path, expected: pd.DataFrame, stages: list[str]) -> None:
    mart = _query(
        warehouse,
        "select view, period_start, stage, stage_order, base, base_handover, goal, dropped "
        "from marts.funnel_kpi_monthly",
    )
    assert mart.groupby("stage")["stage_order"].first().sort_values().index.tolist() == stages
    mart["period_start"] = pd.to_datetime(mart["period_start"]).dt.date
    key = ["view", "period_start", "stage"]
    got = mart.set_index(key)[KPI_COLUMNS].sort_index()
    want = expected.set_index(key)[KPI_COLUMNS].sort_index().loc[got.index]
    pd.testing.assert_frame_equal(got.astype("int64"), want.astype("int64"))
    quarterly = _query(
        warehouse,
        "select view, stage, sum(base) as base, sum(goal) as goal from marts.funnel_kpi_fiscal_quarterly group by all",
    )
    monthly = mart.groupby(["view", "stage"])[["base", "goal"]].sum()
    assert (
        (
            quarterly.set_index(["view", "stage"]).sort_index()[["base", "goal"]].astype("int64")
            == monthly.sort_index().astype("int64")
        )
        .all()
        .all()
    )


def _appointments(landing: Path, as_of: pd.Timestamp) -> pd.DataFrame:
    """The added stage, computed from the extracts: every converted SFA lead enters at its conversion; it
    advances then if a new-business opportunity names the lead, else drops 30 days later."""
    leads = _read(landing, "sfa", "leads")
    opportunities = _read(landing, "sfa", "opportunities")
    converted = _ts(leads["converted_at"])
    booked = leads["lead_id"].isin(opportunities.loc[opportunities["type"].str.lower() == "new_business", "lead_id"])
    entries = pd.DataFrame(
        {
            "entry_type": "handover",
            "entered_at": converted,
            "advanced_at": converted.where(booked),
            "dropped_at": (converted + pd.Timedelta(days=30)).where(~booked),
        }
    )
    entries["dropped_at"] = entries["dropped_at"].where(entries["dropped_at"] <= as_of)
    return entries[entries["entered_at"] <= as_of].reset_index(drop=True)


def test_a_fifth_stage_is_a_registry_entry_plus_one_stage_model(demo_landing, tmp_path):
    project = _copy_project(tmp_path)

    def add_appointment(document):
        funnel = document["vars"]["funnel"]
        stages = funnel["stages"]
        at = [s["name"] for s in stages].index("field_sales")
        stages.insert(
            at,
            {
                "name": "appointment",
                "label": "Appointment",
                "system": "sfa",
                "entity": "sfa_leads",
                "id": "sfa_lead_id",
                "entry": "a lead inside sales converted",
                "goal": "its opportunity in the SFA",
                "metric": "appointment_rate",
                "horizon_days": 30,
                "slices": ["source", "campaign", "owner"],
            },
        )
        funnel["handovers"][1:2] = [
            {
                "from": "inside_sales",
                "to": "appointment",
                "upstream_id": "sfa_lead_id",
                "downstream_link": "sfa_lead_id",
            },
            {
                "from": "appointment",
                "to": "field_sales",
                "upstream_id": "sfa_lead_id",
                "downstream_link": "sfa_lead_id",
            },
        ]

    _edit_yaml(project / "transforms" / "dbt_project.yml", add_appointment)
    for suffix in (".sql", ".yml"):
        shutil.copy(HERE / f"appointment_entries{suffix}", project / "transforms" / "models" / "stages")
    _edit_yaml(project / "targets.yml", lambda t: t["conversion"].update(appointment=0.9))

    warehouse = tmp_path / "themodel.duckdb"
    outcome = _run(project, demo_landing, warehouse)
    assert outcome["success"]
    assert [c for c in outcome["failed_checks"] if c["severity"] == "ERROR"] == []

    order = ["marketing", "inside_sales", "appointment", "field_sales", "customer_success"]
    four, as_of = stage_entries(demo_landing)
    stages = {name: four[name] if name != "appointment" else _appointments(demo_landing, as_of) for name in order}
    _assert_kpis_match(warehouse, kpis_of(stages, as_of), order)

    reconciliation = _query(
        warehouse,
        "select handoff, handoff_order, max(status) as worst from marts.reconciliation "
        "group by all order by handoff_order",
    )
    assert reconciliation["handoff"].tolist() == [
        "marketing_to_inside_sales",
        "inside_sales_to_appointment",
        "appointment_to_field_sales",
        "field_sales_to_customer_success",
    ]
    assert set(reconciliation["worst"]) <= {"ok", "warn"}

    targets = _query(warehouse, "select month, stage, stage_order, target_base, target_goal from marts.funnel_targets")
    wide = targets.pivot(index="month", columns="stage_order", values=["target_base", "target_goal"])
    for order_n in range(1, 5):  # target_goal(N) = target_base(N+1), month by month
        pd.testing.assert_series_equal(
            wide[("target_goal", order_n)].fillna(0), wide[("target_base", order_n + 1)].fillna(0), check_names=False
        )
    plan = targets[targets["stage"] == "appointment"]
    assert (plan["target_base"] >= plan["target_goal"]).all() and plan["target_goal"].sum() > 0

    bottleneck = _query(warehouse, "select distinct stage from marts.funnel_bottleneck")
    assert set(bottleneck["stage"]) == {"marketing", "inside_sales", "appointment", "field_sales"}
    sliced = _query(
        warehouse,
        "select sum(base) as base from marts.funnel_kpi_by_slice where grain = 'month' "
        "and view = 'period' and dimension = 'source' and stage = 'appointment'",
    )
    assert int(sliced["base"][0]) == len(stages["appointment"])
    assert "Appointment" in outcome["report"]
    assert "appointment" in outcome["alert_stages"]


def test_a_company_without_marketing_automation_gets_a_funnel_from_inside_sales(demo_landing, tmp_path):
    project = _copy_project(tmp_path)

    def without_marketing(document):
        funnel = document["vars"]["funnel"]
        funnel["systems"] = ["sfa", "crm"]
        funnel["stages"] = [s for s in funnel["stages"] if s["name"] != "marketing"]
        funnel["handovers"] = [h for h in funnel["handovers"] if "marketing" not in (h["from"], h["to"])]

    def targets_without_marketing(targets):
        for section in ("conversion", "lag_days"):
            targets[section].pop("marketing")

    _edit_yaml(project / "transforms" / "dbt_project.yml", without_marketing)
    _edit_yaml(project / "targets.yml", targets_without_marketing)
    hypotheses = yaml.safe_load((project / "hypotheses.yml").read_text(encoding="utf-8"))
    assert all(h["metric"] != "mql_rate" for h in hypotheses["hypotheses"])  # the example file needs no edit
    landing = tmp_path / "landing"
    shutil.copytree(demo_landing, landing, ignore=shutil.ignore_patterns("ma"))  # no ma/ folder at all

    warehouse = tmp_path / "themodel.duckdb"
    outcome = _run(project, landing, warehouse)
    assert outcome["success"]
    assert outcome["failed_checks"] == []

    order = ["inside_sales", "field_sales", "customer_success"]
    stages, as_of = stage_entries(landing, with_ma=False)
    assert list(stages) == order
    _assert_kpis_match(warehouse, kpis_of(stages, as_of), order)
    inside = _query(
        warehouse, "select sum(base_handover) as handed_over from marts.funnel_kpi_monthly where stage = 'inside_sales'"
    )
    assert int(inside["handed_over"][0]) == 0
    tables = _query(warehouse, "select table_name from duckdb_tables() where schema_name = 'extracted'")
    assert not any(t.startswith("ma_") for t in tables["table_name"])
    handoffs = _query(warehouse, "select distinct handoff from marts.reconciliation")
    assert set(handoffs["handoff"]) == {"inside_sales_to_field_sales", "field_sales_to_customer_success"}
    assert "Marketing" not in outcome["report"] and "Inside sales" in outcome["report"]
    assert set(outcome["alert_stages"]) <= set(order)


def test_outside_the_registry_no_code_or_model_names_every_stage():
    """Lists of the stages are derived from the registry; a file naming all of them would be a second copy.
    The registry, its loader and the unit tests' example rows (tests, which may) are the exceptions."""
    from pipeline.config.registry import funnel

    names = funnel().stage_names
    exempt = {PROJECT_ROOT / "transforms" / "dbt_project.yml", PROJECT_ROOT / "pipeline" / "config" / "registry.py"}
    offenders = []
    for folder in ("pipeline", "transforms"):
        for path in (PROJECT_ROOT / folder).rglob("*"):
            if path in exempt or path.suffix not in {".py", ".sql", ".yml", ".md"} or "target" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".yml":
                document = yaml.safe_load(text) or {}
                if isinstance(document, dict):
                    text = yaml.safe_dump({k: v for k, v in document.items() if k != "unit_tests"})
            if all(name in text for name in names):
                offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == []
