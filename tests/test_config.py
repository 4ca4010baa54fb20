"""Strict, typed configuration: every file and the environment are validated before anything runs, and every
mistake reads as `file, line N: key.path: problem`, all of a file's at once."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import run
from pipeline.config.files import ConfigError, load, read_yaml
from pipeline.config.preflight import check_config
from pipeline.config.quality import QualityFile, load_handoff_rules
from pipeline.config.registry import Funnel, funnel
from pipeline.config.sales_pipeline import load_sales_pipeline
from pipeline.config.settings import PROJECT_ROOT, Settings, read_environment
from pipeline.config.sources import load_sources
from pipeline.config.targets import TargetsFile, load_plans

TARGETS = """\
# Monthly targets
average_deal_size: 4000000
conversion:
  marketing: 0.14
  inside_sales: 0.35
  field_sales: 0.27
  customer_success: 0.85
lag_days:
  marketing: 12
  inside_sales: 10
  field_sales: 45
months:
  - {month: 2026-01, revenue: 48000000}
  - {month: 2026-02, revenue: 48000000}
"""

#: (the mistake, the line as it reads wrong, the key path, what the message says)
MISTAKES = [
    ("unknown key", ("lag_days:", "lag_dayz:"), "lag_dayz", "unknown key (a typo?)"),
    (
        "negative target",
        ("revenue: 48000000}", "revenue: -5}"),
        "months[1].revenue",
        "Input should be greater than or equal to 0 (got -5)",
    ),
    (
        "rate as text",
        ("marketing: 0.14", 'marketing: "14%"'),
        "conversion.marketing",
        "Input should be a valid number (got '14%')",
    ),
]


def _broken_targets(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A targets file with the last `old` replaced by `new`, and the 1-based line of the replacement."""
    lines = TARGETS.splitlines()
    number = max(i for i, line in enumerate(lines) if old in line)
    lines[number] = lines[number].replace(old, new)
    path = tmp_path / "targets.yml"
    path.write_text("\n".join(lines) + "\n")
    return path, number + 1


def test_the_example_targets_file_is_valid(tmp_path):
    path = tmp_path / "targets.yml"
    path.write_text(TARGETS)
    assert [p.won_deals for p in load_plans(path)] == [12, 12]


@pytest.mark.parametrize("old_new, key, problem", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_targets_mistake_is_one_line_naming_file_line_and_key(tmp_path, old_new, key, problem):
    path, line = _broken_targets(tmp_path, *old_new)
    with pytest.raises(ConfigError) as error:
        load_plans(path)
    assert str(error.value) == f"{path}, line {line}: {key}: {problem}"


@pytest.mark.parametrize("old_new, key, problem", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_run_exits_2_with_the_message_before_anything_is_written(tmp_path, monkeypatch, capsys, old_new, key, problem):
    path, line = _broken_targets(tmp_path, *old_new)
    for name in [n for n in os.environ if n.startswith("FUNNEL_")]:
        monkeypatch.delenv(name)
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "funnel.duckdb"
    monkeypatch.setenv("FUNNEL_TARGETS", str(path))
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(landing))
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    assert run.main([]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line {line}: {key}: {problem}\n" in err and "Traceback" not in err
    assert not landing.exists() and not warehouse.parent.exists()  # no demo extracts, no warehouse


@pytest.mark.parametrize("home", ["missing", "relative"])
def test_run_exits_2_when_dagster_home_is_not_a_folder(tmp_path, monkeypatch, capsys, home):
    for name in [n for n in os.environ if n.startswith("FUNNEL_")]:
        monkeypatch.delenv(name)
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse" / "funnel.duckdb"
    warehouse.parent.mkdir()
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(landing))
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing") if home == "missing" else "relative")
    assert run.main([]) == 2
    err = capsys.readouterr().err
    assert "is not the absolute path of a folder: nothing was run" in err and "Traceback" not in err
    assert not landing.exists() and not warehouse.exists()


def test_python_m_pipeline_run_prints_no_traceback(tmp_path):
    path, line = _broken_targets(tmp_path, "lag_days:", "lag_dayz:")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNEL_")}
    env |= {
        "FUNNEL_TARGETS": str(path),
        "FUNNEL_LANDING_DIR": str(tmp_path / "landing"),
        "FUNNEL_WAREHOUSE": str(tmp_path / "funnel.duckdb"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"{path}, line {line}: lag_dayz: unknown key (a typo?)"
    assert "Traceback" not in done.stderr and not (tmp_path / "landing").exists()


def test_every_mistake_of_a_file_is_reported_at_once_top_to_bottom(tmp_path):
    path, _ = _broken_targets(tmp_path, "lag_days:", "lag_dayz:")
    text = path.read_text().replace("marketing: 0.14", 'marketing: "14%"').replace("revenue: 48000000}", "revenue: -5}")
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_plans(path)
    got = str(error.value).splitlines()
    expected_lines = [
        i + 1 for i, line in enumerate(text.splitlines()) if "14%" in line or "lag_dayz" in line or "-5" in line
    ]
    assert [int(m.split(", line ")[1].split(":")[0]) for m in got] == expected_lines
    assert len(got) == 4  # -5 in both months


def test_yaml_that_does_not_parse_names_its_line(tmp_path):
    path = tmp_path / "targets.yml"
    path.write_text("conversion:\n  marketing: 0.1\n  inside_sales: [0.2\nmonths: []\n")
    with pytest.raises(ConfigError, match=f"^{path}, line 4: not valid YAML"):
        load_plans(path)
    path.write_text("months:\n  - {month: 2026-02-30, won_deals: 1}\n")
    with pytest.raises(ConfigError, match=f"^{path}, line 2: not valid YAML: 2026-02-30 is not a date"):
        load_plans(path)
    with pytest.raises(ConfigError, match="missing.yml: cannot be read"):
        load_plans(tmp_path / "missing.yml")


# --- names come from the registry -------------------------------------------------------------------------


def _two_stage_funnel() -> Funnel:
    """A funnel unlike THE MODEL's: only leads and deals."""
    stage = {"system": "sfa", "entity": "sfa_leads", "id": "lead_id", "entry": "e", "goal": "g", "horizon_days": 30}
    return Funnel.model_validate(
        {
            "systems": ["sfa"],
            "stages": [
                {**stage, "name": "leads", "label": "Leads", "metric": "lead_rate"},
                {**stage, "name": "deals", "label": "Deals", "metric": "deal_rate", "wins": True},
            ],
            "handovers": [{"from": "leads", "to": "deals", "upstream_id": "lead_id", "downstream_link": "lead_id"}],
        }
    )


def test_stage_and_hand_over_names_are_the_registrys(tmp_path):
    custom = {"funnel": _two_stage_funnel()}
    targets = tmp_path / "targets.yml"
    targets.write_text("conversion: {leads: 0.5}\nmonths:\n  - {month: 2026-01, won_deals: 1}\n")
    with pytest.raises(ConfigError) as error:
        load(TargetsFile, targets, context=custom)
    assert str(error.value) == f"{targets}, line 3: months[0].conversion: planned conversion missing for deals"
    targets.write_text("conversion: {leads: 0.5, deals: 0.5}\nmonths:\n  - {month: 2026-01, won_deals: 1}\n")
    assert load(TargetsFile, targets, context=custom).plans()[0].conversion == {"leads": 0.5, "deals": 0.5}
    with pytest.raises(ConfigError, match="line 1: conversion.leads: unknown stage; the stages are marketing, "):
        load_plans(targets)  # this project's registry has no stage `leads`

    quality = tmp_path / "quality.yml"
    quality.write_text("reconciliation:\n  handoffs:\n    leads_to_deals: {tolerance: 0.1}\n")
    assert (
        load(QualityFile, quality, context=custom).handoff_rules(("leads_to_deals",))["leads_to_deals"].tolerance == 0.1
    )
    with pytest.raises(ConfigError) as error:
        load_handoff_rules(quality)
    assert str(error.value) == (
        f"{quality}, line 3: reconciliation.handoffs.leads_to_deals: unknown hand-over; "
        f"the hand-overs are {', '.join(funnel().handover_names)}"
    )


def test_quality_defaults_apply_to_every_hand_over_and_an_empty_key_means_its_default(tmp_path):
    path = tmp_path / "quality.yml"
    path.write_text(
        "reconciliation:\n  tolerance: 0.01\n  handoffs:\n    marketing_to_inside_sales:\n"
        "      grace_period_hours: 48\n    inside_sales_to_field_sales:\n"
    )
    rules = load_handoff_rules(path)
    assert list(rules) == [f"{a.name}_to_{b.name}" for a, b in zip(funnel().stages, funnel().stages[1:])]
    assert {
        (r.tolerance, r.grace_period_hours) for name, r in rules.items() if name != "marketing_to_inside_sales"
    } == {(0.01, 24)}
    assert (rules["marketing_to_inside_sales"].tolerance, rules["marketing_to_inside_sales"].grace_period_hours) == (
        0.01,
        48,
    )
    path.write_text("reconciliation:\n  tolerance: 2\n  grace_period_hour: 1\n")
    with pytest.raises(ConfigError) as error:
        load_handoff_rules(path)
    assert str(error.value).splitlines() == [
        f"{path}, line 2: reconciliation.tolerance: Input should be less than or equal to 1 (got 2)",
        f"{path}, line 3: reconciliation.grace_period_hour: unknown key (a typo?)",
    ]


# --- sources.yml ------------------------------------------------------------------------------------------


def test_a_sources_file_mistake_names_its_line_and_an_inline_mapping_its_own(tmp_path):
    path = tmp_path / "sources.yml"
    path.write_text("landing_layout: false\nbad_row_treshold: 0.5\n")
    with pytest.raises(ConfigError, match=f"^{path}, line 2: bad_row_treshold: unknown key \\(a typo\\?\\)$"):
        load_sources(path, tmp_path)
    path.write_text(
        "landing_layout: false\nsources:\n  - mappings/a.yml\n"
        "  - source: crm\n    entities:\n      crm_customers: {files: x.csv, columns: {account_id: id}}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_sources(path, tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'mappings' / 'a.yml'}: cannot be read")
    path.write_text(
        "landing_layout: false\nsources:\n"
        "  - source: crm\n    entities:\n      crm_customers: {files: x.csv, columns: {account_id: id}}\n"
    )
    with pytest.raises(
        ConfigError,
        match=f"^{path}, line 3: sources\\[0\\]: entities.crm_customers.columns: required column\\(s\\) onboarded_at",
    ):
        load_sources(path, tmp_path)
    path.write_text(
        "bad_row_threshold: 0.2\nsources:\n"
        "  - {source: landing, entities: {crm_customers: {files: x.csv, "
        "columns: {account_id: id, onboarded_at: since}}}}\n"
    )
    with pytest.raises(ConfigError, match=f"^{path}, line 2: sources: source name\\(s\\) landing used twice"):
        load_sources(path, tmp_path)
    path.write_text("bad_row_threshold: 0.2\n")
    assert [(s.name, s.threshold) for s in load_sources(path, tmp_path).sources] == [("landing", 0.2)]


# --- the environment --------------------------------------------------------------------------------------


def test_the_environment_is_validated_naming_each_variable():
    with pytest.raises(ConfigError) as error:
        read_environment(
            {
                "FUNNEL_FISCAL_YEAR_START_MONTH": "13",
                "FUNNEL_AS_OF": "yesterday",
                "FUNNEL_REPORTING_TZ": "Tokyo",
                "FUNNEL_TARGET": "t.yml",
                "FUNNEL_HOLIDAY_CALENDAR": "XX",
                "FUNNEL_ALERT_MONTHS": "two",
                "FUNNEL_ALERT_MAX_ATTEMPTS": "31",
                "FUNNEL_STALE_AFTER_HOURS": "0",
                "PATH": "/bin",
            }
        )
    assert sorted(str(error.value).splitlines()) == sorted(
        [
            "environment: FUNNEL_FISCAL_YEAR_START_MONTH: Input should be less than or equal to 12 (got '13')",
            "environment: FUNNEL_AS_OF: not an ISO date (2024-06-30) or timestamp (2024-06-30T18:00:00+09:00) "
            "(got 'yesterday')",
            "environment: FUNNEL_REPORTING_TZ: not an IANA time zone (e.g. Asia/Tokyo, UTC) (got 'Tokyo')",
            "environment: FUNNEL_TARGET: unknown key (a typo?)",
            "environment: FUNNEL_HOLIDAY_CALENDAR: not a country calendar of the holidays library (JP, US, ...) or none "
            "(got 'XX')",
            "environment: FUNNEL_ALERT_MONTHS: Input should be a valid integer, unable to parse string as an integer "
            "(got 'two')",
            "environment: FUNNEL_ALERT_MAX_ATTEMPTS: Input should be less than or equal to 30 (got '31')",
            "environment: FUNNEL_STALE_AFTER_HOURS: Input should be greater than 0 (got '0')",
        ]
    )
    with pytest.raises(ConfigError, match="^environment: FUNNEL_ALERT_LANGUAGE: no alert template .*/fr.yml$"):
        read_environment({"FUNNEL_ALERT_LANGUAGE": "fr"})


def test_environment_defaults_paths_and_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = read_environment(
        {
            "FUNNEL_TARGETS": "plans/t.yml",
            "FUNNEL_AS_OF": "",
            "FUNNEL_MARKETING_AGING_DAYS": "90",
            "FUNNEL_ALERT_URLS": "json://a, json://b  mailto://c",
        }
    )
    assert env.targets == str(tmp_path / "plans" / "t.yml")  # relative to the current directory
    assert env.quality_config == str(PROJECT_ROOT / "quality.yml")  # defaults: the project root
    assert env.as_of is None and env.marketing_aging_days == 90 and env.fiscal_year_start_month == 4
    assert env.alert_urls == ["json://a", "json://b", "mailto://c"]
    assert env.alert_max_attempts == 10 and env.stale_after_hours == 48
    for name in [n for n in os.environ if n.startswith("FUNNEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FUNNEL_AS_OF", "2026-03-31T18:00:00+09:00")
    settings = Settings.from_env()
    assert settings.as_of == "2026-03-31T18:00:00+09:00" and settings.landing_dir == str(PROJECT_ROOT / "data/landing")
    assert set(Settings.model_fields) == {
        "landing_dir",
        "warehouse_path",
        "source_tz",
        "reporting_tz",
        "fiscal_year_start_month",
        "reporting_currency",
        "as_of",
        "marketing_aging_days",
        "quality_config",
        "targets",
        "holiday_calendar",
        "speed_to_lead_sla_business_days",
        "improvement_config",
        "hypotheses",
        "sales_pipeline_config",
        "sources_config",
        "stale_after_hours",
        "lock_timeout_seconds",
        "duckdb_memory_limit",
        "duckdb_threads",
        "engine",
        "lake_dir",
        "spark_dir",
    }
    assert settings.engine == "duckdb" and settings.lake_dir == str(PROJECT_ROOT / "warehouse/lake")
    assert settings.lock_timeout_seconds == 30.0
    monkeypatch.setenv("FUNNEL_LOCK_TIMEOUT_SECONDS", "4000")
    with pytest.raises(ConfigError, match="FUNNEL_LOCK_TIMEOUT_SECONDS"):
        Settings.from_env()


# --- the preflight ----------------------------------------------------------------------------------------


def test_an_unknown_engine_or_spark_without_its_extra_stops_before_anything_runs(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"FUNNEL_ENGINE: Input should be 'duckdb' or 'spark' \(got 'sprak'\)"):
        read_environment({"FUNNEL_ENGINE": "sprak"})
    settings = Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w.duckdb"), engine="sprak")
    with pytest.raises(ConfigError, match="FUNNEL_ENGINE: 'sprak' is not an engine of this project"):
        check_config(settings)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyspark" else object())
    monkeypatch.setattr(shutil, "which", lambda name, *a: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match=r"FUNNEL_ENGINE=spark needs pyspark, Java 17: run `make setup-spark`"):
        check_config(Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w.duckdb"), engine="spark"))


def test_the_preflight_reports_the_mistakes_of_every_file_together(tmp_path):
    (tmp_path / "quality.yml").write_text("reconciliation:\n  tolerence: 0.01\n")
    (tmp_path / "improvement.yml").write_text("gross_margin: 0\n")
    (tmp_path / "hypotheses.yml").write_text("alpha: 0.05\nhypotheses:\n  - id: a\n")
    settings = Settings(
        landing_dir=str(tmp_path),
        warehouse_path=str(tmp_path / "w.duckdb"),
        targets=str(tmp_path / "missing.yml"),
        quality_config=str(tmp_path / "quality.yml"),
        improvement_config=str(tmp_path / "improvement.yml"),
        hypotheses=str(tmp_path / "hypotheses.yml"),
        sources_config=str(tmp_path / "none.yml"),
    )
    with pytest.raises(ConfigError) as error:
        check_config(settings)
    got = str(error.value).splitlines()
    assert got[0] == f"{tmp_path / 'quality.yml'}, line 2: reconciliation.tolerence: unknown key (a typo?)"
    assert got[1] == f"{tmp_path / 'improvement.yml'}, line 1: gross_margin: Input should be greater than 0 (got 0)"
    assert {line.split(": ")[1] for line in got[2:]} == {
        "hypotheses[0].metric",
        "hypotheses[0].effective_date",
        "hypotheses[0].expected_direction",
    }
    assert all(line.startswith(f"{tmp_path / 'hypotheses.yml'}, line 3: ") for line in got[2:])


def test_the_projects_own_files_pass_the_preflight():
    check_config(
        Settings(
            landing_dir=str(PROJECT_ROOT / "data/landing"), warehouse_path=str(PROJECT_ROOT / "warehouse/funnel.duckdb")
        )
    )
    for name in (
        "targets.yml",
        "quality.yml",
        "improvement.yml",
        "hypotheses.yml",
        "sources.yml",
        "sales_pipeline.yml",
    ):
        document, lines = read_yaml(PROJECT_ROOT / name)
        assert document and lines, name


def test_a_sales_pipeline_file_names_every_mistake_with_its_line(tmp_path):
    path = tmp_path / "sales_pipeline.yml"
    path.write_text(
        "stages:\n"
        "  - {name: Qualification, stalled_after_days: 21}\n"
        "  - {name: qualification, stalled_after_days: 0}\n"
        "week_start: mondey\n"
        "coverage: {minimum: 3, montsh: 2}\n"
    )
    with pytest.raises(ConfigError) as error:
        load_sales_pipeline(path)
    got = str(error.value).splitlines()
    assert f"{path}, line 3: stages[1].stalled_after_days: Input should be greater than or equal to 1 (got 0)" in got
    assert any(line.startswith(f"{path}, line 4: week_start: Input should be 'monday'") for line in got)
    assert f"{path}, line 5: coverage.montsh: unknown key (a typo?)" in got


def test_a_sales_stage_listed_twice_is_named(tmp_path):
    path = tmp_path / "sales_pipeline.yml"
    path.write_text(
        "stages:\n  - {name: Proposal, stalled_after_days: 5}\n  - {name: proposal, stalled_after_days: 9}\n"
    )
    with pytest.raises(
        ConfigError, match=r"line 3: stages\[1\]\.name: 'proposal' is listed twice \(also stages\[0\]\)"
    ):
        load_sales_pipeline(path)
    path.write_text("stages: []\n")
    with pytest.raises(ConfigError, match="stages"):
        load_sales_pipeline(path)


def test_the_projects_sales_pipeline_file_reads_as_documented():
    config = load_sales_pipeline(PROJECT_ROOT / "sales_pipeline.yml")
    assert [s.name for s in config.stages] == ["Qualification", "Needs Analysis", "Proposal", "Negotiation"]
    assert (config.iso_week_start, config.coverage.minimum, config.coverage.months) == (1, 3.0, 3)
    assert (config.forecast.interval, config.forecast.min_history) == (0.8, 20)
