"""The forecast of marts.forecast_backtest recomputed with pandas straight from the landing files, by the method
docs/marts.md ("Forecast and its backtest") documents: the route the SQL and pipeline/analysis/forecast.py are
checked against.

New-business deals come from sfa/opportunities; each deal's state at an instant from sfa/opportunity_history when
it has rows there (empty values carry the previous row's forward, values never given come from the record, the
first row reaches back to created_at), else the record itself. It shares no code with the product: states at an
instant are a merge_asof, a win rate is looked up cell by cell from the finest to the coarsest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

TZ = "Asia/Tokyo"
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
CARRIED = ["stage_name", "amount", "close_date", "forecast_category"]
#: The cells within a horizon, finest first; "week" is the week of the month of the instant.
LEVELS = [
    ["week", "close_position", "stage_name", "age_bucket", "forecast_category"],
    ["week", "close_position", "stage_name", "age_bucket"],
    ["week", "close_position", "stage_name"],
    ["week", "close_position"],
    ["week"],
    [],
]


def _read(landing: Path, entity: str) -> pd.DataFrame:
    files = sorted((landing / "sfa" / entity).rglob("*.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files]).replace({"": None})


def _instant(values: pd.Series) -> pd.Series:
    """'YYYY/MM/DD HH:MM:SS' in Tokyo time (the demo's SFA format), as UTC."""
    local = pd.to_datetime(values.str.replace("/", "-"), format="ISO8601")
    return local.dt.tz_localize(TZ).dt.tz_convert("UTC")


def _category(values: pd.Series) -> pd.Series:
    return values.astype("object").map(lambda v: v.strip().lower().replace(" ", "_") if isinstance(v, str) else None)


def _month_begins(month: pd.Period) -> pd.Timestamp:
    return month.to_timestamp().tz_localize(TZ).tz_convert("UTC")


@dataclass
class Settings:
    week_start: int
    coverage_months: int
    min_history: int


def settings(path: Path) -> Settings:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Settings(
        WEEKDAYS.index(config["week_start"]) + 1, config["coverage"]["months"], config["forecast"]["min_history"]
    )


class Landing:
    """The landing folder's new-business deals and their states."""

    def __init__(self, landing: Path, as_of: pd.Timestamp):
        records = _read(landing, "opportunities")
        records = records[records["type"] == "new_business"].drop_duplicates("opportunity_id", keep="last")
        deals = pd.DataFrame(
            {
                "opportunity_id": records["opportunity_id"],
                "created_at": _instant(records["created_at"]),
                "closed_at": _instant(records["closed_at"]).where(records["is_closed"] == "true"),
                "is_won": records["is_won"] == "true",
                "amount": pd.to_numeric(records["amount"]),
                "stage_name": records["stage_name"],
                "close_date": pd.to_datetime(
                    records.get("close_date", pd.Series(None, index=records.index, dtype="object"))
                ),
                "forecast_category": _category(
                    records.get("forecast_category", pd.Series(None, index=records.index, dtype="object"))
                ),
            }
        ).set_index("opportunity_id")
        deals = deals[deals["created_at"] <= as_of]
        deals.loc[deals["closed_at"] > as_of, "closed_at"] = pd.NaT
        self.deals = deals
        self.as_of = as_of
        self._cells: dict[tuple[pd.Timestamp, pd.Period], pd.DataFrame] = {}
        won = deals[deals["is_won"] & deals["closed_at"].notna()]
        self.won = won.assign(month=won["closed_at"].dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M"))
        history = _read(landing, "opportunity_history")
        versions = []
        if not history.empty:
            history = history[history["opportunity_id"].isin(deals.index)]
            rows = pd.DataFrame(
                {
                    "opportunity_id": history["opportunity_id"],
                    "valid_from": _instant(history["changed_at"]),
                    "stage_name": history["stage_name"],
                    "amount": pd.to_numeric(history["amount"]),
                    "close_date": pd.to_datetime(history["close_date"]),
                    "forecast_category": _category(history["forecast_category"]),
                }
            ).sort_values(["opportunity_id", "valid_from"], kind="stable")
            rows[CARRIED] = rows.groupby("opportunity_id")[CARRIED].ffill()
            record = deals.loc[rows["opportunity_id"], CARRIED].set_axis(rows.index)
            rows[CARRIED] = rows[CARRIED].fillna(record)
            first = rows.groupby("opportunity_id")["valid_from"].transform("min") == rows["valid_from"]
            rows.loc[first, "valid_from"] = np.minimum(
                rows.loc[first, "valid_from"], deals.loc[rows.loc[first, "opportunity_id"], "created_at"].to_numpy()
            )
            versions.append(rows[rows["valid_from"] <= as_of])
        alone = deals[~deals.index.isin(history["opportunity_id"] if not history.empty else [])]
        versions.append(alone[["created_at", *CARRIED]].rename(columns={"created_at": "valid_from"}).reset_index())
        self.versions = pd.concat(versions, ignore_index=True).sort_values("valid_from", kind="stable")

    def open_at(self, t: pd.Timestamp) -> pd.DataFrame:
        """The deals open at t with their state then."""
        deals = self.deals
        open_ = deals[(deals["created_at"] <= t) & (deals["closed_at"].isna() | (deals["closed_at"] > t))]
        probe = pd.DataFrame({"opportunity_id": open_.index, "t": t}).sort_values("t")
        states = pd.merge_asof(
            probe, self.versions, left_on="t", right_on="valid_from", by="opportunity_id", direction="backward"
        ).set_index("opportunity_id")
        age = (t - open_["created_at"]).dt.total_seconds() / 86400
        return states[CARRIED].assign(
            age_bucket=pd.cut(
                age, [-np.inf, 30, 60, 120, np.inf], right=False, labels=["0-29", "30-59", "60-119", "120+"]
            )
            .astype(str)
            .loc[states.index],
            won_at=open_.loc[states.index, "closed_at"].where(open_.loc[states.index, "is_won"]),
            won_amount=open_.loc[states.index, "amount"],
        )

    def cells(self, t: pd.Timestamp, month: pd.Period) -> pd.DataFrame:
        """The deals open at t in their cells for the target month, and whether each was won in it (kept: several
        points learn from the same past instants)."""
        if (t, month) not in self._cells:
            self._cells[t, month] = self._cells_at(t, month)
        return self._cells[t, month]

    def _cells_at(self, t: pd.Timestamp, month: pd.Period) -> pd.DataFrame:
        deals = self.open_at(t)
        close = deals["close_date"].dt.to_period("M")
        position = np.select([close.isna(), close < month, close == month], ["unknown", "before", "in"], "after")
        won_month = deals["won_at"].dt.tz_convert(TZ).dt.tz_localize(None).dt.to_period("M")
        return deals.assign(
            week=week_of_month(t),
            close_position=position,
            stage_name=deals["stage_name"].fillna("unknown"),
            won=(won_month == month).fillna(False).astype(bool),
            amount=deals["amount"].fillna(0.0),
        )


def week_of_month(t: pd.Timestamp) -> int:
    """0 for local days 1-7, 1 for 8-14, 2 for 15-21, 3 from the 22nd."""
    return min(3, (t.tz_convert(TZ).day - 1) // 7)


def week_starts(landing: Landing, week_start: int) -> list[pd.Timestamp]:
    first = landing.deals["created_at"].min().tz_convert(TZ).tz_localize(None).normalize()
    last = landing.as_of.tz_convert(TZ).tz_localize(None).normalize()
    days = pd.date_range(first, last, freq="D")
    return [d.tz_localize(TZ).tz_convert("UTC") for d in days if d.isoweekday() == week_start]


def local_month(t: pd.Timestamp) -> pd.Period:
    return t.tz_convert(TZ).tz_localize(None).to_period("M")


def point(landing: Landing, config: Settings, t: pd.Timestamp, horizon: int) -> dict[str, float]:
    """already_won, from_pipeline and from_not_yet_created of both measures for the forecast at t for the month
    `horizon` months after t's, from what was known at t; plus the horizon's observations."""
    month = local_month(t) + horizon
    past_instants = [
        s for s in week_starts(landing, config.week_start) if _month_begins(local_month(s) + horizon + 1) <= t
    ]
    training = pd.concat(
        [landing.cells(s, local_month(s) + horizon) for s in past_instants] or [pd.DataFrame()], ignore_index=True
    )
    now = landing.cells(t, month)
    result = {"observations": len(training)}
    deals_sum = amount_sum = 0.0
    for _, deal in now.iterrows():
        rate = amount_rate = None
        for depth, keys in enumerate(LEVELS):
            if depth == 0 and pd.isna(deal["forecast_category"]):
                continue
            same = training
            for key in keys:
                same = same[same[key] == deal[key]]
            enough = len(same) >= config.min_history if depth < len(LEVELS) - 1 else len(same) > 0
            if enough:
                rate = same["won"].mean()
                opened = same["amount"].sum()
                amount_rate = same.loc[same["won"], "won_amount"].sum() / opened if opened > 0 else rate
                break
        deals_sum += rate
        amount_sum += deal["amount"] * min(max(amount_rate, 0.0), 1.0)
    won = landing.won[landing.won["month"] == month]
    result["won_deals"] = {
        "already_won": float((won["closed_at"] <= t).sum()),
        "from_pipeline": deals_sum,
    }
    result["revenue"] = {
        "already_won": float(won.loc[won["closed_at"] <= t, "amount"].sum()),
        "from_pipeline": amount_sum,
    }

    # deals not created yet: past instants of the same horizon and week of the month, else the same horizon
    same_week = [s for s in past_instants if week_of_month(s) == week_of_month(t)] or past_instants
    later = []
    for s in same_week:
        target = landing.won[landing.won["month"] == local_month(s) + horizon]
        created_after = target[landing.deals.loc[target.index, "created_at"] > s]
        later.append((len(created_after), created_after["amount"].sum()))
    result["won_deals"]["from_not_yet_created"] = float(np.mean([c for c, _ in later])) if later else 0.0
    result["revenue"]["from_not_yet_created"] = float(np.mean([a for _, a in later])) if later else 0.0
    return result


def actual_won(landing: Landing) -> pd.DataFrame:
    """Won new-business deals and their amount per local month of closing."""
    return landing.won.groupby("month").agg(won_deals=("amount", "size"), revenue=("amount", "sum"))
