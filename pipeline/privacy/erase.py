"""`make erase EMAIL=… LEAD_ID=…`: erase a person's personal data on request (APPI, GDPR), keeping the counts.

    python -m pipeline.privacy.erase [--email ADDRESS]... [--lead-id MA_LEAD_ID]...

The person's records (pipeline/privacy/search.py) keep their rows, ids and timestamps, so every count and mart stays
as it was; their e-mail address, company name and the columns their files had beyond the contract are emptied, in
every version of every record, and quarantined lines naming them become `[erased]`; the address is replaced
wherever else a table holds it. Their identities are recorded as SHA-256 hashes in privacy.erasures, so a later load
of an extract that still holds them leaves their data out (pipeline/privacy/redaction.py). The warehouse file is
then rewritten (pipeline/warehouse/rewrite.py), because DuckDB keeps deleted values in its free blocks, and every
file beside it (the published marts, Parquet, report) is checked byte by byte for the address and company name.
Landing files and Dagster's run storage that still mention the person are listed for the operator.

Exit codes: 0 erased (or only recorded, when only landing files hold the person; or erased before); 1 the person
is found nowhere and nothing changed, or a file could not be written (named); 2 wrong usage or configuration; 3 the
warehouse is held by another process (a run): try again when it ends; 4 erased, but a file beside the warehouse
still holds one of the person's values (named).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import Settings
from pipeline.ingest.contract import ENTITIES
from pipeline.ingest.sources.loader import extra_columns
from pipeline.privacy.redaction import digests, record, recorded, redact_mentions, redact_quarantine, redact_rows
from pipeline.privacy.search import Person, files_containing, find_person, landing_files, others_containing
from pipeline.warehouse.layers import EXTRACTED
from pipeline.warehouse.locks import WarehouseLocationError
from pipeline.warehouse.resource import Warehouse, WarehouseBusyError
from pipeline.warehouse.rewrite import rewrite, wal

EXIT_NOT_FOUND = EXIT_FAILED = 1
EXIT_BUSY = 3
EXIT_REMAINS = 4
KIND_LABELS = {"email": "e-mail address(es)", "ma_lead": "MA lead id(s)", "sfa_lead": "SFA lead id(s)"}


@dataclass
class Erasure:
    """What one erasure did."""

    person: Person
    recorded: int = 0  # identities newly added to privacy.erasures
    known: int = 0  # identities that were on record from an earlier erasure
    rows: dict[str, int] = field(default_factory=dict)  # extracted table -> rows emptied
    lines: int = 0  # quarantined lines replaced
    mentions: dict[str, int] = field(default_factory=dict)  # table -> values the address was replaced in
    bytes_before: int = 0
    bytes_after: int = 0
    kept: list[str] = field(default_factory=list)  # values also held by others, not checked byte by byte
    landing: list[Path] = field(default_factory=list)
    landing_problems: list[str] = field(default_factory=list)
    remains: list[Path] = field(default_factory=list)  # files beside the warehouse that still hold a value
    dagster: list[Path] = field(default_factory=list)  # files of DAGSTER_HOME that mention the person

    @property
    def in_warehouse(self) -> bool:
        return bool(sum(self.rows.values()) or self.lines or self.mentions)

    @property
    def found(self) -> bool:
        return bool(self.in_warehouse or self.known or self.landing)


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? AND NOT temporary", [EXTRACTED]
        ).fetchall()
    }


def redact_everywhere(con: duckdb.DuckDBPyConnection, erased: dict[str, str]) -> tuple[dict[str, int], int]:
    """Empty the data of the `erased` people (digest -> kind) in every extracted table and the quarantine: (table ->
    rows emptied, quarantined lines replaced)."""
    present = _present(con)
    rows = {}
    for entity in (e for e in ENTITIES if e.table in present):
        changed = redact_rows(con, f"{EXTRACTED}.{entity.table}", entity, extra_columns(con, entity), erased, "true")
        if changed:
            rows[entity.table] = changed
    return rows, redact_quarantine(con, erased, "true") if "quarantine" in present else 0


def _redact(con: duckdb.DuckDBPyConnection, erasure: Erasure, erased: dict[str, str]) -> None:
    """Record the person and empty their data everywhere, in one transaction (rolled back when nothing matched)."""
    con.execute("BEGIN TRANSACTION")
    try:
        erasure.recorded = record(con, erased)
        erasure.rows, erasure.lines = redact_everywhere(con, erased)
        erasure.mentions = redact_mentions(con, erasure.person.identities["email"])
        con.execute("COMMIT" if erasure.in_warehouse else "ROLLBACK")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if not erasure.in_warehouse:
        erasure.recorded = 0


def reapply(con: duckdb.DuckDBPyConnection, path: Path, erased: dict[str, str]) -> int:
    """Erase again, in the warehouse file `path` open in `con` (a restored backup), the people of `erased` it has no
    record of, and rewrite the file when there were any; how many identities were new to it."""
    new = {d: k for d, k in erased.items() if d not in recorded(con)}
    if new:
        record(con, new)
        redact_everywhere(con, erased)
        rewrite(con, path)
    return len(new)


def erase(settings: Settings, emails: list[str], lead_ids: list[str], dagster_home: Path | None) -> Erasure:
    """Erase the person from the warehouse, keep them out of later loads, and look for what is left of them."""
    path = Path(settings.warehouse_path)
    warehouse = Warehouse.of(settings)
    with warehouse.connect() as con:
        erasure = Erasure(find_person(con, emails, lead_ids))
        erased = digests(con, erasure.person.pairs())
        erasure.known = len(set(erased) & set(recorded(con)))
        _redact(con, erasure, erased)
        values = erasure.person.identities["email"] | erasure.person.values
        checked = {v for v in values if not others_containing(con, v)}
        erasure.kept = sorted(values - checked)
        if erasure.in_warehouse or erasure.known:  # asked again: the last rewrite may not have happened
            erasure.bytes_before = path.stat().st_size + (wal(path).stat().st_size if wal(path).exists() else 0)
            rewrite(con, path)
            erasure.bytes_after = path.stat().st_size
    identities = [value for _, value in erasure.person.pairs()]
    erasure.landing, erasure.landing_problems = landing_files(
        Path(settings.sources_config), Path(settings.landing_dir), identities
    )
    if erasure.landing and not erasure.in_warehouse:
        with warehouse.connect() as con:  # not loaded yet: recorded, so that the load leaves them out
            erasure.recorded = record(con, erased)
    erasure.remains = files_containing(path.parent, checked, skip=[Path(settings.landing_dir)])  # listed above
    if dagster_home is not None:
        erasure.dagster = files_containing(dagster_home, checked)
    return erasure


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def report(erasure: Erasure, settings: Settings) -> list[str]:
    """What an operator reads: what was erased, what was checked, and what is left for them to do."""
    path, person = Path(settings.warehouse_path), erasure.person
    kinds = ", ".join(f"{len(v)} {KIND_LABELS[k]}" for k, v in person.identities.items() if v)
    lines = []
    if erasure.in_warehouse:
        lines.append(
            f"erased from {path}: values emptied in {sum(erasure.rows.values())} row(s) ({_counts(erasure.rows) or 'none'}), "
            f"{erasure.lines} quarantined line(s), the address in {sum(erasure.mentions.values())} other value(s)"
            f"{' (' + _counts(erasure.mentions) + ')' if erasure.mentions else ''}; every row is kept, so the "
            "counts do not change"
        )
    elif erasure.known:
        lines.append(
            f"{path} holds no data of the person: they were erased before ({erasure.known} of their identities are "
            "on record)"
        )
    else:
        lines.append(f"{path} holds nothing of the person yet")
    if erasure.bytes_after:
        lines.append(
            f"rewrote {path.name} ({erasure.bytes_before:,} -> {erasure.bytes_after:,} bytes), so no free block "
            "keeps an erased value"
        )
    lines.append(
        f"identities of the person ({kinds}): {erasure.recorded} newly recorded as SHA-256 hashes in "
        "privacy.erasures; a later load leaves their data out"
    )
    if erasure.kept:
        lines.append(
            f"{len(erasure.kept)} value(s) of the person (a company name) are also part of other leads' values and "
            "stay there; they were not checked byte by byte"
        )
    if erasure.remains:
        lines.append(f"STILL FOUND in {len(erasure.remains)} file(s) beside the warehouse (a run republishes them):")
        lines += [f"  {p}" for p in erasure.remains]
    else:
        lines.append(f"no file under {path.parent} (warehouse, published marts, Parquet, report) holds the values")
    if erasure.landing:
        lines.append(
            f"ACTION: {len(erasure.landing)} landing file(s) still hold the person; have them corrected at the "
            "source (until then every load leaves the person's data out):"
        )
        lines += [f"  {p}" for p in erasure.landing]
    lines += [f"ACTION: landing file not checked: {problem}" for problem in erasure.landing_problems]
    if erasure.dagster:
        lines.append(
            f"ACTION: Dagster's run storage mentions the person in {len(erasure.dagster)} file(s); delete those runs "
            "in the UI (or `dagster run delete RUN_ID`):"
        )
        lines += [f"  {p}" for p in erasure.dagster]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.privacy.erase",
        description="Erase a person's personal data from the warehouse on request (docs/operations.md).",
    )
    parser.add_argument("--email", action="append", default=[], help="an e-mail address of the person (any case)")
    parser.add_argument("--lead-id", action="append", default=[], help="an MA lead id of the person (ma_leads)")
    args = parser.parse_args(argv)
    if not any(v.strip() for v in args.email + args.lead_id):
        parser.error("name the person with --email ADDRESS and/or --lead-id MA_LEAD_ID")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if not Path(settings.warehouse_path).is_file():
        print(
            f"{settings.warehouse_path} does not exist (FUNNEL_WAREHOUSE): there is nothing to erase from",
            file=sys.stderr,
        )
        return EXIT_CONFIG_ERROR
    home = os.environ.get("DAGSTER_HOME")
    try:
        erasure = erase(settings, args.email, args.lead_id, Path(home) if home else None)
    except WarehouseBusyError as exc:
        print(f"{exc} Nothing was erased; try again when it is free.", file=sys.stderr)
        return EXIT_BUSY
    except WarehouseLocationError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except OSError as exc:  # a read-only folder, a full disk
        print(f"{exc}: the erasure did not finish; run the command again (it redoes every step)", file=sys.stderr)
        return EXIT_FAILED
    if not erasure.found:
        print(
            f"no lead with the given e-mail address or MA lead id is in {settings.warehouse_path} or in the landing "
            "files; nothing was changed (an address matches in any letter case: check its spelling)",
            file=sys.stderr,
        )
        for problem in erasure.landing_problems:
            print(f"landing file not checked: {problem}", file=sys.stderr)
        return EXIT_NOT_FOUND
    print("\n".join(report(erasure, settings)))
    return EXIT_REMAINS if erasure.remains else 0


if __name__ == "__main__":
    sys.exit(main())
