"""Erased people, recorded as hashes, and the SQL that empties their data wherever the extracted layer holds it.

An erasure on request (pipeline/privacy/erase.py) records a SHA-256 of each identity of the person in
privacy.erasures: their e-mail addresses and the MA and SFA lead ids of their records, never the plain values.
The same statements then empty their data at the erasure, at every later load (pipeline/ingest/sources/loader.py)
and after a restore of a backup taken before the erasure (pipeline/warehouse/backup.py), so neither an extract nor
a backup that still holds the person brings them back:

- a row is the person's when one of its `person` columns (pipeline/ingest/contract.py) hashes into the list; it
  keeps its ids, timestamps and every value the funnel counts, and loses its `personal` columns and the columns
  its file had beyond the contract (extras: text of unknown meaning, often names or phone numbers);
- an extra column of any other row that contains one of the addresses as a word is emptied;
- a quarantined line (extracted.quarantine) that contains one of the identities as a word becomes MARKER, and so
  does its reason.

At the erasure itself, with the plain addresses in hand, `redact_mentions` also replaces each address wherever any
table holds it as text (a model that copied it, a free-text reason), keeping the rest of the value.

Unsalted hashes of e-mail addresses can be matched by whoever holds the warehouse file against addresses they
guess: the list keeps the addresses out of sight, not out of reach (docs/operations.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import duckdb

from pipeline.ingest.contract import Entity
from pipeline.ingest.sources.values import lit, q
from pipeline.warehouse.layers import PRIVACY

TABLE = f"{PRIVACY}.erasures"
#: What a quarantined line or reason of an erased person reads as.
MARKER = "[erased]"
#: A word of free text, for finding an identity in it: e-mail addresses and ids contain none of these characters.
#: Written for RE2 (DuckDB).
WORD = r"[^\s,;|\"'<>()\[\]{}:=]+"
#: How each kind of identity is normalised before it is hashed: an e-mail address in any letter case is one.
KINDS = {"email": "lower(trim({}))", "ma_lead": "trim({})", "sfa_lead": "trim({})"}


def digest_sql(kind: str, expression: str) -> str:
    """SQL for the hash an identity of `kind` is recorded and matched by."""
    return f"sha256({lit(kind + ':')} || {KINDS[kind].format(expression)})"


def digests(con: duckdb.DuckDBPyConnection, identities: Iterable[tuple[str, str]]) -> dict[str, str]:
    """digest -> kind for (kind, plain value) pairs, hashed by DuckDB as every match is."""
    pairs = list(dict.fromkeys(identities))
    if not pairs:
        return {}
    rows = " UNION ALL ".join(f"SELECT {lit(k)}, {digest_sql(k, lit(v))}" for k, v in pairs)
    return {d: k for k, d in con.execute(rows).fetchall()}


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? AND NOT temporary",
            [schema, table],
        ).fetchall()[0][0]
    )


def recorded(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """digest -> kind of every identity erased so far (empty when nobody was)."""
    if not _exists(con, PRIVACY, "erasures"):
        return {}
    return dict(con.execute(f"SELECT digest, kind FROM {TABLE}").fetchall())


def record(con: duckdb.DuckDBPyConnection, erased: dict[str, str]) -> int:
    """Add digest -> kind pairs to the list; how many were new."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {PRIVACY}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (digest VARCHAR PRIMARY KEY, kind VARCHAR, erased_at TIMESTAMPTZ)")
    new = {d: k for d, k in erased.items() if d not in recorded(con)}
    for digest, kind in new.items():
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, now())", [digest, kind])
    return len(new)


def words_match(column: str, kinds: Iterable[str]) -> str:
    """SQL condition: a word of text `column`, read as any of `kinds`, hashes into $digests."""
    hashes = ", ".join(digest_sql(k, "rtrim(w, '.')") for k in kinds)  # a sentence's full stop is no part of it
    return f"list_has_any(flatten(list_transform(regexp_extract_all({column}, {lit(WORD)}), lambda w: [{hashes}])), $digests)"


def redact_rows(
    con: duckdb.DuckDBPyConnection, table: str, entity: Entity, extras: list[str], erased: dict[str, str], where: str
) -> int:
    """Empty the personal and extra columns of the erased people's rows of `table` (an extracted table of `entity`,
    or rows of it about to be written) and the extra columns that name an erased address; rows changed.
    `where` limits the rows looked at (SQL condition, `true` for all)."""
    if not erased:
        return 0
    changed = 0
    emptied = [*entity.personal, *extras]
    if entity.person and emptied:
        theirs = " OR ".join(
            f"{digest_sql(kind, q(column))} IN (SELECT unnest($digests))" for column, kind in entity.person
        )
        changed += con.execute(
            f"UPDATE {table} SET {', '.join(f'{q(c)} = NULL' for c in emptied)} WHERE ({where}) AND ({theirs})",
            {"digests": list(erased)},
        ).fetchall()[0][0]
    addresses = [d for d, k in erased.items() if k == "email"]
    for extra in extras if addresses else []:
        changed += con.execute(
            f"UPDATE {table} SET {q(extra)} = NULL "
            f"WHERE ({where}) AND contains({q(extra)}, '@') AND {words_match(q(extra), ['email'])}",
            {"digests": addresses},
        ).fetchall()[0][0]
    return changed


def redact_quarantine(con: duckdb.DuckDBPyConnection, erased: dict[str, str], where: str) -> int:
    """Replace the quarantined lines and reasons that name an erased identity by MARKER; lines changed."""
    if not erased:
        return 0
    line, reason = words_match("raw_line", KINDS), words_match("reason", KINDS)
    return con.execute(
        f"UPDATE extracted.quarantine SET raw_line = CASE WHEN {line} THEN {lit(MARKER)} ELSE raw_line END, "
        f"reason = CASE WHEN {reason} THEN {lit(MARKER)} ELSE reason END WHERE ({where}) AND ({line} OR {reason})",
        {"digests": list(erased)},
    ).fetchall()[0][0]


def mention_pattern(values: Iterable[str]) -> str:
    """An RE2 pattern (for case-insensitive matching) of any of `values` standing as a word of text: not part of a
    longer address or id, and followed by anything but a letter, digit, `_` or `-` (a full stop ends a sentence)."""
    return f"(^|[^a-z0-9._%+-])({'|'.join(re.escape(v) for v in values)})($|[^a-z0-9_-])"


def redact_mentions(con: duckdb.DuckDBPyConnection, addresses: Iterable[str]) -> dict[str, int]:
    """At the erasure, with the plain addresses in hand: replace each of them, as a word in any letter case, by
    MARKER in every text value of every table (a model that copied an address, a free-text reason); table ->
    values changed. The rest of each value is kept, so what the funnel counts does not change."""
    addresses = [a for a in addresses if a]
    if not addresses:
        return {}
    pattern = mention_pattern(addresses)
    columns = con.execute(
        "SELECT c.schema_name, c.table_name, c.column_name FROM duckdb_columns() AS c JOIN duckdb_tables() AS t "
        "USING (database_name, schema_name, table_name) "
        "WHERE c.data_type = 'VARCHAR' AND NOT t.temporary AND c.schema_name <> ?",
        [PRIVACY],
    ).fetchall()
    changed: dict[str, int] = {}
    for schema, table, column in columns:
        count = con.execute(
            f"UPDATE {q(schema)}.{q(table)} SET {q(column)} = regexp_replace({q(column)}, $p, $r, 'gi') "
            f"WHERE regexp_matches({q(column)}, $p, 'i')",
            {"p": pattern, "r": f"\\1{MARKER}\\3"},
        ).fetchall()[0][0]
        if count:
            changed[f"{schema}.{table}"] = changed.get(f"{schema}.{table}", 0) + count
    return changed
