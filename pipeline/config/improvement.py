"""The improvement-loop settings file (improvement.yml): gross margin for LTV, re-approach waits per reason."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pydantic

from pipeline.config.files import Strict, load

#: Days before a lost or disqualified record may be approached again, up to ten years.
Days = Annotated[int, pydantic.Field(ge=0, le=3650)]


class Reapproach(Strict):
    default_wait_days: Days = 90
    wait_days_by_reason: dict[str, Days] = {}


class ImprovementConfig(Strict):
    gross_margin: Annotated[float, pydantic.Field(gt=0, le=1)] = 0.75
    reapproach: Reapproach = Reapproach()

    def wait_days(self) -> dict[str, int]:
        """Re-approach waits per reason, lower case, as the models compare reasons."""
        return {reason.lower(): days for reason, days in self.reapproach.wait_days_by_reason.items()}


def load_improvement_config(path: Path) -> ImprovementConfig:
    """The settings of an improvement file; a ConfigError lists every mistake with its line."""
    return load(ImprovementConfig, path)
