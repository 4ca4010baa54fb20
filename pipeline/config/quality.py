"""The data-quality settings file (quality.yml): reconciliation tolerance and grace periods per hand-over, and the
currencies opportunities may be in."""

from dataclasses import dataclass
from pathlib import Path

import yaml
from iso4217 import Currency

HANDOFFS = ("marketing_to_inside_sales", "inside_sales_to_field_sales", "field_sales_to_customer_success")
#: Every ISO 4217 code, from the iso4217 package (the maintenance agency's published table): a code ISO adds
#: arrives with a package update, where a list typed into a suite rejected valid ones (BRL).
ISO_4217 = frozenset(currency.code for currency in Currency)


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


def _document(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise QualityConfigError(f"{path}: cannot be read: {exc}") from exc


def load_currencies(path: Path) -> frozenset[str]:
    """The currency codes opportunities may carry: the optional `currencies` list, to hold an extract to the
    currencies the company sells in, else any ISO 4217 code."""
    codes = _document(path).get("currencies")
    if codes is None:
        return ISO_4217
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        raise QualityConfigError(f"{path}: currencies must be a non-empty list of ISO 4217 codes such as "
                                 f"[JPY, USD], not {codes!r}")
    if unknown := sorted(set(codes) - ISO_4217):
        raise QualityConfigError(f"{path}: currencies {unknown} are not ISO 4217 codes (upper case, e.g. JPY)")
    return frozenset(codes)


def load_handoff_rules(path: Path) -> dict[str, HandoffRule]:
    """The tolerance and grace period of each hand-over, defaults merged with per-hand-over overrides."""
    section = _document(path).get("reconciliation") or {}
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
