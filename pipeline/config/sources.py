"""The sources file (sources.yml, FUNNEL_SOURCES): which exports the ingest assets load.

Its top level is a typed model like every other configuration file: whether the canonical landing layout is read,
the share of a file's rows that may be quarantined and the number of rows that always may (the floor), and the
mapping files (paths relative to the sources file, or
mappings written inline). Each mapping is then read by pipeline/ingest/sources/mapping.py, whose errors name the
mapping file and key; an inline mapping's errors also name its line in the sources file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import pydantic

from pipeline.config.files import ConfigError, Strict, located, read_yaml, validate, where
from pipeline.ingest.sources.mapping import (
    DEFAULT_FLOOR,
    DEFAULT_THRESHOLD,
    SourceMapping,
    landing_layout,
    load_mapping,
    parse_mapping,
)


def _path_or_mapping(value: Any) -> Any:
    if not isinstance(value, (str, dict)):
        raise ValueError("expected a mapping file's path or a mapping written here (source: ..., entities: ...)")
    return value


class SourcesFile(Strict):
    landing_layout: bool = True
    bad_row_threshold: Annotated[float, pydantic.Field(ge=0, le=1)] = DEFAULT_THRESHOLD
    bad_row_floor: Annotated[int, pydantic.Field(ge=0)] = DEFAULT_FLOOR
    sources: list[Annotated[Any, pydantic.AfterValidator(_path_or_mapping)]] = []


@dataclass(frozen=True)
class SourcesConfig:
    sources: tuple[SourceMapping, ...]
    threshold: float


def load_sources(config: Path, landing_dir: Path) -> SourcesConfig:
    """The sources `config` configures, each mapping read; without the file, only the canonical landing layout,
    with the default 1 % bad-row threshold."""
    if not config.exists():
        return SourcesConfig((landing_layout(landing_dir),), DEFAULT_THRESHOLD)
    document, lines = read_yaml(config)
    file = validate(SourcesFile, document, config, lines)
    threshold = float(file.bad_row_threshold)
    sources = [landing_layout(landing_dir, threshold)] if file.landing_layout else []
    for i, item in enumerate(file.sources):
        if isinstance(item, str):
            sources.append(load_mapping((config.parent / item).resolve(), landing_dir, threshold))
        else:
            sources.append(parse_mapping(item, where(config, lines, ("sources", i)), landing_dir, threshold))
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(
            located(
                config, lines, ("sources",), f"source name(s) {', '.join(duplicated)} used twice; each must be unique"
            )
        )
    return SourcesConfig(tuple(replace(s, floor=file.bad_row_floor) for s in sources), threshold)
