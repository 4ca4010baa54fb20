"""The sales-pipeline file (sales_pipeline.yml): the SFA's open opportunity stages in order with their stall
limits, the week the waterfall counts in, the coverage minimum and the forecast's interval.

The stage order is a fact of the company's SFA, not of the funnel registry (which says where field sales starts
and ends): the pipeline marts read it to tell a move backwards and a stalled deal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pydantic

from pipeline.config.files import Problems, Strict, load

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

StageName = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SalesStage(Strict):
    name: StageName
    #: A deal in this stage that has not changed for longer than this is stalled.
    stalled_after_days: Annotated[int, pydantic.Field(ge=1, le=3650)]


class Coverage(Strict):
    #: Open pipeline ÷ the month's target below this raises an alert.
    minimum: Annotated[float, pydantic.Field(gt=0, le=100)] = 3.0
    #: The open month and the months after it that coverage and the forecast look at.
    months: Annotated[int, pydantic.Field(ge=1, le=12)] = 3


class Forecast(Strict):
    #: The share of outcomes the forecast's interval is meant to cover.
    interval: Annotated[float, pydantic.Field(gt=0, lt=1)] = 0.8
    #: Observations a win-rate cell needs before the forecast uses it instead of a coarser one.
    min_history: Annotated[int, pydantic.Field(ge=1, le=100_000)] = 20


class SalesPipelineConfig(Strict):
    stages: Annotated[list[SalesStage], pydantic.Field(min_length=1)]
    week_start: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    coverage: Coverage = Coverage()
    forecast: Forecast = Forecast()

    @pydantic.model_validator(mode="after")
    def _stages_once_each(self) -> SalesPipelineConfig:
        seen: dict[str, int] = {}
        problems = []
        for index, stage in enumerate(self.stages):
            key = stage.name.lower()
            if key in seen:
                problems.append(
                    (("stages", index, "name"), f"{stage.name!r} is listed twice (also stages[{seen[key]}])")
                )
            seen.setdefault(key, index)
        if problems:
            raise Problems(problems)
        return self

    @property
    def iso_week_start(self) -> int:
        """The ISO day number (1 = Monday … 7 = Sunday) weeks start on."""
        return WEEKDAYS.index(self.week_start) + 1


def load_sales_pipeline(path: Path) -> SalesPipelineConfig:
    """The settings of a sales-pipeline file; a ConfigError lists every mistake with its line."""
    return load(SalesPipelineConfig, path)
