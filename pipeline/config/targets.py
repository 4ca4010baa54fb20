"""The targets file (targets.yml, FUNNEL_TARGETS): monthly revenue or won-deal targets and the planned funnel.

The file gives, per month, a revenue target (with the average deal size) or a won-deals target, the planned
conversion of each stage (defaults at the top, overrides per month), optional explicit goals per stage and the
planned lag of each stage. Stage names are the registry's; every stage up to the win needs a planned rate in
every month, because the back-calculation (pipeline/goals/back_calculation.py) divides through each of them.
An optional `people` section gives a person's own monthly goal (marts.owner_performance); without one, a person's
target is their share of the team's stage target, which the mart computes from the team list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import pydantic

from pipeline.config.files import Problems, Strict, load
from pipeline.config.registry import StageName, funnel_of

#: A planned conversion: a share of a stage's entries that reach its goal, never 0 (nothing could be divided).
Rate = Annotated[float, pydantic.Field(gt=0, le=1)]
#: A target, deal size, goal or lag: a count or amount that cannot be negative.
Amount = Annotated[float, pydantic.Field(ge=0)]


def _month(value: object) -> object:
    """`2026-04` (text to YAML) or a date, as the first day of its month; anything else fails as not a date."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(f"{value}-01" if len(value) == 7 else value).replace(day=1)
        except ValueError:
            raise ValueError("not a month like 2026-04") from None
    return value.replace(day=1) if type(value) is date else value


Month = Annotated[date, pydantic.BeforeValidator(_month)]


@dataclass(frozen=True)
class MonthPlan:
    """One month of the file, resolved: defaults applied and the target expressed in won deals."""

    month: date
    won_deals: int
    average_deal_size: float | None  # needed for a revenue target and for revenue shortfalls
    conversion: dict[str, float]
    goals: dict[str, int]
    lag_days: dict[str, float]
    revenue: float | None = None  # the month's revenue target as the file gives it (pipeline coverage)


def round_up(value: float) -> int:
    """Round up, ignoring the float noise of a division that is exact (400 / 0.25 = 400, not 401)."""
    return math.ceil(round(value, 9))


class MonthTarget(Strict):
    month: Month
    revenue: Amount | None = None
    won_deals: Amount | None = None  # wins over revenue when both are given
    average_deal_size: Amount | None = None
    conversion: dict[StageName, Rate] = {}
    goals: dict[StageName, Amount] = {}

    @pydantic.model_validator(mode="after")
    def _has_a_target(self) -> MonthTarget:
        if self.revenue is None and self.won_deals is None:
            raise ValueError("give a revenue or a won_deals target")
        return self


class PersonTargets(Strict):
    """One person's monthly goals: the goal of the stage of their role in the team list (sfa/users)."""

    user_id: str = pydantic.Field(min_length=1)  # the SFA user id; quote one that YAML would read as a number
    goals: dict[Month, Amount] = pydantic.Field(min_length=1)


@dataclass(frozen=True)
class PersonTarget:
    user_id: str
    month: date
    goal: float


class TargetsFile(Strict):
    average_deal_size: Amount | None = None
    conversion: dict[StageName, Rate] = {}
    lag_days: dict[StageName, Amount] = {}
    months: list[MonthTarget] = pydantic.Field(min_length=1)
    people: list[PersonTargets] = []

    @pydantic.model_validator(mode="after")
    def _plannable(self, info: pydantic.ValidationInfo) -> TargetsFile:
        """Rules across keys: the rates and deal size each month ends up with, and months that form one run."""
        chain = [s.name for s in funnel_of(info).up_to_win]
        problems: list[tuple[tuple, str]] = []
        seen: set[date] = set()
        for i, entry in enumerate(self.months):
            missing = [s for s in chain if s not in self.conversion | entry.conversion]
            if missing:
                problems.append((("months", i, "conversion"), f"planned conversion missing for {', '.join(missing)}"))
            if entry.won_deals is None and not self._deal_size(entry):
                problems.append((("months", i, "revenue"), "a revenue target needs an average_deal_size above 0"))
            if entry.month in seen:
                problems.append((("months", i, "month"), f"month {entry.month:%Y-%m} repeated"))
            seen.add(entry.month)
        people: set[str] = set()
        for i, person in enumerate(self.people):
            if person.user_id in people:
                problems.append((("people", i, "user_id"), f"user_id {person.user_id} repeated"))
            people.add(person.user_id)
        index = sorted(m.year * 12 + m.month - 1 for m in seen)
        gaps = sorted(set(range(index[0], index[-1] + 1)) - set(index))
        if gaps:
            problems.append(
                (
                    ("months",),
                    f"month(s) missing between {min(seen):%Y-%m} and {max(seen):%Y-%m}: "
                    + ", ".join(f"{g // 12}-{g % 12 + 1:02d}" for g in gaps),
                )
            )
        if problems:
            raise Problems(problems)
        return self

    def _deal_size(self, entry: MonthTarget) -> float | None:
        return entry.average_deal_size if entry.average_deal_size is not None else self.average_deal_size

    def plans(self) -> list[MonthPlan]:
        """The months in order, each with the file's defaults applied and its target in won deals."""
        plans = []
        for entry in sorted(self.months, key=lambda m: m.month):
            deal = self._deal_size(entry)
            won = entry.won_deals if entry.won_deals is not None else entry.revenue / deal
            plans.append(
                MonthPlan(
                    month=entry.month,
                    won_deals=round_up(won),
                    average_deal_size=None if deal is None else float(deal),
                    conversion={s: float(r) for s, r in (self.conversion | entry.conversion).items()},
                    goals={s: round_up(g) for s, g in entry.goals.items()},
                    lag_days={s: float(d) for s, d in self.lag_days.items()},
                    revenue=None if entry.revenue is None else float(entry.revenue),
                )
            )
        return plans

    def person_targets(self) -> list[PersonTarget]:
        """Every person's goal per month, ordered by person and month."""
        return [
            PersonTarget(person.user_id, month, float(goal))
            for person in sorted(self.people, key=lambda p: p.user_id)
            for month, goal in sorted(person.goals.items())
        ]


def load_person_targets(path: Path) -> list[PersonTarget]:
    """The per-person monthly goals of a targets file (`people`); a ConfigError lists every mistake with its line."""
    return load(TargetsFile, path).person_targets()


def load_plans(path: Path) -> list[MonthPlan]:
    """The monthly plans of a targets file; a ConfigError lists every mistake with its line."""
    return load(TargetsFile, path).plans()
