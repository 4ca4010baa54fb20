"""The timeline marts (opportunity_stage_durations, stage_durations_monthly, stalled_opportunities, pipeline_waterfall)
recomputed with pandas straight from the landing files: the route the SQL is checked against.

Each new-business opportunity's timeline comes from sfa/opportunity_history (an empty value carries the previous
row's forward, a value never given comes from the opportunity record, the first state reaches back to created_at,
rows after the as-of instant are left out), or is the record alone when it has no history rows; opening and closing
come from sfa/opportunities; stage order, stall limits, week start and coverage months from sales_pipeline.yml. It
shares no code with the SQL: spells are a per-opportunity walk, states at an instant a merge_asof, the waterfall a
loop over periods with each deal's case decided from its three states.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests import exchange

TZ = "Asia/Tokyo"
DAY = pd.Timedelta(days=1)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CARRIED = ["stage_name", "amount", "currency", "close_date"]
#: What a history row may change; a row changing none of them (each value it gives equals the one carried forward
#: from the rows before) is no change of the pipeline and no version.
TRACKED = [*CARRIED, "probability", "forecast_category"]


def _read(landing: Path, entity: str) -> pd.DataFrame:
    files = sorted((landing / "sfa" / entity).rglob("*.csv"))
    if not files:
        return pd.DataFrame()
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]
    return pd.concat(frames, ignore_index=True).replace({"": None})


def _instants(values: pd.Series) -> pd.Series:
    """ISO text with an offset, or naive 'YYYY/MM/DD HH:MM:SS' read in Asia/Tokyo; as UTC."""
    text = values.fillna("")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
    if offset.any():
        out[offset] = pd.to_datetime(text[offset], utc=True, format="ISO8601")
    naive = values.notna() & ~offset
    if naive.any():
        local = pd.to_datetime(text[naive].str.replace("/", "-"), format="ISO8601")
        out[naive] = local.dt.tz_localize(TZ).dt.tz_convert("UTC")
    return out


def _changes(history: pd.DataFrame) -> pd.Series:
    """True for the rows that give a tracked value differing from the one carried forward from earlier rows."""
    given = pd.DataFrame(
        {
            "stage_name": history["stage_name"],
            "amount": pd.to_numeric(history["amount"]),
            "currency": history["currency"].str.strip().str.upper(),
            "close_date": history["close_date"].str.replace("/", "-").str.slice(0, 10),
            "probability": pd.to_numeric(history["probability"]),
            "forecast_category": history["forecast_category"].str.strip().str.lower().str.replace(" ", "_"),
        },
        index=history.index,
    )
    carried = given.groupby(history["opportunity_id"]).ffill()
    previous = carried.groupby(history["opportunity_id"]).shift()
    differs = given.notna() & (previous.isna() | (given != previous))
    return differs.any(axis=1)


def _local_day(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert(TZ).tz_localize(None).normalize()


def _begins(day: pd.Timestamp) -> pd.Timestamp:
    """The instant a local calendar day begins."""
    return day.tz_localize(TZ).tz_convert("UTC")


@dataclass
class Pipeline:
    stages: dict[str, tuple[int, int]]  # stage name -> (position, stalled_after_days)
    week_start: int  # ISO day
    coverage_months: int


def sales_pipeline(path: Path) -> Pipeline:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    stages = {s["name"]: (i, s["stalled_after_days"]) for i, s in enumerate(config["stages"], start=1)}
    return Pipeline(stages, WEEKDAYS.index(config["week_start"]) + 1, config["coverage"]["months"])


@dataclass
class Timeline:
    deals: pd.DataFrame  # index opportunity_id: owner_id, created_at, closed_at (NaT unless closed by as_of), is_won,
    # stage_name (the record's)
    versions: pd.DataFrame  # opportunity_id, valid_from, stage_name, amount, close_date; by deal and time
    as_of: pd.Timestamp


def timeline(landing: Path, as_of: pd.Timestamp) -> Timeline:
    records = _read(landing, "opportunities").drop_duplicates("opportunity_id", keep="last")
    records = records[records["type"].str.lower().eq("new_business")].copy()
    records["created_at"] = _instants(records["created_at"])
    records = records[records["created_at"] <= as_of]
    closed = records["is_closed"].str.lower().eq("true") & (_instants(records["closed_at"]) <= as_of)
    records["closed_at"] = _instants(records["closed_at"]).where(closed)
    records["is_won"] = records["is_won"].str.lower().eq("true")
    for column in CARRIED:
        if column not in records:
            records[column] = None
    deals = records.set_index("opportunity_id")[["owner_id", "created_at", "closed_at", "is_won", "stage_name"]]

    history = _read(landing, "opportunity_history")
    for column in ["opportunity_id", "changed_at", *TRACKED]:
        if column not in history:
            history[column] = None
    history = history[history["opportunity_id"].isin(deals.index)].copy()
    history["valid_from"] = _instants(history["changed_at"])
    history = history.drop_duplicates(["opportunity_id", "valid_from"], keep="last")
    history = history.sort_values(["opportunity_id", "valid_from"], kind="stable")
    history = history[_changes(history)]
    first_row = ~history["opportunity_id"].duplicated()
    history = history[(history["valid_from"] <= as_of) | first_row].copy()  # the earliest values always count
    history[TRACKED] = history.groupby("opportunity_id")[TRACKED].ffill()
    alone = records[~records["opportunity_id"].isin(history["opportunity_id"])]
    alone = alone.assign(valid_from=alone["created_at"])[["opportunity_id", "valid_from", *TRACKED]]
    versions = pd.concat([history[["opportunity_id", "valid_from", *TRACKED]], alone], ignore_index=True)
    record = records.set_index("opportunity_id")
    for column in TRACKED:  # a value the history never gives comes from the record
        versions[column] = versions[column].fillna(versions["opportunity_id"].map(record[column]))
    versions["valid_from"] = pd.to_datetime(versions["valid_from"], utc=True).astype("datetime64[ns, UTC]")
    versions = versions.sort_values(["opportunity_id", "valid_from"], kind="stable").reset_index(drop=True)
    # the first state reaches back to created_at; a change dated before it counts at it, the last one winning
    created = versions["opportunity_id"].map(deals["created_at"]).astype("datetime64[ns, UTC]")
    versions["valid_from"] = versions["valid_from"].where(versions["valid_from"] > created, created)
    versions.loc[~versions["opportunity_id"].duplicated(), "valid_from"] = created
    versions = versions.drop_duplicates(["opportunity_id", "valid_from"], keep="last").reset_index(drop=True)
    versions = versions[_changes(versions)].reset_index(drop=True)  # equal consecutive states are one version
    created_month = versions["opportunity_id"].map(deals["created_at"]).dt.tz_convert(TZ).dt.strftime("%Y-%m")
    versions["amount"] = exchange.converted(versions["amount"], versions["currency"], created_month, landing)
    versions["close_date"] = pd.to_datetime(versions["close_date"].str.replace("/", "-").str.slice(0, 10))
    return Timeline(deals, versions[["opportunity_id", "valid_from", "stage_name", "amount", "close_date"]], as_of)


def durations(line: Timeline, pipeline: Pipeline) -> pd.DataFrame:
    """One row per deal and stage spell, walking each deal's versions before its closing."""
    rows = []
    for deal_id, versions in line.versions.groupby("opportunity_id", sort=True):
        deal = line.deals.loc[deal_id]
        closed_at = deal["closed_at"]
        if pd.notna(closed_at):
            versions = versions[versions["valid_from"] < closed_at]
        spells: list[list] = []  # [stage, entered_at]
        for stage, valid_from in zip(versions["stage_name"], versions["valid_from"], strict=True):
            if not spells or not (spells[-1][0] == stage or (pd.isna(spells[-1][0]) and pd.isna(stage))):
                spells.append([stage, valid_from])
        for number, (stage, entered_at) in enumerate(spells, start=1):
            following = spells[number] if number < len(spells) else None
            exited_at = following[1] if following else closed_at
            position = pipeline.stages.get(stage, (None, None))[0]
            next_position = pipeline.stages.get(following[0], (None, None))[0] if following else None
            rows.append(
                {
                    "opportunity_id": deal_id,
                    "owner_id": deal["owner_id"],
                    "stage_name": stage,
                    "position": position,
                    "spell_number": number,
                    "entered_at": entered_at,
                    "exited_at": exited_at,
                    "days_in_stage": ((exited_at if pd.notna(exited_at) else line.as_of) - entered_at) / DAY,
                    "is_current": pd.isna(exited_at),
                    "next_stage_name": following[0]
                    if following
                    else (None if pd.isna(closed_at) else deal["stage_name"]),
                    "moved_backwards": bool(following)
                    and position is not None
                    and next_position is not None
                    and next_position < position,
                }
            )
    return pd.DataFrame(rows)


def durations_monthly(spells: pd.DataFrame) -> pd.DataFrame:
    """Per month of exit and stage: spells, median and p90 days (pandas' linear quantile), moves backwards."""
    exited = spells[spells["exited_at"].notna()].copy()
    exited["period_start"] = (
        pd.to_datetime(exited["exited_at"], utc=True).dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M")
    )
    grouped = exited.groupby(["period_start", "stage_name"])["days_in_stage"]
    out = pd.DataFrame(
        {
            "spells": grouped.size(),
            "median_days": grouped.quantile(0.5),
            "p90_days": grouped.quantile(0.9),
            "backward_moves": exited.groupby(["period_start", "stage_name"])["moved_backwards"].sum(),
        }
    )
    return out.reset_index()


def stalled(line: Timeline, pipeline: Pipeline) -> pd.DataFrame:
    """Deals open at the as-of instant whose latest version began more than their stage's limit before it."""
    latest = line.versions.groupby("opportunity_id").tail(1).set_index("opportunity_id")
    open_ids = line.deals.index[line.deals["closed_at"].isna()]
    latest = latest.loc[latest.index.intersection(open_ids)]
    limits = latest["stage_name"].map({name: limit for name, (_, limit) in pipeline.stages.items()})
    days = (line.as_of - latest["valid_from"]) / DAY
    keep = limits.notna() & (days > limits)
    return pd.DataFrame(
        {
            "stage_name": latest["stage_name"][keep],
            "amount": latest["amount"][keep],
            "days_since_change": days[keep],
            "stalled_after_days": limits[keep].astype(int),
        }
    )


def _states_at(line: Timeline, at: pd.Timestamp) -> pd.DataFrame:
    """Per deal open at `at` (created_at <= at < closed_at): its close month and amount then."""
    deals = line.deals
    open_ids = deals.index[(deals["created_at"] <= at) & ~(deals["closed_at"] <= at)]
    return _versions_at(line, pd.Series(at, index=open_ids))


def _versions_at(line: Timeline, instants: pd.Series) -> pd.DataFrame:
    """The version valid at instants[deal] of each deal: close month ('YYYY-MM') and amount (0 when missing)."""
    if instants.empty:
        return pd.DataFrame(columns=["month", "amount"])
    at = pd.to_datetime(instants, utc=True).astype("datetime64[ns, UTC]")
    probe = pd.DataFrame({"opportunity_id": instants.index, "at": at.to_numpy()}).sort_values("at")
    versions = line.versions.sort_values("valid_from")
    found = pd.merge_asof(probe, versions, left_on="at", right_on="valid_from", by="opportunity_id")
    found["month"] = found["close_date"].dt.strftime("%Y-%m")
    found["amount"] = found["amount"].fillna(0.0)
    return found.set_index("opportunity_id")[["month", "amount"]]


def periods(line: Timeline, pipeline: Pipeline) -> list[tuple[str, pd.Timestamp, pd.Timestamp]]:
    """(grain, first day, next period's first day) from the first deal's period to the as-of instant's."""
    first = _local_day(line.deals["created_at"].min())
    last = _local_day(line.as_of)
    out = []
    week = first - pd.Timedelta(days=(first.isoweekday() - pipeline.week_start) % 7)
    while week <= last:
        out.append(("week", week, week + pd.Timedelta(days=7)))
        week += pd.Timedelta(days=7)
    month = first.replace(day=1)
    while month <= last:
        following = month + pd.DateOffset(months=1)
        out.append(("month", month, following))
        month = following
    return out


def waterfall(line: Timeline, pipeline: Pipeline) -> pd.DataFrame:
    deals = line.deals
    closings = _versions_at(line, deals["closed_at"].dropna())
    rows = []
    for grain, first_day, next_day in periods(line, pipeline):
        start, end = _begins(first_day), min(_begins(next_day), line.as_of)
        at_start, at_end = _states_at(line, start), _states_at(line, end)
        closing = deals[(deals["closed_at"] > start) & (deals["closed_at"] <= end)]
        created = set(deals.index[(deals["created_at"] > start) & (deals["created_at"] <= end)])
        for offset in range(pipeline.coverage_months):
            month = (first_day.replace(day=1) + pd.DateOffset(months=offset)).strftime("%Y-%m")
            start_in = at_start[at_start["month"] == month]
            end_in = at_end[at_end["month"] == month]
            closes_in = closings.loc[closing.index][closings.loc[closing.index, "month"] == month]
            counts = dict.fromkeys(["open_start", "created", "pulled_in", "pushed_out", "won", "lost", "open_end"], 0)
            amounts = dict.fromkeys(
                [
                    "open_start",
                    "created",
                    "pulled_in",
                    "increased",
                    "decreased",
                    "pushed_out",
                    "won",
                    "lost",
                    "open_end",
                ],
                0.0,
            )
            for deal_id in set(start_in.index) | set(end_in.index) | set(closes_in.index):
                before = start_in["amount"].get(deal_id)
                after = end_in["amount"].get(deal_id, closes_in["amount"].get(deal_id))
                if deal_id in end_in.index:
                    counts["open_end"] += 1
                    amounts["open_end"] += after
                if deal_id in closes_in.index:
                    outcome = "won" if deals.at[deal_id, "is_won"] else "lost"
                    counts[outcome] += 1
                    amounts[outcome] += after
                if before is not None:
                    counts["open_start"] += 1
                    amounts["open_start"] += before
                    if after is None:
                        counts["pushed_out"] += 1
                        amounts["pushed_out"] += before
                    else:
                        amounts["increased"] += max(after - before, 0.0)
                        amounts["decreased"] += max(before - after, 0.0)
                else:
                    inflow = "created" if deal_id in created else "pulled_in"
                    counts[inflow] += 1
                    amounts[inflow] += after
            rows.append(
                {"grain": grain, "period_start": first_day, "close_month": month}
                | counts
                | {
                    "open_start_amount": amounts["open_start"],
                    "created_amount": amounts["created"],
                    "pulled_in_amount": amounts["pulled_in"],
                    "amount_increased": amounts["increased"],
                    "amount_decreased": amounts["decreased"],
                    "pushed_out_amount": amounts["pushed_out"],
                    "won_amount": amounts["won"],
                    "lost_amount": amounts["lost"],
                    "open_end_amount": amounts["open_end"],
                }
            )
    return pd.DataFrame(rows)


def rounded(values: pd.Series) -> np.ndarray:
    return np.round(values.astype(float).to_numpy(), 2)
