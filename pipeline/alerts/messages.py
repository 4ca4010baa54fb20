"""The wording of an alert: a template of the language in FUNNEL_ALERT_LANGUAGE filled in from a status row.

The templates (FUNNEL_ALERT_TEMPLATES/<language>.yml) hold every word, so on-call staff can read the alerts
in their own language without a code change.
"""


def render(templates: dict, kind: str, row: dict, previous: str | None, run_id: str) -> tuple[str, str]:
    """Title and body of a `kind` alert (goal_miss or recovered) for one status row."""
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
    return templates[kind]["title"].format(**fields), templates[kind]["body"].format(**fields)
