"""Mapping files: one YAML per source says which files hold which contract entity and how its columns read.

A mapping is validated into frozen dataclasses before anything is read, and every error names the mapping file
and the key, so a typo fails at once instead of as a half-loaded warehouse. Built-in adapters (Salesforce,
HubSpot, Marketo) are mapping files shipped in `adapters/`; a user's mapping names one with `adapter:` and adds
only its file globs and any overrides.
"""

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from pipeline.config.files import ConfigError
from pipeline.ingest.contract import ENTITIES, ENTITIES_BY_TABLE, Entity

ADAPTERS_DIR = Path(__file__).parent / "adapters"
DEFAULT_THRESHOLD = 0.01
#: Bad rows a file may always have, whatever its size: one bad row in a 60-row file is quarantined, not fatal.
DEFAULT_FLOOR = 10
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet",)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class MappingError(ConfigError):
    """A mapping file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Dialect:
    """How a source writes its files; `None` means detect (encoding, delimiter) or use the default (time zone)."""

    encoding: str | None = None
    delimiter: str | None = None
    quote: str = '"'
    decimal: str = "."
    thousands: str | None = ","
    date_formats: tuple[str, ...] = ()
    timezone: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class ColumnSpec:
    """Where one contract column comes from: a source column, a SQL expression over the file, or a constant."""

    column: str | None = None
    sql: str | None = None
    value: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # value map applied to the source text, e.g. 商談化 -> converted


@dataclass(frozen=True)
class Lookup:
    """Other files an entity's SQL may join (a temp table named `name`), e.g. Salesforce tasks for first contact.

    Without files it is an empty table of `columns`, so an adapter's derived column is simply empty."""

    name: str
    files: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class EntityMapping:
    entity: Entity
    files: tuple[str, ...]  # globs relative to the source's files folder
    columns: dict[str, ColumnSpec]
    where: str | None = None  # SQL over the file's columns; rows it rejects are counted as excluded
    optional_columns: tuple[str, ...] = ()  # source columns that may be absent (read as empty)
    last_modified: ColumnSpec | None = None  # newest record wins among duplicates
    keep_extra_columns: bool = False
    lookups: tuple[Lookup, ...] = ()


@dataclass(frozen=True)
class SourceMapping:
    name: str
    files_dir: Path
    dialect: Dialect
    threshold: float
    floor: int = DEFAULT_FLOOR  # a file fails only when more than max(threshold x rows, floor) rows are bad
    entities: dict[str, EntityMapping] = field(default_factory=dict)
    path: Path | None = None  # the mapping file; None for the canonical landing layout


def _fail(where: str, message: str) -> MappingError:
    return MappingError(f"{where}: {message}")


def _mapping_of(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, f"expected a mapping (key: value), got {type(value).__name__}")
    return value


def _str_list(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise _fail(where, "expected a string or a list of strings")


def _dialect(raw: dict, where: str, base: Dialect) -> Dialect:
    allowed = set(Dialect.__dataclass_fields__)
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    values = {**base.__dict__, **raw}
    if values["encoding"] not in (None, "auto"):
        try:
            codecs.lookup(values["encoding"])
        except LookupError as exc:
            raise _fail(f"{where}.encoding", f"unknown encoding {values['encoding']!r} (try utf-8, cp932)") from exc
    if values["encoding"] == "auto":
        values["encoding"] = None
    for key in ("delimiter", "quote", "decimal", "thousands"):
        if values[key] is not None and (not isinstance(values[key], str) or len(values[key]) != 1):
            raise _fail(f"{where}.{key}", f"expected one character, got {values[key]!r}")
    if values["decimal"] == values["thousands"]:
        raise _fail(where, "decimal and thousands separators must differ")
    if values["timezone"] is not None:
        try:
            ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise _fail(f"{where}.timezone", f"{values['timezone']!r} is not an IANA time zone") from exc
    values["date_formats"] = (
        _str_list(values["date_formats"], f"{where}.date_formats") if values["date_formats"] else ()
    )
    return Dialect(**values)


def _column_spec(value, where: str) -> ColumnSpec:
    if isinstance(value, str):
        return ColumnSpec(column=value)
    spec = _mapping_of(value, where)
    unknown = set(spec) - {"column", "sql", "value", "values"}
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; use column, sql or value, and values")
    sources = [k for k in ("column", "sql", "value") if spec.get(k) is not None]
    if len(sources) != 1:
        raise _fail(where, "give exactly one of column (a source column), sql (an expression) or value (a constant)")
    values = _mapping_of(spec.get("values") or {}, f"{where}.values")
    return ColumnSpec(
        column=spec.get("column"),
        sql=spec.get("sql"),
        value=None if spec.get("value") is None else str(spec["value"]),
        values=tuple((str(k), str(v)) for k, v in values.items()),
    )


def _entity(table: str, raw: dict, where: str, require_files: bool) -> EntityMapping:
    if table not in ENTITIES_BY_TABLE:
        raise _fail(where, f"unknown entity {table!r}; one of {', '.join(e.table for e in ENTITIES)}")
    entity = ENTITIES_BY_TABLE[table]
    allowed = {"files", "columns", "where", "optional_columns", "last_modified", "keep_extra_columns", "lookups"}
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    if require_files and not raw.get("files"):
        raise _fail(f"{where}.files", "missing: say which files hold this entity (a glob or a list of globs)")
    columns = {}
    for name, value in _mapping_of(raw.get("columns") or {}, f"{where}.columns").items():
        if name not in entity.column_names:
            raise _fail(
                f"{where}.columns.{name}", f"not a column of {table}; its columns are {', '.join(entity.column_names)}"
            )
        columns[name] = _column_spec(value, f"{where}.columns.{name}")
    missing = [c.name for c in entity.columns if c.required and c.name not in columns]
    if missing:
        raise _fail(f"{where}.columns", f"required column(s) {', '.join(missing)} of {table} are not mapped")
    lookups = []
    for name, spec in _mapping_of(raw.get("lookups") or {}, f"{where}.lookups").items():
        spec = _mapping_of(spec, f"{where}.lookups.{name}")
        if not _NAME.match(name) or set(spec) - {"files", "columns"} or not spec.get("columns"):
            raise _fail(
                f"{where}.lookups.{name}",
                "a lookup is a lower-case name with `columns` (the columns the "
                "SQL uses) and optionally `files` (globs)",
            )
        lookups.append(
            Lookup(
                name,
                _str_list(spec.get("files") or [], f"{where}.lookups.{name}.files"),
                _str_list(spec["columns"], f"{where}.lookups.{name}.columns"),
            )
        )
    return EntityMapping(
        entity=entity,
        lookups=tuple(lookups),
        files=_str_list(raw.get("files") or [], f"{where}.files"),
        columns=columns,
        where=raw.get("where"),
        optional_columns=_str_list(raw.get("optional_columns") or [], f"{where}.optional_columns"),
        last_modified=_column_spec(raw["last_modified"], f"{where}.last_modified")
        if raw.get("last_modified")
        else None,
        keep_extra_columns=bool(raw.get("keep_extra_columns", False)),
    )


def _merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`, key by key for nested mappings (so a user can replace one column)."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def adapter_names() -> list[str]:
    return sorted(p.stem for p in ADAPTERS_DIR.glob("*.yml"))


def parse_mapping(raw: dict, where: str, landing_dir: Path, default_threshold: float) -> SourceMapping:
    """A validated SourceMapping from the parsed YAML of a mapping file (`where` names it in errors)."""
    raw = _mapping_of(raw, where)
    allowed = {"source", "adapter", "files_dir", "bad_row_threshold", "dialect", "entities", "description"}
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    name = raw.get("source")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(f"{where}: source", "missing or not a lower-case name such as acme_salesforce")
    if raw.get("adapter") is not None:
        if raw["adapter"] not in adapter_names():
            raise _fail(
                f"{where}: adapter", f"unknown adapter {raw['adapter']!r}; built in: {', '.join(adapter_names())}"
            )
        adapter = yaml.safe_load((ADAPTERS_DIR / f"{raw['adapter']}.yml").read_text(encoding="utf-8"))
        base_entities = adapter.get("entities", {})
        unknown_entities = set(_mapping_of(raw.get("entities") or {}, f"{where}: entities")) - set(base_entities)
        if unknown_entities:
            raise _fail(
                f"{where}: entities",
                f"adapter {raw['adapter']} does not fill {', '.join(sorted(unknown_entities))}; "
                f"it fills {', '.join(base_entities)}",
            )
        raw = {
            **raw,
            "dialect": _merge(adapter.get("dialect") or {}, raw.get("dialect") or {}),
            "entities": {t: _merge(base_entities[t], e or {}) for t, e in (raw.get("entities") or {}).items()},
        }
    threshold = raw.get("bad_row_threshold", default_threshold)
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise _fail(f"{where}: bad_row_threshold", f"expected a share between 0 and 1 (0.01 = 1 %), got {threshold!r}")
    entities_raw = _mapping_of(raw.get("entities") or {}, f"{where}: entities")
    if not entities_raw:
        raise _fail(
            f"{where}: entities", f"no entity mapped; map at least one of {', '.join(e.table for e in ENTITIES)}"
        )
    files_dir = landing_dir / raw.get("files_dir", ".")
    return SourceMapping(
        name=name,
        files_dir=files_dir,
        path=None,
        threshold=float(threshold),
        dialect=_dialect(_mapping_of(raw.get("dialect") or {}, f"{where}: dialect"), f"{where}: dialect", Dialect()),
        entities={
            t: _entity(t, _mapping_of(e, f"{where}: entities.{t}"), f"{where}: entities.{t}", True)
            for t, e in entities_raw.items()
        },
    )


def load_mapping(path: Path, landing_dir: Path, default_threshold: float = DEFAULT_THRESHOLD) -> SourceMapping:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: is not valid YAML: {exc}") from exc
    mapping = parse_mapping(raw, str(path), landing_dir, default_threshold)
    return SourceMapping(**{**mapping.__dict__, "path": path})


def landing_layout(
    landing_dir: Path, threshold: float = DEFAULT_THRESHOLD, floor: int = DEFAULT_FLOOR
) -> SourceMapping:
    """The canonical layout of docs/input-contract.md as a mapping: every column by its own name (those the
    contract lets a file leave out may be absent), extras kept."""
    return SourceMapping(
        name="landing",
        files_dir=landing_dir,
        dialect=Dialect(),
        threshold=threshold,
        floor=floor,
        entities={
            e.table: EntityMapping(
                entity=e,
                files=(f"{e.system}/{e.name}.*", f"{e.system}/{e.name}/**/*"),
                columns={c.name: ColumnSpec(column=c.name) for c in e.columns},
                optional_columns=e.may_be_absent,
                keep_extra_columns=True,
            )
            for e in ENTITIES
        },
    )


def matched_files(source: SourceMapping, mapping: EntityMapping | Lookup) -> list[Path]:
    """The CSV/Parquet files the entity's (or lookup's) globs match, sorted, each once."""
    found: set[Path] = set()
    for pattern in mapping.files:
        base = source.files_dir
        if Path(pattern).is_absolute():
            base, pattern = Path("/"), pattern.lstrip("/")
        found |= {p for p in base.glob(pattern) if p.is_file()}
    return sorted(p for p in found if p.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES))
