"""Which alerts to raise: a stage turning missed or at risk, and turning back.

The state kept in the sensor's cursor remembers every (month, stage) status seen and the alerts still to
deliver, so each transition raises exactly one alert and none is lost between evaluations.
"""

import json
from dataclasses import asdict, dataclass, field

from pipeline.alerts.messages import render

BAD = {"missed", "at_risk"}
GOOD = {"met", "on_track"}


@dataclass
class Alert:
    alert_id: str
    kind: str  # goal_miss, recovered or run_failure
    month: str | None
    stage: str | None
    status: str | None
    previous_status: str | None
    title: str
    body: str
    run_id: str
    raised_at: float
    delivery_status: str = "pending"  # pending, delivered, no_channel
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None


@dataclass
class State:
    """What the sensor keeps in its cursor between evaluations."""

    last_storage_id: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # "YYYY-MM|stage" -> status
    transitions: dict[str, int] = field(default_factory=dict)  # "YYYY-MM|stage" -> alerts raised so far
    pending: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, cursor: str | None) -> "State":
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def detect(state: State, rows: list[dict], templates: dict, run_id: str, now: float) -> list[Alert]:
    """New alerts for (month, stage) rows whose status turned bad, or turned good after being bad."""
    alerts = []
    for row in rows:
        key = f"{row['month']}|{row['stage']}"
        previous, current = state.statuses.get(key), row["status"]
        state.statuses[key] = current
        if current in BAD and previous not in BAD:
            kind = "goal_miss"
        elif current in GOOD and previous in BAD:
            kind = "recovered"
        else:
            continue
        state.transitions[key] = state.transitions.get(key, 0) + 1
        title, body = render(templates, kind, row, previous, run_id)
        alerts.append(
            Alert(
                f"{key}|{state.transitions[key]}",
                kind,
                row["month"],
                row["stage"],
                current,
                previous,
                title,
                body,
                run_id,
                now,
            )
        )
    return alerts
