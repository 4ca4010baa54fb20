"""The hypotheses file (hypotheses.yml, FUNNEL_HYPOTHESES): the changes a team is verifying (仮説検証).

Each hypothesis names a metric, which is one stage's conversion as the registry names it (`opportunity_rate` is
inside sales'), the slice the change was tried on, the day it took effect and the direction expected; optionally
a comparison group, a window around that day, the smallest effect worth detecting and the horizon within which
an entry must advance (by default its stage's `horizon_days`). A slice may only use keys the stage knows when an
entry enters it (the stage's `slices`): field sales learns segment and industry only for won accounts, so slicing
win rates by them would bias the result. pipeline/analysis/ (counts.py, statistics.py) tests what this file
declares.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pydantic

from pipeline.config.files import Problems, Strict, load
from pipeline.config.registry import Funnel, SliceKey, Stage, funnel, funnel_of

#: A probability strictly between 0 and 1 (a significance level, a power, an effect on a rate).
Probability = Annotated[float, pydantic.Field(gt=0, lt=1)]
Days = Annotated[int, pydantic.Field(ge=1)]


def _text(value: object) -> object:
    """An id or slice value YAML read as a number (`campaign: 7011`) is the text it was written as."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _date(value: object) -> object:
    """A quoted date ('2026-04-01') reads like an unquoted one, which YAML already made a date."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a date like 2026-04-01") from None
    return value


Text = Annotated[str, pydantic.BeforeValidator(_text)]
Slice = Annotated[dict[SliceKey, Text], pydantic.Field(min_length=1)]


def stages_by_metric(funnel: Funnel) -> dict[str, Stage]:
    """Each metric a hypothesis may name, and the stage whose conversion it is."""
    return {stage.metric: stage for stage in funnel.stages}


def _metric(value: str, info: pydantic.ValidationInfo) -> str:
    metrics = stages_by_metric(funnel_of(info))
    if value not in metrics:
        raise ValueError(f"unknown metric; the metrics are {', '.join(metrics)}")
    return value


class Hypothesis(Strict):
    id: Text = pydantic.Field(min_length=1)
    statement: str = ""
    metric: Annotated[str, pydantic.AfterValidator(_metric)]
    effective_date: Annotated[date, pydantic.BeforeValidator(_date)]
    expected_direction: Literal["increase", "decrease"]
    slice: Slice = {}
    comparison: Slice | None = None
    window_days: Days | None = None  # days before and after the effective date; None: all history
    minimum_effect: Probability = 0.05  # smallest change in the rate (absolute) worth detecting
    #: an entry counts as advanced if it did so within this many days of entering; by default its stage's
    horizon_days: Days | None = pydantic.Field(None, validate_default=True)

    @pydantic.field_validator("horizon_days")
    @classmethod
    def _stage_horizon(cls, value: int | None, info: pydantic.ValidationInfo) -> int | None:
        if value is None and "metric" in info.data:
            return stages_by_metric(funnel_of(info))[info.data["metric"]].horizon_days
        return value

    @pydantic.model_validator(mode="after")
    def _groups(self, info: pydantic.ValidationInfo) -> Hypothesis:
        """Slices the stage knows at entry; a comparison group that is a different group."""
        stage = stages_by_metric(funnel_of(info))[self.metric]
        problems: list[tuple[tuple, str]] = []
        for key, group in (("slice", self.slice), ("comparison", self.comparison or {})):
            unknown = [k for k in group if k not in stage.slices]
            if unknown:
                problems.append(
                    (
                        (key,),
                        f"{self.metric} is a {stage.name} rate, which cannot be sliced by "
                        f"{unknown}; use {list(stage.slices)}",
                    )
                )
        if self.comparison is not None and (not self.slice or self.comparison == self.slice):
            problems.append((("comparison",), "a comparison group needs a slice other than it"))
        if problems:
            raise Problems(problems)
        return self

    @property
    def stage(self) -> str:
        """The stage whose conversion the metric is."""
        return stages_by_metric(funnel())[self.metric].name

    @property
    def decided_only(self) -> bool:
        """Whether the metric's base is the entries decided within the horizon (win rate: won / (won + lost))."""
        return stages_by_metric(funnel())[self.metric].decided_only


class HypothesesFile(Strict):
    alpha: Probability = 0.05  # significance level of the one-sided tests
    power: Probability = 0.8  # power behind the sample size still needed when a result is inconclusive
    hypotheses: list[Hypothesis] = []

    @pydantic.model_validator(mode="after")
    def _unique_ids(self) -> HypothesesFile:
        """Results are keyed by id (marts.hypothesis_results), so two hypotheses cannot share one."""
        ids = [h.id for h in self.hypotheses]
        problems = [
            (("hypotheses", i, "id"), "used by an earlier hypothesis; ids must be unique")
            for i, hid in enumerate(ids)
            if hid in ids[:i]
        ]
        if problems:
            raise Problems(problems)
        return self


def load_hypotheses(path: Path) -> HypothesesFile:
    """The hypotheses of `path`; a missing file means none."""
    return load(HypothesesFile, path) if path.exists() else HypothesesFile()
