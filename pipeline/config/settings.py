"""Runtime settings, read from environment variables so that nothing is configured by editing code.

Every setting has a documented default (docs/configuration.md). Relative paths given in the
environment resolve against the current directory; the defaults resolve against the project root,
so `make run` works from any directory.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg


PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every asset or check that writes the DuckDB file runs in this Dagster concurrency pool,
#: whose limit is 1 (dagster_home/dagster.yaml): DuckDB admits one writing process per file.
WAREHOUSE_POOL = "duckdb_warehouse"


class SettingsError(ValueError):
    """A setting in the environment is missing or malformed."""


def _path(env: str, default: str) -> Path:
    raw = os.environ.get(env)
    if raw:
        return Path(raw).expanduser().resolve()
    return (PROJECT_ROOT / default).resolve()


def _timezone(env: str, default: str) -> str:
    name = os.environ.get(env) or default
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(f"{env}={name!r} is not an IANA time zone (e.g. Asia/Tokyo, UTC)") from exc
    return name


def _int(env: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(env)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{env}={raw!r} is not an integer") from exc
    if not low <= value <= high:
        raise SettingsError(f"{env}={value} is outside {low}..{high}")
    return value


def _as_of(env: str) -> str | None:
    raw = os.environ.get(env)
    if not raw:
        return None
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(raw)
            return raw
        except ValueError:
            continue
    raise SettingsError(f"{env}={raw!r} is not an ISO date (2024-06-30) or timestamp (2024-06-30T18:00:00+09:00)")


class Settings(dg.ConfigurableResource):
    """Where extracts and the warehouse live, and how time is read and cut into periods.

    A Dagster resource, so the values in force show in the UI and can be overridden per run.
    """

    landing_dir: str
    warehouse_path: str
    source_tz: str = "Asia/Tokyo"
    reporting_tz: str = "Asia/Tokyo"
    fiscal_year_start_month: int = 4
    as_of: str | None = None
    marketing_aging_days: int = 180
    quality_config: str = str(PROJECT_ROOT / "quality.yml")
    targets: str = str(PROJECT_ROOT / "targets.yml")
    holiday_calendar: str = "JP"
    speed_to_lead_sla_business_days: int = 1
    improvement_config: str = str(PROJECT_ROOT / "improvement.yml")
    hypotheses: str = str(PROJECT_ROOT / "hypotheses.yml")
    sources_config: str = str(PROJECT_ROOT / "sources.yml")

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            landing_dir=str(_path("FUNNEL_LANDING_DIR", "data/landing")),
            warehouse_path=str(_path("FUNNEL_WAREHOUSE", "warehouse/themodel.duckdb")),
            source_tz=_timezone("FUNNEL_SOURCE_TZ", "Asia/Tokyo"),
            reporting_tz=_timezone("FUNNEL_REPORTING_TZ", "Asia/Tokyo"),
            fiscal_year_start_month=_int("FUNNEL_FISCAL_YEAR_START_MONTH", 4, 1, 12),
            as_of=_as_of("FUNNEL_AS_OF"),
            marketing_aging_days=_int("FUNNEL_MARKETING_AGING_DAYS", 180, 1, 3650),
            quality_config=str(_path("FUNNEL_QUALITY_CONFIG", "quality.yml")),
            targets=str(_path("FUNNEL_TARGETS", "targets.yml")),
            holiday_calendar=os.environ.get("FUNNEL_HOLIDAY_CALENDAR") or "JP",
            speed_to_lead_sla_business_days=_int("FUNNEL_SPEED_TO_LEAD_SLA_DAYS", 1, 0, 60),
            improvement_config=str(_path("FUNNEL_IMPROVEMENT_CONFIG", "improvement.yml")),
            hypotheses=str(_path("FUNNEL_HYPOTHESES", "hypotheses.yml")),
            sources_config=str(_path("FUNNEL_SOURCES", "sources.yml")),
        )

    def dbt_env(self) -> dict[str, str]:
        """The environment of a dbt invocation: the settings dbt reads with env_var() (transforms/dbt_project.yml,
        profiles.yml), so a `dbt build` by hand with the same environment computes what the Dagster run does."""
        return {
            "FUNNEL_WAREHOUSE": self.warehouse_path,
            "FUNNEL_REPORTING_TZ": self.reporting_tz,
            "FUNNEL_FISCAL_YEAR_START_MONTH": str(self.fiscal_year_start_month),
            "FUNNEL_AS_OF": self.as_of or "",
            "FUNNEL_MARKETING_AGING_DAYS": str(self.marketing_aging_days),
            "FUNNEL_SPEED_TO_LEAD_SLA_DAYS": str(self.speed_to_lead_sla_business_days),
        }
