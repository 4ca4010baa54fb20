"""The alert ledger: every alert raised, its delivery, and the last status seen of everything alerts watch.

It is a SQLite file beside the warehouse (pipeline/serving/paths.py), not the sensor's cursor and not the
warehouse. A cursor belongs to one sensor of one Dagster instance: `dagster sensor preview`, a new daemon or a
second deployment starts with an empty one, and each would send every alert again. The warehouse cannot be opened
by a sensor while a run writes it. SQLite lets several processes share one file: every change here is one short
transaction begun with BEGIN IMMEDIATE, so a second writer waits (up to LOCK_TIMEOUT_SECONDS) instead of failing.

The ledger never creates its folder, the warehouse folder (MissingFolder): the sensors open it every 30 s, so with
a mistyped FUNNEL_WAREHOUSE the folder would appear and the next run would build a new, empty warehouse there,
which pipeline/warehouse/location.py refuses a missing folder to prevent.

An alert's id is its kind, its subject and its number among the subject's alerts, counted here
(`goal_miss|2026-10|marketing|1`, `recovered|2026-10|marketing|2`, `data_stale|ma_leads|1`,
`run_failure|<run id>|1`): every evaluator that sees a transition computes the same id, and the transaction that
records the new status also inserts the alert, so a transition raises one alert whoever sees it first.

Delivery (pipeline/alerts/delivery.py) claims an alert here before sending it (status `sending`, with the
claimer and a deadline), so two evaluators never send the same alert. A claim whose deadline passed belongs to
a process that died: it counts as a failed attempt and the alert is due again. That is the one window for a
duplicate: a process that dies after a channel accepted the message and before it recorded that here. The
alert id is in every message, so a receiver can drop the second copy.

    python -m pipeline.alerts.ledger

lists the alerts not delivered (pending, being sent, given up) of the ledger beside FUNNEL_WAREHOUSE: exit 0, or
2 when FUNNEL_* or the warehouse folder is wrong, 1 when the ledger cannot be read.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import read_environment
from pipeline.serving.paths import alert_ledger_file

#: How long a writer waits for another process's transaction before the ledger reports it busy.
LOCK_TIMEOUT_SECONDS = 30.0
#: How long a claim holds an alert. Far longer than Apprise takes to give up on a channel (a few seconds
#: each), so a live sender always records its result before another process may take the alert over.
CLAIM_SECONDS = 300.0
# Delivery statuses: `pending` (due at next_attempt_at), `sending` (claimed), `delivered` and `failed` (given up).
# A history taken over from 0.1.0 or 0.2.0 may also hold `no_channel` (raised while no channel was set): such an
# alert is kept as it was and never sent, since it is old news by now.
#: The last error of an alert whose sender's claim expired.
INTERRUPTED = "the process sending it stopped before it recorded the result"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS states (
    watch TEXT NOT NULL, subject TEXT NOT NULL, status TEXT NOT NULL, alerts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL, PRIMARY KEY (watch, subject));
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL, number INTEGER NOT NULL,
    month TEXT, stage TEXT, status TEXT, previous_status TEXT, title TEXT NOT NULL, body TEXT NOT NULL,
    run_id TEXT, raised_at REAL, delivery_status TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL, delivered_at REAL, last_error TEXT, delivered_channels TEXT NOT NULL,
    claimed_by TEXT, claimed_until REAL, failure_reported INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (delivery_status, next_attempt_at);
"""


class LedgerError(RuntimeError):
    """The ledger file cannot be opened or written; the message names it."""


class MissingFolder(LedgerError):
    """The warehouse folder, where the ledger is kept, does not exist; the message names it."""


@dataclass
class Alert:
    alert_id: str
    kind: str  # goal_miss, recovered, data_stale or run_failure
    subject: str  # "2026-10|marketing", an extracted table such as "ma_leads", or a run id
    number: int  # the subject's alerts so far, this one included
    month: str | None
    stage: str | None
    status: str | None
    previous_status: str | None
    title: str
    body: str
    run_id: str | None
    raised_at: float | None  # None only for an alert taken over from a history that did not keep it
    delivery_status: str = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    delivered_at: float | None = None
    last_error: str | None = None
    delivered_channels: list[str] = field(default_factory=list)  # fingerprints of the channels that accepted it
    claimed_by: str | None = None
    claimed_until: float | None = None
    failure_reported: bool = False


@dataclass(frozen=True)
class Change:
    """A watched subject whose status changed, and the alert the change raised, if any."""

    subject: str
    previous: str | None
    current: str
    alert: Alert | None


@dataclass(frozen=True)
class Observation:
    """The status a subject has now; `facts` are what its alert's message is written from."""

    subject: str
    status: str
    facts: Any
    month: str | None = None
    stage: str | None = None


#: (previous status, current status) -> the kind of alert the change raises, or None.
Transition = Callable[[str | None, str], str | None]
#: (kind, alert id, facts, previous status) -> title and body.
Renderer = Callable[[str, str, Any, str | None], tuple[str, str]]

_COLUMNS = [f for f in Alert.__dataclass_fields__]


def _row(alert: Alert) -> list:
    values = [getattr(alert, c) for c in _COLUMNS]
    values[_COLUMNS.index("delivered_channels")] = json.dumps(alert.delivered_channels)
    values[_COLUMNS.index("failure_reported")] = int(alert.failure_reported)
    return values


def _alert(row: sqlite3.Row) -> Alert:
    values = dict(row)
    values["delivered_channels"] = json.loads(values["delivered_channels"])
    values["failure_reported"] = bool(values["failure_reported"])
    return Alert(**values)


class Ledger:
    """One ledger file; each method is one transaction on a connection of its own (safe across threads)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with self._transaction() as con:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('version', '0')")
            con.execute("INSERT OR IGNORE INTO meta VALUES ('copied_version', '0')")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error("open", exc) from exc
        con.row_factory = sqlite3.Row
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise self._error("write", exc) from exc
        finally:
            con.close()

    def _error(self, doing: str, exc: Exception) -> LedgerError:
        folder = self.path.parent
        if not folder.exists():  # SQLite creates the file, never its folder
            return MissingFolder(
                f"the warehouse folder {folder} does not exist, so the alert ledger {self.path.name} cannot be kept "
                "there: create the folder, or correct FUNNEL_WAREHOUSE"
            )
        return LedgerError(f"cannot {doing} the alert ledger {self.path}: {exc}")

    @staticmethod
    def _meta(con: sqlite3.Connection, key: str) -> str | None:
        row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    @staticmethod
    def _changed(con: sqlite3.Connection) -> None:
        """The alerts changed: the warehouse copy (alerting.alerts) is behind until alerts_job records them."""
        con.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'version'")

    # --- seeding ----------------------------------------------------------------------------------------------

    def seeded(self) -> bool:
        """Whether the ledger has taken over the alert history a warehouse may hold (see seed)."""
        with self._transaction() as con:
            return self._meta(con, "seeded_at") is not None

    def seed(self, history: list[Alert], now: float, watch_of_kind: dict[str, str]) -> int:
        """Take over `history` (alerting.alerts of a warehouse written before the ledger, or after the ledger
        file was lost) once: its alerts, and the last status of each subject they were about (in the watch
        `watch_of_kind` names for the alert's kind), so nothing it delivered is raised or sent again. Alerts
        already here win. The number of alerts taken over."""
        with self._transaction() as con:
            if self._meta(con, "seeded_at") is not None:
                return 0
            taken = 0
            for alert in sorted(history, key=lambda a: (a.subject, a.number)):
                if alert.delivery_status == "sending":  # its claim died with the ledger it was in
                    alert.delivery_status = "pending"
                alert.claimed_by = alert.claimed_until = None
                alert.failure_reported = alert.delivery_status == "failed"
                placeholders = ", ".join("?" * len(_COLUMNS))
                taken += con.execute(
                    f"INSERT OR IGNORE INTO alerts ({', '.join(_COLUMNS)}) VALUES ({placeholders})", _row(alert)
                ).rowcount
                watch = watch_of_kind.get(alert.kind)
                if watch and alert.status:
                    con.execute(
                        "INSERT INTO states VALUES (?, ?, ?, ?, ?) ON CONFLICT (watch, subject) DO UPDATE SET "
                        "status = excluded.status, alerts = excluded.alerts, updated_at = excluded.updated_at "
                        "WHERE excluded.alerts > states.alerts",
                        [watch, alert.subject, alert.status, alert.number, now],
                    )
            con.execute("INSERT INTO meta VALUES ('seeded_at', ?)", [repr(now)])
            if taken:
                self._changed(con)
            return taken

    # --- raising ----------------------------------------------------------------------------------------------

    def observe(
        self,
        watch: str,
        observed: list[Observation],
        transition: Transition,
        render: Renderer,
        now: float,
        run_id: str | None = None,
    ) -> list[Change]:
        """Record the status of each observed subject of `watch`; each change the transition rule names raises
        one alert, numbered after the subject's earlier ones. The changes, in order."""
        changes = []
        with self._transaction() as con:
            for seen in observed:
                subject, status = seen.subject, seen.status
                row = con.execute(
                    "SELECT status, alerts FROM states WHERE watch = ? AND subject = ?", [watch, subject]
                ).fetchone()
                previous, number = (row["status"], row["alerts"]) if row else (None, 0)
                if previous == status:
                    continue
                kind = transition(previous, status)
                alert = None
                if kind:
                    number += 1
                    alert_id = f"{kind}|{subject}|{number}"
                    title, body = render(kind, alert_id, seen.facts, previous)
                    alert = Alert(
                        alert_id,
                        kind,
                        subject,
                        number,
                        seen.month,
                        seen.stage,
                        status,
                        previous,
                        title,
                        body,
                        run_id,
                        now,
                        next_attempt_at=now,
                    )
                    self._insert(con, alert)
                con.execute(
                    "INSERT INTO states VALUES (?, ?, ?, ?, ?) ON CONFLICT (watch, subject) DO UPDATE SET "
                    "status = excluded.status, alerts = excluded.alerts, updated_at = excluded.updated_at",
                    [watch, subject, status, number, now],
                )
                changes.append(Change(subject, previous, status, alert))
        return changes

    def record(self, alert: Alert) -> bool:
        """Insert an alert that is not about a watched status (a failed run) unless its id is here already."""
        with self._transaction() as con:
            if con.execute("SELECT 1 FROM alerts WHERE alert_id = ?", [alert.alert_id]).fetchone():
                return False
            self._insert(con, alert)
            return True

    def _insert(self, con: sqlite3.Connection, alert: Alert) -> None:
        placeholders = ", ".join("?" * len(_COLUMNS))
        con.execute(f"INSERT INTO alerts ({', '.join(_COLUMNS)}) VALUES ({placeholders})", _row(alert))
        self._changed(con)

    # --- delivery ---------------------------------------------------------------------------------------------

    def claim(self, owner: str, now: float, max_attempts: int, skip: Collection[str] = ()) -> Alert | None:
        """The oldest alert due for delivery (but those in `skip`), claimed for `owner` until now + CLAIM_SECONDS
        with one more attempt counted; None when nothing is due. Claims that expired count as failed attempts."""
        with self._transaction() as con:
            expired = con.execute(
                "SELECT alert_id, attempts FROM alerts WHERE delivery_status = 'sending' AND claimed_until <= ?",
                [now],
            ).fetchall()
            for alert_id, attempts in expired:
                con.execute(
                    "UPDATE alerts SET delivery_status = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL, "
                    "claimed_until = NULL WHERE alert_id = ?",
                    ["failed" if attempts >= max_attempts else "pending", now, INTERRUPTED, alert_id],
                )
                self._changed(con)
            row = con.execute(
                "SELECT * FROM alerts WHERE delivery_status = 'pending' AND next_attempt_at <= ? "
                f"AND alert_id NOT IN ({', '.join('?' * len(skip))}) ORDER BY raised_at, alert_id LIMIT 1",
                [now, *skip],
            ).fetchone()
            if row is None:
                return None
            alert = _alert(row)
            alert.delivery_status, alert.claimed_by, alert.claimed_until = "sending", owner, now + CLAIM_SECONDS
            alert.attempts += 1
            con.execute(
                "UPDATE alerts SET delivery_status = 'sending', claimed_by = ?, claimed_until = ?, attempts = ? "
                "WHERE alert_id = ?",
                [owner, alert.claimed_until, alert.attempts, alert.alert_id],
            )
            return alert

    def finish(self, alert: Alert) -> bool:
        """Record the outcome the sender set on its claimed `alert`; False (nothing written) when the claim was
        lost, i.e. it outlived CLAIM_SECONDS and another process took the alert over."""
        with self._transaction() as con:
            held = con.execute(
                "SELECT 1 FROM alerts WHERE alert_id = ? AND delivery_status = 'sending' AND claimed_by = ?",
                [alert.alert_id, alert.claimed_by],
            ).fetchone()
            if not held:
                return False
            con.execute(
                "UPDATE alerts SET delivery_status = ?, next_attempt_at = ?, delivered_at = ?, last_error = ?, "
                "delivered_channels = ?, claimed_by = NULL, claimed_until = NULL WHERE alert_id = ?",
                [
                    alert.delivery_status,
                    alert.next_attempt_at,
                    alert.delivered_at,
                    alert.last_error,
                    json.dumps(alert.delivered_channels),
                    alert.alert_id,
                ],
            )
            self._changed(con)
            return True

    # --- reading ----------------------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Every alert, oldest first (what `python -m pipeline.alerts.ledger` lists the undelivered ones of)."""
        with self._transaction() as con:
            return [_alert(r) for r in con.execute("SELECT * FROM alerts ORDER BY raised_at, alert_id")]

    def waiting(self) -> int:
        """How many alerts are still to be delivered: pending (due or backing off) or being sent."""
        with self._transaction() as con:
            return con.execute(
                "SELECT count(*) FROM alerts WHERE delivery_status IN ('pending', 'sending')"
            ).fetchone()[0]

    # --- the warehouse copy -----------------------------------------------------------------------------------

    def snapshot(self) -> tuple[int, list[Alert]]:
        """The ledger's version and every alert, read in one transaction, for the warehouse copy."""
        with self._transaction() as con:
            version = int(self._meta(con, "version") or 0)
            return version, [_alert(r) for r in con.execute("SELECT * FROM alerts ORDER BY raised_at, alert_id")]

    def copied(self, version: int, reported: list[str]) -> None:
        """The warehouse copy holds `version`; the failures in `reported` have been raised at run level."""
        with self._transaction() as con:
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'copied_version' AND CAST(value AS INTEGER) < ?",
                [str(version), version],
            )
            con.executemany("UPDATE alerts SET failure_reported = 1 WHERE alert_id = ?", [[a] for a in reported])

    def behind(self) -> bool:
        """Whether the warehouse copy must be written: the ledger was never seeded, or changed since the copy."""
        with self._transaction() as con:
            return self._meta(con, "seeded_at") is None or int(self._meta(con, "version") or 0) > int(
                self._meta(con, "copied_version") or 0
            )

    def mark_seeded(self, now: float) -> None:
        """Nothing to take over: there is no warehouse file, so no alert history."""
        self.seed([], now, {})


def table(alerts: list[Alert], zone: ZoneInfo) -> list[str]:
    """One line per alert (raised in `zone`, id, status, attempts, last error), under a header; none for none."""
    rows = [
        [
            datetime.fromtimestamp(a.raised_at, zone).strftime("%Y-%m-%d %H:%M") if a.raised_at is not None else "-",
            a.alert_id,
            a.delivery_status,
            str(a.attempts),
            a.last_error or "-",
        ]
        for a in alerts
    ]
    if not rows:
        return []
    rows.insert(0, ["raised", "alert_id", "status", "attempts", "last_error"])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join([*(r[i].ljust(widths[i]) for i in range(4)), r[4]]) for r in rows]


def main() -> int:
    """List the alerts of the ledger beside FUNNEL_WAREHOUSE that are not delivered; the exit code."""
    try:
        env = read_environment()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    path = alert_ledger_file(env.warehouse_path)
    if not path.parent.is_dir():
        print(f"{path.parent} does not exist (FUNNEL_WAREHOUSE={env.warehouse_path})", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if not path.exists():  # reading must not create it
        print(f"no alert raised yet: {path} does not exist")
        return 0
    try:
        alerts = Ledger(path).alerts()
    except LedgerError as exc:
        print(exc, file=sys.stderr)
        return 1
    undelivered = [a for a in alerts if a.delivery_status != "delivered"]
    for line in table(undelivered, ZoneInfo(env.reporting_tz)):
        print(line)
    statuses = Counter(a.delivery_status for a in undelivered)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    print(f"{len(undelivered)} of {len(alerts)} alert(s) in {path} not delivered" + (f": {summary}" if summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
