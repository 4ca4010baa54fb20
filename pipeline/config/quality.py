"""The data-quality settings file (quality.yml): reconciliation tolerance and grace periods per hand-over, and the
currencies opportunities, contracts, spend and exchange rates may be in.

Defaults apply to every hand-over of the registry; `handoffs` overrides them for named hand-overs, whose names
must be the registry's (`marketing_to_inside_sales`), so a renamed or misspelt one fails instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pydantic
from iso4217 import Currency

from pipeline.config.files import Strict, load
from pipeline.config.registry import HandoverName, funnel

#: Every ISO 4217 code, from the iso4217 package (the maintenance agency's published table): a code ISO adds
#: arrives with a package update, where a list typed into a suite rejected valid ones (BRL).
ISO_4217 = frozenset(currency.code for currency in Currency)

#: A share of a month's hand-overs that may fail to reconcile.
Share = Annotated[float, pydantic.Field(ge=0, le=1)]
#: Hours a downstream record may arrive after its hand-over, up to ten years.
Hours = Annotated[float, pydantic.Field(ge=0, le=24 * 3650)]


@dataclass(frozen=True)
class HandoffRule:
    tolerance: float
    grace_period_hours: float


class HandoffOverride(Strict):
    tolerance: Share | None = None
    grace_period_hours: Hours | None = None


class Reconciliation(Strict):
    tolerance: Share = 0.005
    grace_period_hours: Hours = 24
    handoffs: dict[HandoverName, HandoffOverride] = {}


def _iso_4217(codes: list[str] | None) -> list[str] | None:
    unknown = sorted(set(codes or ()) - ISO_4217)
    if unknown:
        raise ValueError(f"{unknown} are not ISO 4217 codes (upper case, e.g. JPY)")
    return codes


class QualityFile(Strict):
    reconciliation: Reconciliation = Reconciliation()
    #: The currencies the company sells in; absent, any ISO 4217 code is valid.
    currencies: Annotated[list[str] | None, pydantic.Field(min_length=1), pydantic.AfterValidator(_iso_4217)] = None

    def handoff_rules(self, handovers: tuple[str, ...]) -> dict[str, HandoffRule]:
        """The rule of each of `handovers`: its own override where it has one, else the defaults."""
        section = self.reconciliation
        rules = {}
        for name in handovers:
            own = section.handoffs.get(name, HandoffOverride())
            rules[name] = HandoffRule(
                tolerance=float(section.tolerance if own.tolerance is None else own.tolerance),
                grace_period_hours=float(
                    section.grace_period_hours if own.grace_period_hours is None else own.grace_period_hours
                ),
            )
        return rules


def load_handoff_rules(path: Path) -> dict[str, HandoffRule]:
    """The tolerance and grace period of each hand-over of the registry, defaults merged with overrides."""
    return load(QualityFile, path).handoff_rules(funnel().handover_names)


def load_currencies(path: Path) -> frozenset[str]:
    """The currency codes opportunities, contracts, spend and rates may carry: the optional `currencies` list, else any
    ISO 4217 code."""
    codes = load(QualityFile, path).currencies
    return ISO_4217 if codes is None else frozenset(codes)
