"""The improvement-loop settings file (improvement.yml): gross margin for LTV, re-approach waits per reason, and
which acquisition sources are paid (for paid CAC)."""

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


#: An ma_leads.source value as the models compare it: trimmed, lower case, not empty.
Source = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=200)]


class ImprovementConfig(Strict):
    gross_margin: Annotated[float, pydantic.Field(gt=0, le=1)] = 0.75
    reapproach: Reapproach = Reapproach()
    #: The ma_leads.source values whose leads are bought (paid ads, sponsored events): paid CAC weighs the
    #: marketing spend of these sources against the customers they brought. None: no source counts as paid.
    paid_sources: list[Source] = []

    @pydantic.field_validator("paid_sources")
    @classmethod
    def _once_each(cls, sources: list[str]) -> list[str]:
        repeated = sorted({s for s in sources if sources.count(s) > 1})
        if repeated:
            raise ValueError(f"listed more than once: {', '.join(repeated)}")
        return sources

    def wait_days(self) -> dict[str, int]:
        """Re-approach waits per reason, lower case, as the models compare reasons."""
        return {reason.lower(): days for reason, days in self.reapproach.wait_days_by_reason.items()}


def load_improvement_config(path: Path) -> ImprovementConfig:
    """The settings of an improvement file; a ConfigError lists every mistake with its line."""
    return load(ImprovementConfig, path)
