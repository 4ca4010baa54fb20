"""The landing sensor: one run of `refresh` when the extracts in the landing folder change, once they have settled.

What it watches is what the ingest assets load: the files every configured source (sources.yml, docs/sources.md)
matches for the entities of the systems the funnel registry declares, and the lookup files their mappings join.

- **Settled.** An evaluation only lists and stats the files. A run is requested once an evaluation finds the same
  files with the same sizes and modification times as the evaluation before it, and the newest of them is older
  than FUNNEL_LANDING_SETTLE_SECONDS: a copy still being written keeps changing its size or time and waits.
- **Content, not names.** When the files have settled in a state not seen before, their bytes are hashed
  (SHA-256, as the ingest's load log does) and the run is keyed by a fingerprint of each file's hash and the
  entity it is read as, not its name or time: touching a file, or renaming it within its entity's folder, changes
  nothing and starts nothing. Files are hashed only after a change, so a quiet folder costs a directory listing.
- **Never twice.** The fingerprint is the run key; Dagster keeps the run keys of a sensor's runs in its run storage,
  so the same content starts no second run after a restarted daemon, a reset cursor or a second deployment on the
  same DAGSTER_HOME. The cursor holds three digests: the stats last seen, the stats last hashed and the fingerprint
  last requested. A folder put back to content that already ran once (A, then B, then A again) is therefore not
  run again by this sensor; the daily schedule, or a run from the UI, reloads it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg

from pipeline.config.registry import funnel
from pipeline.config.settings import Settings
from pipeline.config.sources import load_sources
from pipeline.ingest.sources.loader import sha256
from pipeline.ingest.sources.mapping import matched_files

#: Tag of each run this sensor requests: the content fingerprint of the extracts it was started for.
FINGERPRINT_TAG = "funnel/landing_fingerprint"


@dataclass(frozen=True)
class Extract:
    path: Path
    role: str  # what the file is read as: "<source>/<entity table>", or ".../<lookup>" for a lookup file
    size: int
    mtime_ns: int


def extracts(settings: Settings) -> list[Extract]:
    """Every file the configured sources match for the declared systems' entities, with its size and time."""
    systems = set(funnel().systems)
    found: dict[tuple[Path, str], None] = {}
    for source in load_sources(Path(settings.sources_config), Path(settings.landing_dir)).sources:
        for table, mapping in source.entities.items():
            if mapping.entity.system not in systems:
                continue
            found |= {(p, f"{source.name}/{table}"): None for p in matched_files(source, mapping)}
            for lookup in mapping.lookups:
                found |= {(p, f"{source.name}/{table}/{lookup.name}"): None for p in matched_files(source, lookup)}
    listed = []
    for path, role in found:
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed since it was listed: the next evaluation sees the folder as it is
            continue
        listed.append(Extract(path, role, stat.st_size, stat.st_mtime_ns))
    return sorted(listed, key=lambda e: (str(e.path), e.role))


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def stats_digest(found: list[Extract]) -> str:
    """Changes whenever a file is added, removed, renamed, written or touched."""
    return _digest([f"{e.role}\t{e.path}\t{e.size}\t{e.mtime_ns}" for e in found])


def content_fingerprint(found: list[Extract]) -> str:
    """Changes only when what would be loaded changes: a file's bytes, or the entity a file is read as."""
    return _digest([f"{e.role}\t{sha256(e.path)}" for e in found])


@dataclass
class LandingState:
    """The sensor's cursor."""

    stats: str | None = None  # stats digest at the last evaluation
    hashed: str | None = None  # stats digest whose content was fingerprinted last
    fingerprint: str | None = None  # fingerprint of the extracts the last run was requested for

    @classmethod
    def load(cls, cursor: str | None) -> LandingState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def evaluate(state: LandingState, found: list[Extract], now: float, settle_seconds: float) -> tuple[str | None, str]:
    """One evaluation: the fingerprint to request a run for (or None), and why; updates `state`."""
    if not found:
        state.stats = None
        return None, "no extract in the landing folder"
    stats, previous = stats_digest(found), state.stats
    state.stats = stats
    if stats != previous:
        return None, f"{len(found)} extract file(s) changed since the last evaluation; waiting for them to settle"
    age = now - max(e.mtime_ns for e in found) / 1e9
    if age < settle_seconds:
        return None, f"the newest extract was written {age:.0f} s ago; waiting until {settle_seconds:.0f} s"
    if stats == state.hashed:
        return None, "no extract changed since the last run was requested"
    state.hashed = stats
    fingerprint = content_fingerprint(found)
    if fingerprint == state.fingerprint:
        return None, "files were touched or renamed, but their content is what the last run was requested for"
    state.fingerprint = fingerprint
    return fingerprint, f"{len(found)} extract file(s) settled with new content"


def landing_sensor(interval_seconds: int, settle_seconds: float) -> dg.SensorDefinition:
    """The sensor, evaluated every `interval_seconds` (FUNNEL_SENSOR_INTERVAL_SECONDS)."""

    @dg.sensor(
        name="landing_extracts",
        job_name="refresh",
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Requests one run of refresh when the extracts in the landing folder change, once they have not "
            f"changed for {settle_seconds:g} s; the same content never starts a second run (pipeline/automation/landing.py)."
        ),
    )
    def landing_extracts(context: dg.SensorEvaluationContext, settings: Settings) -> dg.SensorResult:
        state = LandingState.load(context.cursor)
        found = extracts(settings)
        fingerprint, reason = evaluate(state, found, time.time(), settle_seconds)
        if fingerprint is None:
            return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=state.dump())
        context.log.info(reason)
        request = dg.RunRequest(run_key=f"landing-{fingerprint}", tags={FINGERPRINT_TAG: fingerprint})
        return dg.SensorResult(run_requests=[request], cursor=state.dump())

    return landing_extracts
