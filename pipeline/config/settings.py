"""Runtime settings, read from environment variables so that nothing is configured by editing code.

Every variable (FUNNEL_*) is a field of one model, `Environment`, with its documented default
(docs/configuration.md): a wrong type, a value out of range or an unknown FUNNEL_ variable (a typo) is a
ConfigError naming the variable, all of them at once. Relative paths given in the environment resolve against
the current directory; the defaults resolve against the project root, so `make run` works from any directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
import holidays
import pydantic

from pipeline.alerts.messages import template_problems
from pipeline.config.files import Problems, validate
from pipeline.config.quality import ISO_4217

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every asset or check that writes the DuckDB file runs in this Dagster concurrency pool,
#: whose limit is 1 (dagster_home/dagster.yaml): DuckDB admits one writing process per file.
WAREHOUSE_POOL = "duckdb_warehouse"

#: The dbt target (transforms/profiles.yml) of each engine FUNNEL_ENGINE may name (docs/scale.md).
DBT_TARGETS = {"duckdb": "local", "spark": "spark"}


def _resolved(value: str) -> str:
    return str(Path(value).expanduser().resolve())


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone (e.g. Asia/Tokyo, UTC)") from None
    return value


def _as_of(value: str) -> str:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value)
            return value
        except ValueError:
            continue
    raise ValueError("not an ISO date (2024-06-30) or timestamp (2024-06-30T18:00:00+09:00)")


def _currency(value: str) -> str:
    """An ISO 4217 code as the iso4217 package lists them (upper case), so a typo fails before any run starts."""
    if value not in ISO_4217:
        raise ValueError("not an ISO 4217 currency code in upper case (JPY, USD, EUR, ...)")
    return value


def _calendar(value: str) -> str:
    if value.lower() != "none" and value.upper() not in holidays.list_supported_countries():
        raise ValueError("not a country calendar of the holidays library (JP, US, ...) or none")
    return value


def _cron(value: str) -> str:
    """Checked by the parser Dagster runs schedules with, so what passes here is what the daemon accepts."""
    try:
        dg.ScheduleDefinition(name="cron_check", cron_schedule=value, job_name="cron_check")
    except dg.DagsterInvalidDefinitionError:
        raise ValueError("not a five-field cron expression (minute hour day month weekday, e.g. 0 7 * * *)") from None
    return value


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOST_NAME.match(value):
            raise ValueError("not an IP address or host name to bind to (e.g. 127.0.0.1)") from None
    return value


_SIZE = re.compile(r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|B)\s*$|^\s*\d{1,2}\s*%\s*$", re.IGNORECASE)


def _memory_limit(value: str) -> str:
    """A size as DuckDB's memory_limit takes it, checked here so that a typo fails before any run starts."""
    if not _SIZE.match(value):
        raise ValueError("not a size such as 2GB, 1500MB or 4GiB (or a share of the machine's memory such as 25%)")
    return value


def _words(value: Any) -> Any:
    """URLs separated by spaces or commas, as one variable holds them."""
    return value.replace(",", " ").split() if isinstance(value, str) else value


EnvPath = Annotated[str, pydantic.AfterValidator(_resolved)]
TimeZone = Annotated[str, pydantic.AfterValidator(_timezone)]


def _variable(name: str, default: Any = None, relative: str | None = None, **limits: Any) -> Any:
    """The field read from variable `name`; a default path `relative` to the project root."""
    if relative is not None:
        return pydantic.Field(default_factory=lambda: str((PROJECT_ROOT / relative).resolve()), alias=name)
    return pydantic.Field(default, alias=name, **limits)


#: The landing folder of a fresh checkout, relative to the project root; `make run` writes demo extracts only here.
DEFAULT_LANDING_DIR = "data/landing"


class Environment(pydantic.BaseModel):
    """The FUNNEL_* variables. Values are text, so numbers are parsed ("4" is 4), unlike in the YAML files."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    landing_dir: EnvPath = _variable("FUNNEL_LANDING_DIR", relative=DEFAULT_LANDING_DIR)
    warehouse_path: EnvPath = _variable("FUNNEL_WAREHOUSE", relative="warehouse/themodel.duckdb")
    sources_config: EnvPath = _variable("FUNNEL_SOURCES", relative="sources.yml")
    source_tz: TimeZone = _variable("FUNNEL_SOURCE_TZ", "Asia/Tokyo")
    reporting_tz: TimeZone = _variable("FUNNEL_REPORTING_TZ", "Asia/Tokyo")
    fiscal_year_start_month: int = _variable("FUNNEL_FISCAL_YEAR_START_MONTH", 4, ge=1, le=12)
    reporting_currency: Annotated[str, pydantic.AfterValidator(_currency)] = _variable(
        "FUNNEL_REPORTING_CURRENCY", "JPY"
    )
    as_of: Annotated[str, pydantic.AfterValidator(_as_of)] | None = _variable("FUNNEL_AS_OF")
    marketing_aging_days: int = _variable("FUNNEL_MARKETING_AGING_DAYS", 180, ge=1, le=3650)
    quality_config: EnvPath = _variable("FUNNEL_QUALITY_CONFIG", relative="quality.yml")
    targets: EnvPath = _variable("FUNNEL_TARGETS", relative="targets.yml")
    holiday_calendar: Annotated[str, pydantic.AfterValidator(_calendar)] = _variable("FUNNEL_HOLIDAY_CALENDAR", "JP")
    speed_to_lead_sla_business_days: int = _variable("FUNNEL_SPEED_TO_LEAD_SLA_DAYS", 1, ge=0, le=60)
    improvement_config: EnvPath = _variable("FUNNEL_IMPROVEMENT_CONFIG", relative="improvement.yml")
    hypotheses: EnvPath = _variable("FUNNEL_HYPOTHESES", relative="hypotheses.yml")
    sales_pipeline_config: EnvPath = _variable("FUNNEL_SALES_PIPELINE_CONFIG", relative="sales_pipeline.yml")
    alert_urls: Annotated[list[str], pydantic.BeforeValidator(_words)] = _variable("FUNNEL_ALERT_URLS", [])
    alert_language: str = _variable("FUNNEL_ALERT_LANGUAGE", "en")
    alert_templates: EnvPath = _variable("FUNNEL_ALERT_TEMPLATES", relative="alerts")
    alert_months: int = _variable("FUNNEL_ALERT_MONTHS", 2, ge=1, le=120)
    alert_retry_seconds: float = _variable("FUNNEL_ALERT_RETRY_SECONDS", 60.0, ge=0)
    alert_max_attempts: int = _variable("FUNNEL_ALERT_MAX_ATTEMPTS", 10, ge=1, le=30)
    stale_after_hours: float = _variable("FUNNEL_STALE_AFTER_HOURS", 48.0, gt=0, le=8760)
    sensor_interval_seconds: int = _variable("FUNNEL_SENSOR_INTERVAL_SECONDS", 30, ge=1, le=86400)
    landing_settle_seconds: float = _variable("FUNNEL_LANDING_SETTLE_SECONDS", 60.0, ge=0, le=86400)
    schedule_cron: Annotated[str, pydantic.AfterValidator(_cron)] = _variable("FUNNEL_SCHEDULE_CRON", "0 7 * * *")
    serve_host: Annotated[str, pydantic.AfterValidator(_host)] = _variable("FUNNEL_SERVE_HOST", "127.0.0.1")
    serve_port: int = _variable("FUNNEL_SERVE_PORT", 3000, ge=1, le=65535)
    retain_dbt_targets: int = _variable("FUNNEL_RETAIN_DBT_TARGETS", 20, ge=1, le=10_000)
    retain_runs: int = _variable("FUNNEL_RETAIN_RUNS", 200, ge=1, le=1_000_000)
    retain_run_days: int = _variable("FUNNEL_RETAIN_RUN_DAYS", 90, ge=1, le=36_500)
    lock_timeout_seconds: float = _variable("FUNNEL_LOCK_TIMEOUT_SECONDS", 30.0, ge=0, le=3600)
    duckdb_memory_limit: Annotated[str, pydantic.AfterValidator(_memory_limit)] = _variable(
        "FUNNEL_DUCKDB_MEMORY_LIMIT", "2GB"
    )
    duckdb_threads: int = _variable("FUNNEL_DUCKDB_THREADS", 2, ge=1, le=256)
    # The engine that builds the dbt models (docs/scale.md): DuckDB in the warehouse file, or Spark from the lake.
    engine: Literal[tuple(DBT_TARGETS)] = _variable("FUNNEL_ENGINE", "duckdb")
    # Spark (docs/scale.md): the lake of Parquet folders it reads, where its tables and metastore live, the master
    # and the driver's memory (transforms/profiles.yml falls back to these same defaults).
    lake_dir: EnvPath = _variable("FUNNEL_LAKE_DIR", relative="warehouse/lake")
    spark_dir: EnvPath = _variable("FUNNEL_SPARK_DIR", relative="warehouse/spark")
    spark_master: str = _variable("FUNNEL_SPARK_MASTER", "local[2]", min_length=1)
    spark_driver_memory: str = _variable("FUNNEL_SPARK_DRIVER_MEMORY", "2g", pattern=r"^\d+[kKmMgGtT]$")

    @pydantic.model_validator(mode="after")
    def _alert_template(self) -> Environment:
        """An alert in a language without a template, or with a template that does not render, would fail only
        when the first alert is due."""
        template = Path(self.alert_templates) / f"{self.alert_language}.yml"
        if not template.is_file():
            raise Problems([(("FUNNEL_ALERT_LANGUAGE",), f"no alert template {template}")])
        problems = template_problems(template)
        if problems:
            raise Problems([(("FUNNEL_ALERT_TEMPLATES",), problem) for problem in problems])
        return self


def read_environment(environ: Mapping[str, str] | None = None) -> Environment:
    """The FUNNEL_* variables of `environ` (this process's by default); an empty variable counts as unset."""
    environ = os.environ if environ is None else environ
    values = {name: value for name, value in environ.items() if name.startswith("FUNNEL_") and value}
    return validate(Environment, values, "environment", {})


class Settings(dg.ConfigurableResource):
    """Where extracts and the warehouse live, and how time is read and cut into periods.

    A Dagster resource, so the values in force show in the UI and can be overridden per run.
    """

    landing_dir: str
    warehouse_path: str
    source_tz: str = "Asia/Tokyo"
    reporting_tz: str = "Asia/Tokyo"
    fiscal_year_start_month: int = 4
    reporting_currency: str = Environment.model_fields["reporting_currency"].default
    as_of: str | None = None
    marketing_aging_days: int = 180
    quality_config: str = str(PROJECT_ROOT / "quality.yml")
    targets: str = str(PROJECT_ROOT / "targets.yml")
    holiday_calendar: str = "JP"
    speed_to_lead_sla_business_days: int = 1
    improvement_config: str = str(PROJECT_ROOT / "improvement.yml")
    hypotheses: str = str(PROJECT_ROOT / "hypotheses.yml")
    sales_pipeline_config: str = str(PROJECT_ROOT / "sales_pipeline.yml")
    sources_config: str = str(PROJECT_ROOT / "sources.yml")
    stale_after_hours: float = Environment.model_fields["stale_after_hours"].default
    lock_timeout_seconds: float = Environment.model_fields["lock_timeout_seconds"].default
    duckdb_memory_limit: str = Environment.model_fields["duckdb_memory_limit"].default
    duckdb_threads: int = Environment.model_fields["duckdb_threads"].default
    #: "duckdb" or "spark" (FUNNEL_ENGINE; pipeline/config/preflight.py checks it), and Spark's folders.
    engine: str = Environment.model_fields["engine"].default
    lake_dir: str = Environment.model_fields["lake_dir"].default_factory()
    spark_dir: str = Environment.model_fields["spark_dir"].default_factory()

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment gives; a ConfigError names every variable that is wrong."""
        return cls(**read_environment().model_dump(include=set(cls.model_fields)))

    def dbt_env(self) -> dict[str, str]:
        """The environment of a dbt invocation: the settings dbt reads with env_var() (transforms/dbt_project.yml,
        profiles.yml), so a `dbt build` by hand with the same environment computes what the Dagster run does."""
        return {
            "FUNNEL_WAREHOUSE": self.warehouse_path,
            "FUNNEL_REPORTING_TZ": self.reporting_tz,
            "FUNNEL_FISCAL_YEAR_START_MONTH": str(self.fiscal_year_start_month),
            "FUNNEL_REPORTING_CURRENCY": self.reporting_currency,
            "FUNNEL_AS_OF": self.as_of or "",
            "FUNNEL_MARKETING_AGING_DAYS": str(self.marketing_aging_days),
            "FUNNEL_SPEED_TO_LEAD_SLA_DAYS": str(self.speed_to_lead_sla_business_days),
            "FUNNEL_HYPOTHESES": self.hypotheses,
            "FUNNEL_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "FUNNEL_DUCKDB_THREADS": str(self.duckdb_threads),
            "FUNNEL_LAKE_DIR": self.lake_dir,
            "FUNNEL_SPARK_DIR": self.spark_dir,
        }
