"""Freshness: whether each entity's newest extract is younger than FUNNEL_STALE_AFTER_HOURS.

One check per ingest asset (`extracted/<system>_<entity>`, the entities of the systems the registry declares),
not one per system: an asset check belongs to an asset, and one export of a system can stop while the system's
others still arrive (the CRM's contracts, say, but not its customers). The age is measured from the newest
modification time of the files the configured sources match for the entity (the same files ingest reads), not
from the load log: it tells when the exporting system last delivered, whether or not a run has loaded it since,
and it needs no warehouse connection, so the check runs beside a run that holds the warehouse, and the
`stale_data` sensor evaluates it between runs. Copying extracts in without keeping their times (`cp` without
`-p`) makes them look new. An optional entity (spend, the team list) without any file is not stale: once its files
arrive, they age like any other.

The check warns (WARN severity: `make run` does not fail on it); its turning stale raises one `data_stale`
alert per stale episode through the alert ledger (pipeline/alerts/detection.py). When the warehouse folder, where
the ledger is kept, does not exist, the check still reports and raises nothing: the ledger never creates it.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from pipeline.alerts.detection import raise_stale_alerts
from pipeline.alerts.ledger import Ledger, MissingFolder
from pipeline.alerts.settings import AlertSettings
from pipeline.config.registry import funnel
from pipeline.config.settings import Settings
from pipeline.config.sources import load_sources
from pipeline.ingest.contract import ENTITIES, Entity
from pipeline.ingest.sources.loader import file_id
from pipeline.ingest.sources.mapping import matched_files
from pipeline.serving.paths import alert_ledger_file
from pipeline.warehouse.layers import EXTRACTED

CHECK_NAME = "freshness"


@dataclass(frozen=True)
class Freshness:
    entity: Entity
    newest_file: str | None  # relative to the landing folder when inside it; None when no file matches
    modified_at: float | None
    age_hours: float | None
    stale_after_hours: float

    @property
    def stale(self) -> bool:
        """An extract older than the limit, or a required one missing: an optional entity never delivered is not."""
        if self.age_hours is None:
            return not self.entity.optional
        return self.age_hours > self.stale_after_hours

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey([EXTRACTED, self.entity.table])


def declared_entities() -> list[Entity]:
    """The entities of the source systems the registry declares: those with an ingest asset."""
    return [e for e in ENTITIES if e.system in funnel().systems]


def measure(settings: Settings, now: float) -> list[Freshness]:
    """The newest extract of every declared entity and its age at `now` (seconds since the epoch)."""
    landing = Path(settings.landing_dir)
    sources = load_sources(Path(settings.sources_config), landing).sources
    measured = []
    for entity in declared_entities():
        newest: tuple[float, Path] | None = None
        for source in sources:
            if entity.table not in source.entities:
                continue
            for path in matched_files(source, source.entities[entity.table]):
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:  # removed since it was listed
                    continue
                if newest is None or modified > newest[0]:
                    newest = (modified, path)
        measured.append(
            Freshness(
                entity,
                file_id(newest[1], landing) if newest else None,
                newest[0] if newest else None,
                (now - newest[0]) / 3600 if newest else None,
                settings.stale_after_hours,
            )
        )
    return measured


def evaluation(freshness: Freshness) -> dict:
    """The check's result, as the arguments of an AssetCheckResult (in a run) or AssetCheckEvaluation (a sensor)."""
    f = freshness
    if f.newest_file is None:
        description = f"no extract of {f.entity.table} found" + (
            " (optional: none expected)" if f.entity.optional else ""
        )
    else:
        description = (
            f"newest extract {f.newest_file} is {f.age_hours:.1f} h old; "
            f"FUNNEL_STALE_AFTER_HOURS is {f.stale_after_hours:g}"
        )
    metadata: dict = {"stale_after_hours": f.stale_after_hours}
    if f.newest_file is not None and f.modified_at is not None and f.age_hours is not None:
        metadata |= {
            "newest_file": f.newest_file,
            "modified_at": datetime.fromtimestamp(f.modified_at, UTC).isoformat(timespec="seconds"),
            "age_hours": round(f.age_hours, 2),
        }
    return {
        "asset_key": f.asset_key,
        "check_name": CHECK_NAME,
        "passed": not f.stale,
        "severity": dg.AssetCheckSeverity.WARN,
        "description": description,
        "metadata": metadata,
    }


def record(ledger: Ledger, settings: Settings, measured: list[Freshness], now: float, run_id: str | None) -> list:
    """Record the freshness of each entity in the alert ledger; a newly stale one raises its alert. The changes."""
    return raise_stale_alerts(ledger, measured, AlertSettings.from_env().templates(), settings, now, run_id)


@dg.multi_asset_check(
    name="extract_freshness",
    specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=dg.AssetKey([EXTRACTED, e.table]),
            description=(
                f"Warns when the newest `{e.system}/{e.name}` extract is older than FUNNEL_STALE_AFTER_HOURS "
                "(by the files' modification time); turning stale raises one data_stale alert."
            ),
        )
        for e in declared_entities()
    ],
)
def extract_freshness(context: dg.AssetCheckExecutionContext, settings: Settings) -> Iterator[dg.AssetCheckResult]:
    """The freshness of every declared entity's extracts; needs no warehouse connection, so it is in no pool."""
    now = time.time()
    measured = measure(settings, now)
    try:
        ledger = Ledger(alert_ledger_file(settings.warehouse_path))
        if ledger.seeded():
            record(ledger, settings, measured, now, context.run.run_id)
        else:
            context.log.info(
                "the alert ledger has not taken over the alert history yet: the stale_data sensor records this"
            )
    except MissingFolder as exc:
        context.log.warning(f"{exc}; the freshness is reported here, and no data_stale alert is raised")
    for freshness in measured:
        yield dg.AssetCheckResult(**evaluation(freshness))
