"""The data-quality settings file (quality.yml): reconciliation tolerance and grace periods per hand-over."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.config.registry import funnel

HANDOFFS = funnel().handover_names


class QualityConfigError(ValueError):
    """quality.yml is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class HandoffRule:
    tolerance: float
    grace_period_hours: float


def _number(path: Path, key: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise QualityConfigError(f"{path}: {key} must be a number in [{low}, {high}], not {value!r}")
    return float(value)


def load_handoff_rules(path: Path) -> dict[str, HandoffRule]:
    """The tolerance and grace period of each hand-over, defaults merged with per-hand-over overrides."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise QualityConfigError(f"{path}: cannot be read: {exc}") from exc
    section = document.get("reconciliation") or {}
    tolerance = _number(path, "reconciliation.tolerance", section.get("tolerance", 0.005), 0, 1)
    grace = _number(path, "reconciliation.grace_period_hours", section.get("grace_period_hours", 24), 0, 24 * 3650)
    overrides = section.get("handoffs") or {}
    unknown = set(overrides) - set(HANDOFFS)
    if unknown:
        raise QualityConfigError(f"{path}: unknown hand-over(s) {sorted(unknown)}; use {list(HANDOFFS)}")
    rules = {}
    for name in HANDOFFS:
        own = overrides.get(name) or {}
        key = f"reconciliation.handoffs.{name}"
        rules[name] = HandoffRule(
            tolerance=_number(path, f"{key}.tolerance", own.get("tolerance", tolerance), 0, 1),
            grace_period_hours=_number(path, f"{key}.grace_period_hours", own.get("grace_period_hours", grace),
                                       0, 24 * 3650),
        )
    return rules
