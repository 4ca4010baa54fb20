"""The funnel's shape for Python: its stages in order and the hand-overs between them.

It is declared once, in transforms/dbt_project.yml under `vars.funnel`, where the dbt models read it
(transforms/macros/registry.sql); this module reads the same declaration and validates it, so Python (targets,
quality gates, hypotheses, report, alerts, ingest) and SQL never disagree about which stages exist.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import pydantic

from pipeline.config.files import ConfigError, Strict, read_yaml, validate

DBT_PROJECT_FILE = Path(__file__).resolve().parents[2] / "transforms" / "dbt_project.yml"

System = Literal["ma", "sfa", "crm"]
SliceKey = Literal["source", "campaign", "owner", "segment", "industry"]


class Stage(Strict):
    name: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    system: System
    entity: str = pydantic.Field(description="the extracted table one entry starts from")
    id: str = pydantic.Field(description="the record's id column in the stage table")
    entry: str
    goal: str
    metric: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    horizon_days: int = pydantic.Field(gt=0, le=3650)
    slices: list[SliceKey] = []
    wins: bool = False
    decided_only: bool = False

    @property
    def table(self) -> str:
        """The stage table's model (models/stages/<name>_entries.sql)."""
        return f"{self.name}_entries"


class Handover(Strict):
    from_: str = pydantic.Field(alias="from")
    to: str
    upstream_id: str
    downstream_link: str

    @property
    def name(self) -> str:
        return f"{self.from_}_to_{self.to}"


class Funnel(Strict):
    systems: list[System]
    stages: list[Stage] = pydantic.Field(min_length=1)
    handovers: list[Handover] = []

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Funnel:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names repeat: {names}")
        metrics = [s.metric for s in self.stages]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"stage metrics repeat: {metrics}")
        for stage in self.stages:
            if stage.system not in self.systems:
                raise ValueError(f"stage {stage.name} is in system {stage.system}, which `systems` does not list")
        if sum(s.wins for s in self.stages) != 1:
            raise ValueError("exactly one stage must have `wins: true` (the stage whose goal is the won deal)")
        expected = list(zip(names, names[1:]))
        declared = [(h.from_, h.to) for h in self.handovers]
        if declared != expected:
            raise ValueError(
                "handovers must link each stage to the next, in order: "
                + ", ".join(f"{a} -> {b}" for a, b in expected)
                + f"; declared: {declared}"
            )
        return self

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def order(self, name: str) -> int:
        """1 for the first stage, as stage_order in the marts."""
        return self.stage_names.index(name) + 1

    @property
    def win_stage(self) -> Stage:
        return next(s for s in self.stages if s.wins)

    @property
    def up_to_win(self) -> tuple[Stage, ...]:
        """The stages whose goals lead to the won deal, the win stage included."""
        return tuple(self.stages)[: self.order(self.win_stage.name)]

    @property
    def handover_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.handovers)

    def handovers_of(self, stage: str) -> tuple[str, ...]:
        """The hand-overs a stage takes part in, upstream or downstream."""
        return tuple(h.name for h in self.handovers if stage in (h.from_, h.to))


class _Vars(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    funnel: Funnel


class _Project(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    vars: _Vars


def load_funnel(path: Path = DBT_PROJECT_FILE) -> Funnel:
    """The registry of `path` (a dbt_project.yml); a ConfigError names the key and line of any mistake."""
    document, lines = read_yaml(path)
    return validate(_Project, document, path, lines).vars.funnel


@cache
def funnel() -> Funnel:
    """The registry of this project (transforms/dbt_project.yml), read once per process."""
    return load_funnel()


def funnel_of(info: pydantic.ValidationInfo) -> Funnel:
    """The funnel a configuration file is checked against: the validation context's `funnel` when a caller
    (a test) gives one, else this project's, so stage names in config files always come from the registry."""
    return (info.context or {}).get("funnel") or funnel()


def _stage_name(value: str, info: pydantic.ValidationInfo) -> str:
    names = funnel_of(info).stage_names
    if value not in names:
        raise ValueError(f"unknown stage; the stages are {', '.join(names)}")
    return value


def _handover_name(value: str, info: pydantic.ValidationInfo) -> str:
    names = funnel_of(info).handover_names
    if value not in names:
        raise ValueError(f"unknown hand-over; the hand-overs are {', '.join(names)}")
    return value


#: A stage of the registry, as a key or value of a configuration file.
StageName = Annotated[str, pydantic.AfterValidator(_stage_name)]
#: A hand-over of the registry (`marketing_to_inside_sales`), as a key of a configuration file.
HandoverName = Annotated[str, pydantic.AfterValidator(_handover_name)]


__all__ = [
    "ConfigError",
    "Funnel",
    "Handover",
    "HandoverName",
    "Stage",
    "StageName",
    "funnel",
    "funnel_of",
    "load_funnel",
]
