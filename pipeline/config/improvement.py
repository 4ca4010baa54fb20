"""The improvement-loop settings file (improvement.yml): gross margin for LTV, re-approach waits per reason."""

from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ImprovementConfigError(ValueError):
    """improvement.yml is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class ImprovementConfig:
    gross_margin: float = 0.75
    reapproach_default_wait_days: int = 90
    reapproach_wait_days: dict[str, int] = field(default_factory=dict)

    def dbt_vars(self) -> dict[str, object]:
        return {
            "gross_margin": self.gross_margin,
            "reapproach_default_wait_days": self.reapproach_default_wait_days,
            "reapproach_wait_days": dict(self.reapproach_wait_days),
        }


def _days(path: Path, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3650:
        raise ImprovementConfigError(f"{path}: {key} must be a whole number of days in [0, 3650], not {value!r}")
    return value


def load_improvement_config(path: Path) -> ImprovementConfig:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ImprovementConfigError(f"{path}: cannot be read: {exc}") from exc
    margin = document.get("gross_margin", 0.75)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin <= 1:
        raise ImprovementConfigError(f"{path}: gross_margin must be a number in (0, 1], not {margin!r}")
    reapproach = document.get("reapproach") or {}
    by_reason = reapproach.get("wait_days_by_reason") or {}
    if not isinstance(by_reason, dict):
        raise ImprovementConfigError(f"{path}: reapproach.wait_days_by_reason must map reasons to days")
    return ImprovementConfig(
        gross_margin=float(margin),
        reapproach_default_wait_days=_days(path, "reapproach.default_wait_days",
                                           reapproach.get("default_wait_days", 90)),
        reapproach_wait_days={
            str(reason).lower(): _days(path, f"reapproach.wait_days_by_reason.{reason}", days)
            for reason, days in by_reason.items()
        },
    )
