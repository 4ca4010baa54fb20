"""The wording of an alert: a template of the language in FUNNEL_ALERT_LANGUAGE, filled in with the alert's facts.

The templates (FUNNEL_ALERT_TEMPLATES/<language>.yml) hold every word, so on-call staff can read the alerts in
their own language without a code change. Every body carries the alert's id ({alert_id}): the one duplicate
the ledger cannot rule out (pipeline/alerts/ledger.py) carries the same id, so a receiver can drop it. The
templates are checked when the settings are read (template_problems), not when the first alert is due.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml

from pipeline.figures import number, times

#: Every kind of alert; each needs a title and a body in every template file.
KINDS = ("goal_miss", "recovered", "coverage_low", "coverage_recovered", "data_stale", "run_failure")


def render(templates: dict, kind: str, alert_id: str, fields: dict) -> tuple[str, str]:
    """Title and body of a `kind` alert."""
    template = templates[kind]
    return template["title"].format(alert_id=alert_id, **fields), template["body"].format(alert_id=alert_id, **fields)


def goal_fields(templates: dict, row: dict, previous: str | None, run_id: str) -> dict:
    """The fields of a goal_miss or recovered alert, from one status row of the published KPI mart."""
    fields = {
        "month": row["month"],
        "stage": row["stage"],
        "status": row["status"],
        "previous_status": previous or "-",
        "goal": row["goal"],
        "target_goal": row["target_goal"],
        "run_id": run_id,
        "attainment": f"{row['goal_attainment']:.0%}" if row["goal_attainment"] == row["goal_attainment"] else "-",
        "status_text": templates["status_text"].get(row["status"], row["status"]),
        "bottleneck": row["bottleneck"] or "-",
    }
    projected = row.get("projected_goal")
    fields["projection"] = (
        templates["projection"].format(
            projected_goal=int(projected),
            business_days=int(row["business_days"]),
            business_days_elapsed=int(row["business_days_elapsed"]),
        )
        if projected == projected and projected is not None
        else ""
    )
    return fields


def coverage_fields(row: dict, previous: str | None, run_id: str, currency: str) -> dict:
    """The fields of a coverage_low or coverage_recovered alert, from one month row of marts.pipeline_coverage."""
    return {
        "month": row["month"],
        "status": row["status"],
        "previous_status": previous or "-",
        "pipeline_count": number(row["pipeline_count"]),
        "pipeline_amount": number(row["pipeline_amount"]),
        "won_count": number(row["won_count"]),
        "target_count": number(row["target_count"]),
        "remaining_count": number(row["remaining_count"]),
        "coverage": times(row["coverage_remaining_count"]),
        "amount_coverage": times(row["coverage_remaining_amount"]),
        "minimum": f"{row['coverage_minimum']:g}x",
        "overdue_count": number(row["overdue_count"]),
        "undated_count": number(row["undated_count"]),
        "currency": currency,
        "run_id": run_id,
    }


def stale_fields(
    templates: dict,
    system: str,
    entity: str,
    newest_file: str | None,
    written_at: datetime | None,
    age_hours: float | None,
    stale_after_hours: float,
    landing_dir: str,
) -> dict:
    """The fields of a data_stale alert: which extract, its newest file and how old it is."""
    newest = (
        templates["stale_newest"].format(
            newest_file=newest_file, written_at=f"{written_at:%Y-%m-%d %H:%M %Z}", age_hours=f"{age_hours:.0f}"
        )
        if newest_file is not None and written_at is not None and age_hours is not None
        else templates["stale_none"]
    )
    return {
        "system": system,
        "entity": entity,
        "newest": newest,
        "stale_after_hours": f"{stale_after_hours:g}",
        "landing_dir": landing_dir,
    }


def run_failure_fields(run_id: str, job_name: str, error: str) -> dict:
    return {"run_id": run_id, "job_name": job_name, "error": error}


def load_templates(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _samples(templates: dict) -> dict[str, dict]:
    """Fields of every kind, built by the same functions real alerts use, to try each template with."""
    row = {
        "month": "2026-10",
        "stage": "marketing",
        "status": "at_risk",
        "goal": 1,
        "target_goal": 2,
        "goal_attainment": 0.5,
        "projected_goal": 3.0,
        "business_days": 21,
        "business_days_elapsed": 13,
        "bottleneck": "marketing",
    }
    written = datetime.fromisoformat("2026-10-01T09:00:00+09:00")
    stale = stale_fields(templates, "ma", "ma_leads", "ma/leads.csv", written, 49.0, 48.0, "/landing")
    stale_fields(templates, "ma", "ma_leads", None, None, None, 48.0, "/landing")
    coverage = {
        "month": "2026-10",
        "status": "below_minimum",
        "pipeline_count": 5,
        "pipeline_amount": 20_000_000.0,
        "won_count": 1,
        "target_count": 4,
        "remaining_count": 3,
        "coverage_remaining_count": 5 / 3,
        "coverage_remaining_amount": 1.5,
        "coverage_minimum": 3.0,
        "overdue_count": 2,
        "undated_count": None,
    }
    return {
        "goal_miss": goal_fields(templates, row, "on_track", "run"),
        "recovered": goal_fields(templates, {**row, "status": "met"}, "at_risk", "run"),
        "coverage_low": coverage_fields(coverage, "covered", "run", "JPY"),
        "coverage_recovered": coverage_fields({**coverage, "status": "covered"}, "below_minimum", "run", "JPY"),
        "data_stale": stale,
        "run_failure": run_failure_fields("run", "refresh", "error"),
    }


def template_problems(path: Path) -> list[str]:
    """What is wrong with the template file `path`: a missing kind, title or body, a field it names that does
    not exist, a body without {alert_id}. Empty when every kind renders."""
    try:
        templates = load_templates(path)
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path} cannot be read: {exc}"]
    if not isinstance(templates, dict):
        return [f"{path}: expected the keys {', '.join(KINDS)}"]
    try:
        samples = _samples(templates)
    except KeyError as exc:
        return [f"{path}: {exc.args[0]}: missing, or names a field that does not exist"]
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        return [f"{path}: status_text, projection, stale_newest or stale_none: {exc}"]
    problems = []
    for kind in KINDS:
        template = templates.get(kind)
        if not isinstance(template, dict) or not all(isinstance(template.get(k), str) for k in ("title", "body")):
            problems.append(f"{path}: {kind}: needs a title and a body")
            continue
        try:
            _, body = render(templates, kind, "ALERT-ID", samples[kind])
        except KeyError as exc:
            problems.append(f"{path}: {kind}: no field {{{exc.args[0]}}} in a {kind} alert")
            continue
        except (ValueError, IndexError) as exc:
            problems.append(f"{path}: {kind}: {exc}")
            continue
        if "ALERT-ID" not in body:
            problems.append(f"{path}: {kind}.body: must contain {{alert_id}}, so a receiver can drop a duplicate")
    return problems
