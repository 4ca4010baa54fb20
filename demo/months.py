"""The demo history as monthly exports: for each month, the records a CRM export of that month would carry.

A month's file holds the records created in the month and the earlier records that changed in it (an SFA lead
contacted, converted or disqualified; an opportunity moved along its path of sales stages, amounts and close dates,
or closed; a contract churned), each as it stood at the month's end: a change dated later is not in it yet. Each
month's opportunity history file holds the changes dated in that month. Loaded in order, the files resolve (newest
file wins, docs/sources.md, "Duplicates") to exactly the records of the whole history, so an incremental run that
adds one month's files can be compared with a full build of all of them. The last month carries everything else, in
its final state.

Timestamps are local wall-clock text in fixed-width formats, so comparing text with a month's first instant
written the same way compares times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MA_TIME = "%Y-%m-%dT%H:%M:%S"  # the MA's text starts like this (then the offset)
SFA_TIME = "%Y/%m/%d %H:%M:%S"
DATE = "%Y/%m/%d"
#: The columns of an opportunity that its path (sfa/opportunity_history) gives at each moment.
PATH_COLUMNS = ("stage_name", "amount", "close_date", "probability", "forecast_category")
#: A customer's won deal's closing time, the moment its record exists (a column of the split only).
WON_AT = "_won_at"


@dataclass(frozen=True)
class Shape:
    """How one extract's records are born and change: `born` dates a record, each of `events` is a change
    (a timestamp column and the columns it brings with it)."""

    born: str
    born_format: str
    events: tuple[tuple[str, tuple[str, ...]], ...] = ()
    event_format: str = SFA_TIME


#: extract name (generator FOLDERS) -> its shape
SHAPES = {
    "leads": Shape("created_at", MA_TIME),
    "mql_events": Shape("mql_at", MA_TIME),
    "sfa_leads": Shape(
        "created_at",
        SFA_TIME,
        (
            ("first_contact_at", ()),
            ("converted_at", ("converted_opportunity_id",)),
            ("disqualified_at", ("disqualified_reason",)),
        ),
    ),
    "opportunities": Shape("created_at", SFA_TIME, (("closed_at", ("lost_reason",)),)),
    # born when its deal is won (WON_AT, added by month_tables); onboarded later, as the whole history has it
    "customers": Shape(WON_AT, SFA_TIME, (("onboarded_at", ()),)),
    "contracts": Shape("start_date", DATE, (("churned_at", ("churn_reason",)),)),
    "opportunity_history": Shape("changed_at", SFA_TIME),  # one row per change: each month holds its own
}


def _text(seconds: int, fmt: str) -> str:
    return np.datetime64(seconds, "s").astype(object).strftime(fmt)


def _before(column: pa.Array, seconds: int | None, fmt: str) -> pa.Array:
    """True where the timestamp text is before the instant (None: the end of time); empty text is never before."""
    if seconds is None:
        return pc.is_valid(column)
    return pc.fill_null(pc.less(column, _text(seconds, fmt)), False)


class Paths:
    """The opportunities' histories, sorted once, to read each one's state just before any instant."""

    def __init__(self, history: pa.Table) -> None:
        self.rows = history.take(
            pc.sort_indices(history, [("opportunity_id", "ascending"), ("changed_at", "ascending")])
        )
        ids = self.rows["opportunity_id"]
        # the last row of each opportunity: where the next row belongs to another one
        self.group_end = np.append(pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False), True)

    def changed(self, start: int, end: int | None) -> pa.Array:
        """The ids of the opportunities with a change from `start` to before `end`."""
        times = self.rows["changed_at"]
        dated = pc.and_(_before(times, end, SFA_TIME), pc.invert(_before(times, start, SFA_TIME)))
        return pc.unique(self.rows["opportunity_id"].filter(dated))

    def at(self, cutoff: int) -> pa.Table:
        """Each opportunity's latest row before `cutoff` (its history is in time order, so the rows before it are a
        prefix: the last of them is followed by a later row or by another opportunity)."""
        before = _before(self.rows["changed_at"], cutoff, SFA_TIME).to_numpy(zero_copy_only=False)
        last = before & (self.group_end | ~np.append(before[1:], False))
        return self.rows.filter(pa.array(last))


def _as_of(name: str, table: pa.Table, cutoff: int | None, paths: Paths | None = None) -> pa.Table:
    """The table's records as they stood just before `cutoff` (changes dated from then on undone); an opportunity's
    stage, amount, close date, probability and forecast category are its path's (`paths`) at that instant."""
    shape = SHAPES[name]
    if cutoff is None or not shape.events:
        return table
    columns = {c: table[c] for c in table.column_names}
    if name == "customers":
        # like the whole history, whose onboarding is never after its end: a customer of a deal won before the
        # month's end is onboarded by then, and its real onboarding time comes as a change next month
        onboarded = _before(table["onboarded_at"], cutoff, SFA_TIME)
        columns["onboarded_at"] = pc.if_else(onboarded, table["onboarded_at"], _text(cutoff - 1, SFA_TIME))
        return pa.table(columns)
    for event, carried in shape.events:
        happened = _before(table[event], cutoff, shape.event_format)
        for column in (event, *carried):
            columns[column] = pc.if_else(happened, table[column], pa.nulls(len(table), table[column].type))
    if name == "sfa_leads":
        contacted = pc.is_valid(columns["first_contact_at"])
        left = pc.or_(pc.is_valid(columns["converted_at"]), pc.is_valid(columns["disqualified_at"]))
        pending = pc.if_else(contacted, pa.scalar("working"), pa.scalar("open"))
        columns["status"] = pc.if_else(left, table["status"], pending)
    if name == "opportunities":
        closed = pc.is_valid(columns["closed_at"])
        columns["is_closed"] = pc.and_(table["is_closed"], closed)
        columns["is_won"] = pc.and_(table["is_won"], closed)
        state = paths.at(cutoff)
        row = pc.index_in(table["opportunity_id"], state["opportunity_id"])
        for column in PATH_COLUMNS:
            columns[column] = pc.coalesce(pc.take(state[column], row), table[column])
    return pa.table(columns)


def month_tables(
    name: str, table: pa.Table, months: np.ndarray, opportunities: pa.Table, history: pa.Table
) -> list[pa.Table]:
    """The extract `name` split into one table per month of `months` (epoch seconds of each month's first second,
    local): month i carries the records born in it or changed in it, as they stood at its end. `opportunities` (the
    whole extract) dates customers by their won deal; `history` (the opportunities' paths) says how opportunities
    change: one with a change in a month is in that month's file, as its path stands at the month's end."""
    shape = SHAPES[name]
    paths = Paths(history) if name == "opportunities" else None
    if name == "customers":
        closed = pc.index_in(table["won_opportunity_id"], opportunities["opportunity_id"])
        won_at = pc.take(opportunities["closed_at"], closed)
        table = table.append_column(WON_AT, pc.coalesce(won_at, table["onboarded_at"]))
    parts = []
    for i in range(months.size):
        start = int(months[i]) if i else None
        end = int(months[i + 1]) if i + 1 < months.size else None
        born = _before(table[shape.born], end, shape.born_format)
        fresh = (
            born if start is None else pc.and_(born, pc.invert(_before(table[shape.born], start, shape.born_format)))
        )
        changed = pa.array(np.zeros(len(table), bool))
        if start is not None and name == "customers":  # onboarding still to come: shown again each month
            changed = pc.invert(_before(table["onboarded_at"], start, SFA_TIME))
        elif start is not None:
            for event, _ in shape.events:
                dated = pc.and_(_before(table[event], end, shape.event_format), pc.is_valid(table[event]))
                since = pc.invert(_before(table[event], start, shape.event_format))
                changed = pc.or_(changed, pc.and_(dated, since))
            if paths is not None:
                changed = pc.or_(changed, pc.is_in(table["opportunity_id"], paths.changed(start, end)))
        rows = pc.or_(fresh, pc.and_(born, changed))
        parts.append(
            _as_of(name, table.filter(rows), end, paths).drop_columns([c for c in [WON_AT] if c in table.column_names])
        )
    return parts


def file_month(path: Path) -> str:
    """The month (`YYYY-MM`) of a monthly export file as `generate(by_month=True)` names it, or '' for a file of the
    whole history (the team list), which sorts before every month and so lands with the first of them."""
    return path.name[:7] if re.match(r"\d{4}-\d{2}", path.name) else ""
