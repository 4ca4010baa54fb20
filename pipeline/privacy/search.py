"""Finding a person who asked to be erased: their records in the warehouse, the landing files that still hold them,
and any file that still contains one of their values.

A person is named by e-mail address or MA lead id. Their records are found through the `person` columns of the
input contract (pipeline/ingest/contract.py) in two steps: first the leads of the person themselves, by address
and MA lead id, to a fixed point (every lead with one of the addresses, every address of one of the leads); then
the ids those leads gave their records in other systems (the SFA lead an MQL became). The second step does not
go on from there, so a wrong link in the data (an SFA lead pointing at someone else's MQL) never leads to another
person's records.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.config.files import ConfigError
from pipeline.config.sources import load_sources
from pipeline.ingest.contract import ENTITIES
from pipeline.ingest.sources.mapping import matched_files
from pipeline.ingest.sources.reader import ReadError, stage, unstage
from pipeline.ingest.sources.values import q
from pipeline.privacy.redaction import KINDS, mention_pattern
from pipeline.warehouse.layers import EXTRACTED

#: The kinds of identity that name the person themselves; the others name records made from theirs.
PERSONAL_KINDS = ("email", "ma_lead")
CHUNK = 1 << 20


@dataclass
class Person:
    """Everything known of one person: identities by kind (e-mail addresses in lower case), and the values of
    their personal columns that are not identities (company names)."""

    identities: dict[str, set[str]] = field(default_factory=lambda: {kind: set() for kind in KINDS})
    values: set[str] = field(default_factory=set)

    def pairs(self) -> list[tuple[str, str]]:
        return sorted((kind, value) for kind, values in self.identities.items() for value in values)


def _normalised(kind: str, value: str) -> str:
    return value.strip().lower() if kind == "email" else value.strip()


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND NOT temporary", [EXTRACTED]
        ).fetchall()
    }


def _theirs(entity, kinds: Iterable[str]) -> str:
    """SQL condition: a row of `entity` names one of the identities in $<kind> of the given kinds."""
    return " OR ".join(
        f"{KINDS[kind].format(q(column))} IN (SELECT unnest(${kind}))"
        for column, kind in entity.person
        if kind in kinds
    )


def find_person(con: duckdb.DuckDBPyConnection, emails: Iterable[str], lead_ids: Iterable[str]) -> Person:
    """The person with these addresses or MA lead ids, and their records in the extracted layer."""
    person = Person()
    person.identities["email"] |= {_normalised("email", e) for e in emails}
    person.identities["ma_lead"] |= {_normalised("ma_lead", i) for i in lead_ids}
    present = _tables(con)
    entities = [e for e in ENTITIES if e.table in present and e.person]
    own = [e for e in entities if any(kind in PERSONAL_KINDS for _, kind in e.person)]
    size = -1
    while size != sum(map(len, person.identities.values())):  # the person's own leads, to a fixed point
        size = sum(map(len, person.identities.values()))
        for entity in own:
            _collect(con, entity, person, PERSONAL_KINDS, PERSONAL_KINDS)
    derived = [kind for kind in KINDS if kind not in PERSONAL_KINDS]
    for entity in entities:  # the records other systems made from them: one step
        _collect(con, entity, person, PERSONAL_KINDS, derived)
    for entity in entities:
        condition = _theirs(entity, KINDS)
        params = {kind: sorted(values) for kind, values in person.identities.items() if f"${kind}" in condition}
        for column in (c for c in entity.personal if c not in {c for c, _ in entity.person}):
            found = con.execute(
                f"SELECT DISTINCT {q(column)} FROM {EXTRACTED}.{entity.table} WHERE ({condition}) AND {q(column)} <> ''",
                params,
            ).fetchall()
            person.values |= {r[0] for r in found}
    return person


def _collect(con, entity, person: Person, matched_by: Iterable[str], collected: Iterable[str]) -> None:
    """Add the identities of kinds `collected` of the rows of `entity` that match the person by kinds `matched_by`."""
    condition = _theirs(entity, matched_by)
    wanted = [(column, kind) for column, kind in entity.person if kind in collected]
    if not condition or not wanted:
        return
    params = {kind: sorted(values) for kind, values in person.identities.items() if f"${kind}" in condition}
    for column, kind in wanted:
        found = con.execute(
            f"SELECT DISTINCT {KINDS[kind].format(q(column))} FROM {EXTRACTED}.{entity.table} WHERE {condition}", params
        ).fetchall()
        person.identities[kind] |= {r[0] for r in found if r[0]}


def others_containing(con: duckdb.DuckDBPyConnection, value: str) -> int:
    """How many text values of the warehouse's tables contain `value` (e-mail addresses in any letter case): another
    lead's company of the same name, or a longer address. Such a value cannot be checked for byte by byte."""
    columns = con.execute(
        "SELECT c.schema_name, c.table_name, c.column_name FROM duckdb_columns() AS c JOIN duckdb_tables() AS t "
        "USING (database_name, schema_name, table_name) WHERE c.data_type = 'VARCHAR' AND NOT t.temporary"
    ).fetchall()
    test = "contains(lower({}), lower($value))" if "@" in value else "contains({}, $value)"
    return sum(
        con.execute(f"SELECT count(*) FROM {q(s)}.{q(t)} WHERE {test.format(q(c))}", {"value": value}).fetchall()[0][0]
        for s, t, c in columns
    )


def landing_files(sources_config: Path, landing_dir: Path, identities: Iterable[str]) -> tuple[list[Path], list[str]]:
    """The extract and lookup files the sources configure that hold one of `identities` (addresses and ids) as a
    word of any value, read as the loader reads them; with the problems that kept files from being read."""
    try:
        sources = load_sources(sources_config, landing_dir).sources
    except ConfigError as exc:
        return [], [str(exc)]
    found: list[Path] = []
    problems: list[str] = []
    files = {
        path: source.dialect
        for source in sources
        for mapping in [*source.entities.values(), *(lk for m in source.entities.values() for lk in m.lookups)]
        for path in matched_files(source, mapping)
    }
    pattern = mention_pattern(identities)
    with duckdb.connect() as con, tempfile.TemporaryDirectory(prefix="funnel-erase-") as work:
        for path, dialect in sorted(files.items()):
            try:
                staged = stage(con, path, dialect, Path(work))
            except ReadError as exc:
                problems.append(str(exc))
                continue
            try:
                named = " OR ".join(f"regexp_matches({q(h)}, $p, 'i')" for h in staged.header)
                hits = con.execute(f"SELECT count(*) FROM {staged.table} WHERE {named}", {"p": pattern}).fetchall()
                if hits[0][0] or any(re.search(pattern, r.raw, re.IGNORECASE) for r in staged.rejects):
                    found.append(path)
            finally:
                unstage(con, staged.table)
    return found, problems


def files_containing(folder: Path, values: Iterable[str], skip: Iterable[Path] = ()) -> list[Path]:
    """The files under `folder`, but not under the folders `skip`, whose bytes contain one of `values` in UTF-8
    (ASCII letters in any case)."""
    needles = sorted({v.encode() for v in values if v}, key=len, reverse=True)
    if not needles or not folder.is_dir():
        return []
    pattern = re.compile(b"|".join(re.escape(n) for n in needles), re.IGNORECASE)
    overlap = max(map(len, needles)) - 1
    skipped = [p.resolve() for p in skip]
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if any(path.resolve().is_relative_to(s) for s in skipped):
            continue
        tail = b""
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                if pattern.search(tail + chunk):
                    hits.append(path)
                    break
                tail = chunk[-overlap:] if overlap else b""
    return hits
