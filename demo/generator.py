"""Demo extracts: a realistic MA -> SFA -> CRM history written in the canonical input contract.

    python -m demo.generator --leads 20000 --months 24 --seed 7 --out data/landing

Everything is vectorised with NumPy and written with PyArrow, one chunk of leads at a time, so
10,000,000 leads fit in memory and time on a 2-core machine. The same arguments give the same files.

Shapes (rates sit inside the benchmarks in ../shared/DOMAIN.md): a channel mix with different MQL
rates, seasonality with the Japanese fiscal calendar (busy March, quiet August and December), growth,
log-normal lags between stages, disqualified and recycled leads (some re-qualify later), sales-sourced
opportunities, lost deals with reasons (some approached again months later), annual contracts that renew with expansion or churn, and
upsell, cross-sell and renewal opportunities for customers. Local times are Asia/Tokyo; the MA writes
ISO-8601 with offset, the SFA and CRM write `YYYY/MM/DD HH:MM:SS` without one, as Japanese exports do.

Besides the funnel's extracts: the team (sfa/users: the reps who own leads, deals and customers, a customer-success
manager who joins mid-period and one who leaves), each customer's customer-success manager (crm/customers.owner_id)
and the acquisition spend (ma/spend: per paid channel and campaign, in proportion to the leads it brought; the
sales team's cost per month). Both come from random streams of their own, so the funnel's extracts of a seed stay
what they were before them; the first month has no spend at all.

The sales pipeline (demo/history.py, a random stream of its own too): every opportunity's way through the sales
stages as sfa/opportunity_history (one row per change of stage, amount or expected close date, forward, skipping,
now and then backwards), and on each opportunity record what the path ends in: close_date (expected; a closed
deal's closing day), probability and forecast_category.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from demo import currency as demo_currency
from demo import faults as demo_faults
from demo import history as demo_history
from demo.faults import FaultRates
from demo.months import month_tables

DAY = 86_400
DEFAULT_END = "2026-10-20T18:00:00"
CHUNK = 1_000_000
ID_BLOCK = 10_000_000_000  # ids of chunk c start at c * ID_BLOCK, so chunks never collide
# Offsets inside a chunk's block: SFA leads of MQL round r at r * SPACE, opportunities converted from
# them at CONVERTED + r * SPACE, re-approaches of lost deals at REAPPROACH, sales-sourced ones at DIRECT,
# customer opportunities at EXPANSION.
SPACE = 100_000_000
REAPPROACH, CONVERTED, DIRECT, EXPANSION = 3 * SPACE, 5 * SPACE, 8 * SPACE, 9 * SPACE
REAPPROACH_SHARE, REAPPROACH_DAYS, REAPPROACH_WIN = 0.12, 150.0, 0.30  # of lost deals; median wait; win rate

# channel: (share of new leads, inquiry -> MQL rate)
CHANNELS = {
    "web_form": (0.25, 0.22),
    "webinar": (0.18, 0.15),
    "event": (0.15, 0.10),
    "content_download": (0.20, 0.08),
    "paid_ads": (0.12, 0.06),
    "referral": (0.05, 0.30),
    "partner": (0.05, 0.20),
}
# Lead volume by calendar month: fiscal year-end rush in March, summer (Obon) and year-end lulls.
SEASONALITY = np.array([0.90, 1.00, 1.15, 0.95, 1.00, 1.05, 1.00, 0.75, 1.10, 1.10, 1.05, 0.80])
SEGMENTS = np.array(["enterprise", "mid_market", "smb"])
SEGMENT_SHARE = [0.15, 0.35, 0.50]
SEGMENT_DEAL_MEDIAN = np.array([12_000_000, 4_000_000, 1_200_000])  # JPY, annual contract value
SEGMENT_CLOSE_DAYS = np.array([75.0, 45.0, 30.0])
SEGMENT_WIN_BONUS = np.array([-0.04, 0.0, 0.03])
SEGMENT_ANNUAL_CHURN = np.array([0.05, 0.09, 0.15])
INDUSTRIES = np.array(
    ["manufacturing", "it_services", "retail", "finance", "healthcare", "logistics", "real_estate", "education"]
)
COMPANY_STEMS = ["サンプル", "山田", "東京", "大阪", "みらい", "グローバル", "テクノ", "さくら", "ひかり", "日本"]
COMPANY_FORMS = ["株式会社{}{}", "{}{}株式会社", "{}{}合同会社", "{}{} Holdings"]
DISQUALIFY_REASONS = np.array(["no_budget", "no_authority", "no_need", "bad_fit", "unreachable", "competitor"])
RECYCLE_REASONS = np.array(["timing", "not_now", "nurture"])
LOST_REASONS = np.array(["price", "competitor", "no_decision", "timing", "feature_gap"])
CHURN_REASONS = np.array(["budget_cut", "switched_to_competitor", "low_usage", "company_closed", "price"])
OPEN_OPPORTUNITY_STAGES = np.array(["Qualification", "Needs Analysis", "Proposal", "Negotiation"])
IS_REPS = np.array([f"005IS{n:010d}" for n in range(1, 9)])
AE_REPS = np.array([f"005AE{n:010d}" for n in range(1, 7)])
CSM_REPS = np.array([f"005CS{n:010d}" for n in range(1, 5)])
#: Customer-success managers who own no opportunity: one joins a third into the history (on a month's 16th).
CSM_JOINER = "005CS0000000005"
#: A sales manager: on the team list, in no funnel stage (role `other`).
MANAGER = "005MG0000000001"
FAMILY_NAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
GIVEN_NAMES = ["健太", "美咲", "翔", "陽菜", "大輔", "さくら", "拓也", "結衣", "直樹", "愛"]
#: Marketing spend per lead of each paid channel (JPY, before noise); the other channels (web_form, referral,
#: partner) are organic and cost nothing.
COST_PER_LEAD = {"paid_ads": 18_000, "webinar": 9_000, "event": 30_000, "content_download": 6_000}
#: The monthly cost of one active inside- or field-sales person (JPY) at the default demo's lead volume; the
#: sales cost scales with the leads per month, so CAC stays plausible at any --leads.
SALES_COST_PER_PERSON = 900_000
DEFAULT_LEADS_PER_MONTH = 20_000 / 24
#: Random streams of the extracts added after the funnel's (team, owners, spend, opportunity histories): chunks use
#: [seed, chunk, stream].
OWNER_STREAM, SPEND_STREAM, HISTORY_STREAM = 1, 1_000_003, 2_000_003


@dataclass(frozen=True)
class Effect:
    """A planted change: from `start` on, SFA leads from `source` convert to opportunities `lift` more often.

    Written on the command line as SOURCE:YYYY-MM-DD:LIFT, e.g. webinar:2026-04-01:+0.15.
    """

    source: str
    start: datetime
    lift: float

    @classmethod
    def parse(cls, text: str) -> Effect:
        try:
            source, start, lift = text.split(":")
            effect = cls(source, datetime.fromisoformat(start), float(lift))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: expected SOURCE:YYYY-MM-DD:LIFT ({exc})") from exc
        if source not in CHANNELS:
            raise argparse.ArgumentTypeError(f"{text!r}: unknown source {source!r}; one of {', '.join(CHANNELS)}")
        return effect


@dataclass(frozen=True)
class Window:
    start: int  # epoch seconds, local wall time treated as naive
    end: int
    months: np.ndarray  # epoch seconds of the first second of each month


def _window(months: int, end: datetime) -> Window:
    first = np.datetime64(f"{end.year:04d}-{end.month:02d}", "M") - (months - 1)
    starts = (np.arange(months) + first).astype("datetime64[s]").astype(np.int64)
    return Window(int(starts[0]), int(np.datetime64(end, "s").astype(np.int64)), starts)


def _lognormal_days(rng: np.random.Generator, median: float | np.ndarray, sigma: float, size: int) -> np.ndarray:
    return (np.asarray(median) * rng.lognormal(0.0, sigma, size) * DAY).astype(np.int64)


def _ids(prefix: str, numbers: np.ndarray, width: int = 12) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "") if prefix else digits


def _times(seconds: np.ndarray, valid: np.ndarray | None, fmt: str) -> pa.Array:
    arr = pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s"), mask=None if valid is None else ~valid)
    return pc.strftime(arr, format=fmt)


def _dates(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return _times(seconds, valid, "%Y/%m/%d")


def _masked(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~valid)


def _business_time(rng: np.random.Generator, day_start: np.ndarray) -> np.ndarray:
    """A time of day, mostly in office hours (08:30-20:00), on the given day."""
    minutes = np.clip(rng.normal(14 * 60, 150, day_start.size), 8 * 60 + 30, 20 * 60)
    return day_start + (minutes * 60).astype(np.int64) + rng.integers(0, 60, day_start.size)


def _plus_year(day_start: np.ndarray) -> np.ndarray:
    """The last day of a 12-month term starting on the given days (epoch seconds at midnight)."""
    days = day_start.astype("datetime64[s]").astype("datetime64[D]")
    month = days.astype("datetime64[M]")
    day_of_month = days - month.astype("datetime64[D]")
    end = (month + 12).astype("datetime64[D]") + day_of_month - np.timedelta64(1, "D")
    return end.astype("datetime64[s]").astype(np.int64)


@dataclass(frozen=True)
class Team:
    """The people of sfa/users: id, role, team, first and last day (epoch seconds at local midnight, -1 = none)."""

    user_id: np.ndarray
    role: np.ndarray
    team: np.ndarray
    started: np.ndarray
    ended: np.ndarray

    def active(self, ids: np.ndarray, day: np.ndarray) -> np.ndarray:
        """For each of `ids` (rows of the team), whether the person works on each of `day`: a (len(day), len(ids))
        matrix."""
        started, ended = self.started[ids], self.ended[ids]
        return (day[:, None] >= started[None, :]) & ((ended[None, :] < 0) | (day[:, None] <= ended[None, :]))


def _team(window: Window) -> Team:
    """The demo's team. The reps who own leads and deals worked through the whole history (the funnel's extracts
    assign them at random over it); customer-success manager 4 leaves two thirds into it (on a month's 15th) and
    CSM_JOINER joins a third into it (on a month's 16th), so only the customers onboarded while each works are
    theirs."""
    ids = [*IS_REPS, *AE_REPS, *CSM_REPS, CSM_JOINER, MANAGER]
    roles = ["inside_sales"] * IS_REPS.size + ["field_sales"] * AE_REPS.size
    roles += ["customer_success"] * (CSM_REPS.size + 1) + ["sales_manager"]
    teams = [f"IS {'East' if i < IS_REPS.size // 2 else 'West'}" for i in range(IS_REPS.size)]
    teams += [f"FS {'Enterprise' if i < AE_REPS.size // 3 else 'Growth'}" for i in range(AE_REPS.size)]
    teams += ["CS"] * (CSM_REPS.size + 1) + ["Sales"]
    months = window.months.size
    started = window.start - (np.arange(len(ids)) % 7 + 1) * 53 * DAY  # staggered, all before the history
    started[ids.index(CSM_JOINER)] = window.months[months // 3] + 15 * DAY
    ended = np.full(len(ids), -1, np.int64)
    ended[ids.index(CSM_REPS[-1])] = window.months[(2 * months) // 3] + 14 * DAY
    return Team(np.array(ids), np.array(roles), np.array(teams), (started // DAY) * DAY, ended)


def _users(team: Team) -> pa.Table:
    n = team.user_id.size
    names = [f"{FAMILY_NAMES[i % len(FAMILY_NAMES)]} {GIVEN_NAMES[(3 * i) % len(GIVEN_NAMES)]}" for i in range(n)]
    return pa.table(
        {
            "user_id": pa.array(team.user_id),
            "name": pa.array(names),
            "role": pa.array(team.role),
            "team": pa.array(team.team),
            "started_on": _dates(team.started),
            "ended_on": _dates(team.ended, team.ended >= 0),
        }
    )


def _spend(
    leads: dict[tuple[str, str], int], team: Team, window: Window, seed: int, leads_per_month: float
) -> pa.Table:
    """ma/spend: each paid channel's campaign of a month costs its leads times the channel's cost per lead (with
    noise); the sales cost of a month is its active inside- and field-sales people times their cost. Nothing is
    spent in the first month. `leads` counts the leads per (campaign, source)."""
    rng = np.random.default_rng([seed, SPEND_STREAM])
    rows = []
    for (campaign, source), count in sorted(leads.items()):
        month = np.datetime64(f"{campaign[-6:-2]}-{campaign[-2:]}", "M")
        if source in COST_PER_LEAD and month > window.months[0].astype("datetime64[s]").astype("datetime64[M]"):
            amount = count * COST_PER_LEAD[source] * rng.lognormal(0.0, 0.15)
            rows.append((str(month.astype("datetime64[D]")), "marketing", source, campaign, round(amount, -3)))
    sales = np.flatnonzero(np.isin(team.role, ["inside_sales", "field_sales"]))
    scale = leads_per_month / DEFAULT_LEADS_PER_MONTH
    for first in window.months[1:]:
        people = team.active(sales, np.array([int(first)])).sum()
        amount = people * SALES_COST_PER_PERSON * scale * rng.lognormal(0.0, 0.03)
        rows.append(
            (str(np.datetime64(int(first), "s").astype("datetime64[D]")), "sales", None, None, round(amount, -3))
        )
    month, cost_type, source, campaign, amount = zip(*rows, strict=True) if rows else ((),) * 5
    return pa.table(
        {
            "month": pa.array(month, pa.string()),
            "cost_type": pa.array(cost_type, pa.string()),
            "source": pa.array(source, pa.string()),
            "campaign_id": pa.array(campaign, pa.string()),
            "amount": pa.array(np.asarray(amount, np.int64)),
            "currency": pa.array(["JPY"] * len(rows), pa.string()),
        }
    )


def _write(table: pa.Table, out: Path, system: str, entity: str, name: str) -> int:
    folder = out / system / entity
    folder.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, folder / f"{name}.csv", pacsv.WriteOptions(quoting_style="needed"))
    return table.num_rows


def month_label(seconds: int) -> str:
    """`YYYY-MM` of a month's first second (epoch seconds, local): how monthly files are named, so they sort in time."""
    return str(np.datetime64(int(seconds), "s").astype("datetime64[M]"))


class _Chunk:
    """One chunk of leads and everything that follows from them downstream."""

    def __init__(
        self, index: int, leads: int, window: Window, seed: int, team: Team, effect: Effect | None = None
    ) -> None:
        self.rng = np.random.default_rng([seed, index])
        self.owner_rng = np.random.default_rng([seed, index, OWNER_STREAM])
        self.team = team
        self.effect = effect
        self.base = index * ID_BLOCK
        self.n = leads
        self.w = window
        self.tables: dict[tuple[str, str], pa.Table] = {}

    # --- marketing -------------------------------------------------------------------------------
    def marketing(self) -> None:
        rng, w, n = self.rng, self.w, self.n
        month_days = np.diff(np.append(w.months, w.end)) / DAY
        month_of_year = w.months.astype("datetime64[s]").astype("datetime64[M]").astype(int) % 12
        growth = 1.0 + 0.025 * np.arange(w.months.size)
        weight = SEASONALITY[month_of_year] * growth * month_days
        month = rng.choice(w.months.size, n, p=weight / weight.sum())
        day = (rng.random(n) * month_days[month]).astype(np.int64)
        created = _business_time(rng, w.months[month] + day * DAY)
        created = np.minimum(created, w.end - 60)
        order = np.argsort(created, kind="stable")
        created = created[order]

        names = list(CHANNELS)
        share = np.array([CHANNELS[c][0] for c in names])
        channel = rng.choice(len(names), n, p=share / share.sum())
        mql_rate = np.array([CHANNELS[c][1] for c in names])[channel]
        segment = rng.choice(3, n, p=SEGMENT_SHARE)
        ids = self.base + np.arange(1, n + 1)
        company_no = rng.integers(0, max(n // 3, 1), n)
        stems = np.array([f.format(s, "") for f in COMPANY_FORMS for s in COMPANY_STEMS])
        company = pc.binary_join_element_wise(
            pa.array(stems).take(pa.array(company_no % stems.size)),
            pa.array((company_no // stems.size + 1).astype(str)),
            "",
        )
        campaign_month = (created.astype("datetime64[s]").astype("datetime64[M]")).astype(str)
        campaign = pc.binary_join_element_wise(
            pa.scalar("CMP-"),
            pa.array(np.array([c[:4].upper() for c in names])[channel]),
            pa.scalar("-"),
            pa.array(np.char.replace(campaign_month, "-", "")),
            "",
        )
        self.tables[("ma", "leads")] = pa.table(
            {
                "lead_id": _ids("", ids, 10),
                "email": pc.binary_join_element_wise(
                    pa.scalar("lead"), _ids("", ids, 10), pa.scalar("@example.co.jp"), ""
                ),
                "company": company,
                "created_at": _times(created, None, "%Y-%m-%dT%H:%M:%S+09:00"),
                "source": pa.array(np.array(names)[channel]),
                "campaign_id": campaign,
            }
        )

        mqls = rng.random(n) < mql_rate
        mql_at = created + _lognormal_days(rng, 12.0, 0.9, n)
        mqls &= mql_at <= w.end
        first = self._mql_round(ids[mqls], mql_at[mqls], segment[mqls], channel[mqls], round_no=1)
        recycled = first["recycled"]
        again = rng.random(recycled.sum()) < 0.25
        re_mql_at = first["left_at"][recycled][again] + _lognormal_days(rng, 90.0, 0.6, int(again.sum()))
        keep = re_mql_at <= w.end
        second = self._mql_round(
            first["ma_lead_id"][recycled][again][keep],
            re_mql_at[keep],
            first["segment"][recycled][again][keep],
            first["channel"][recycled][again][keep],
            round_no=2,
        )
        for key in ("mql_events", "sfa_leads", "conversions"):
            self.tables.setdefault(key, [])
        self._emit_mql(first)
        self._emit_mql(second)

    def _mql_round(
        self, ma_ids: np.ndarray, mql_at: np.ndarray, segment: np.ndarray, channel: np.ndarray, round_no: int
    ) -> dict:
        rng, w = self.rng, self.w
        m = ma_ids.size
        score = np.clip(rng.normal(70, 12, m), 40, 100).round()
        sfa_no = self.base + round_no * SPACE + np.arange(1, m + 1)
        created = np.minimum(mql_at + rng.exponential(20 * 60, m).astype(np.int64), w.end)
        contact = created + rng.exponential(8 * 3600, m).astype(np.int64)
        contacted = contact <= w.end
        p_convert = 0.18 + 0.35 * (score - 40) / 60
        if self.effect:
            planted = (channel == list(CHANNELS).index(self.effect.source)) & (
                created >= np.datetime64(self.effect.start, "s").astype(np.int64)
            )
            p_convert = np.clip(p_convert + self.effect.lift * planted, 0.0, 1.0)
        u = rng.random(m)
        converts = u < p_convert
        recycles = (~converts) & (u < p_convert + 0.12)
        disqualifies = ~(converts | recycles)
        left_at = created + np.where(
            converts,
            _lognormal_days(rng, 10.0, 0.7, m),
            np.where(recycles, _lognormal_days(rng, 30.0, 0.5, m), _lognormal_days(rng, 15.0, 0.8, m)),
        )
        left_at = np.maximum(left_at, np.where(contacted, contact, created) + 600)
        done = left_at <= w.end
        if round_no == 2:  # a lead recycled twice stays disqualified
            recycles, disqualifies = np.zeros(m, bool), disqualifies | recycles
        return {
            "ma_lead_id": ma_ids,
            "mql_at": mql_at,
            "score": score,
            "sfa_no": sfa_no,
            "created": created,
            "contact": contact,
            "contacted": contacted,
            "converted": converts & done,
            "recycled": recycles & done,
            "disqualified": disqualifies & done,
            "left_at": left_at,
            "segment": segment,
            "channel": channel,
            "owner": IS_REPS[rng.integers(0, IS_REPS.size, m)],
        }

    def _emit_mql(self, r: dict) -> None:
        rng = self.rng
        m = r["ma_lead_id"].size
        if m == 0:
            return
        opp_no = r["sfa_no"] + CONVERTED  # the opportunity a converted SFA lead becomes
        status = np.where(
            r["converted"],
            "converted",
            np.where(
                r["recycled"],
                "recycled",
                np.where(r["disqualified"], "disqualified", np.where(r["contacted"], "working", "open")),
            ),
        )
        left = r["recycled"] | r["disqualified"]
        reason = np.where(
            r["recycled"],
            RECYCLE_REASONS[rng.integers(0, 3, m)],
            DISQUALIFY_REASONS[rng.integers(0, DISQUALIFY_REASONS.size, m)],
        )
        sfa_id = _ids("00Q", r["sfa_no"])
        self.tables["mql_events"].append(
            pa.table(
                {
                    "lead_id": _ids("", r["ma_lead_id"], 10),
                    "mql_at": _times(r["mql_at"], None, "%Y-%m-%dT%H:%M:%S+09:00"),
                    "score": pa.array(r["score"].astype(np.int64)),
                    "sfa_lead_id": sfa_id,
                }
            )
        )
        self.tables["sfa_leads"].append(
            pa.table(
                {
                    "lead_id": sfa_id,
                    "ma_lead_id": _ids("", r["ma_lead_id"], 10),
                    "created_at": _times(r["created"], None, "%Y/%m/%d %H:%M:%S"),
                    "owner_id": pa.array(r["owner"]),
                    "status": pa.array(status),
                    "first_contact_at": _times(r["contact"], r["contacted"], "%Y/%m/%d %H:%M:%S"),
                    "converted_at": _times(r["left_at"], r["converted"], "%Y/%m/%d %H:%M:%S"),
                    "converted_opportunity_id": pc.if_else(
                        pa.array(r["converted"]), _ids("006", opp_no), pa.scalar(None, pa.string())
                    ),
                    "disqualified_at": _times(r["left_at"], left, "%Y/%m/%d %H:%M:%S"),
                    "disqualified_reason": _masked(reason, left),
                }
            )
        )
        conv = r["converted"]
        self.tables["conversions"].append(
            {
                "opp_no": opp_no[conv],
                "lead_id": r["sfa_no"][conv],
                "at": r["left_at"][conv],
                "segment": r["segment"][conv],
                "score": r["score"][conv],
            }
        )

    # --- field sales -----------------------------------------------------------------------------
    def field_sales(self) -> None:
        rng, w = self.rng, self.w
        conv = self.tables.pop("conversions")
        opp_no = np.concatenate([c["opp_no"] for c in conv]) if conv else np.zeros(0, np.int64)
        lead_no = np.concatenate([c["lead_id"] for c in conv]) if conv else np.zeros(0, np.int64)
        converted_at = np.concatenate([c["at"] for c in conv]) if conv else np.zeros(0, np.int64)
        segment = np.concatenate([c["segment"] for c in conv]) if conv else np.zeros(0, np.int64)
        score = np.concatenate([c["score"] for c in conv]) if conv else np.zeros(0)
        created = np.minimum(converted_at + rng.integers(60, 7200, opp_no.size), w.end)
        # Sales-sourced new business: about 15 % of opportunities start in field sales.
        k = int(round(opp_no.size * 0.15 / 0.85))
        direct_created = np.sort(rng.integers(w.start, w.end, k))
        direct_no = self.base + DIRECT + np.arange(1, k + 1)
        opp = {
            "no": np.concatenate([opp_no, direct_no]),
            "lead": np.concatenate([lead_no, np.full(k, -1)]),
            "created": np.concatenate([created, direct_created]),
            "segment": np.concatenate([segment, rng.choice(3, k, p=SEGMENT_SHARE)]),
            "score": np.concatenate([score, np.full(k, 70.0)]),
        }
        opp["account"] = self.base + np.arange(1, opp["no"].size + 1)
        p_win = 0.26 + SEGMENT_WIN_BONUS[opp["segment"]] + (opp["score"] - 70) / 250
        first = self._new_business(opp, p_win)
        # Some lost deals (失注) are approached again months later: a new sales-sourced opportunity
        # on the same account, with its own chance to be won.
        again = np.flatnonzero(first["lost"] & (rng.random(opp["no"].size) < REAPPROACH_SHARE))
        created = first["closed_at"][again] + _lognormal_days(rng, REAPPROACH_DAYS, 0.4, again.size)
        again, created = again[created <= w.end], created[created <= w.end]
        retry = {
            "no": self.base + REAPPROACH + np.arange(1, again.size + 1),
            "lead": np.full(again.size, -1),
            "created": created,
            "segment": opp["segment"][again],
            "score": opp["score"][again],
            "account": opp["account"][again],
        }
        second = self._new_business(retry, np.full(again.size, REAPPROACH_WIN))
        self.tables["opportunities"] = [first["table"], second["table"]]
        self.won = {
            "no": np.concatenate([opp["no"][first["won"]], retry["no"][second["won"]]]),
            "account": np.concatenate([opp["account"][first["won"]], retry["account"][second["won"]]]),
            "segment": np.concatenate([opp["segment"][first["won"]], retry["segment"][second["won"]]]),
            "closed_at": np.concatenate([first["closed_at"][first["won"]], second["closed_at"][second["won"]]]),
            "amount": np.concatenate([first["amount"][first["won"]], second["amount"][second["won"]]]),
        }

    def _new_business(self, opp: dict, p_win: np.ndarray) -> dict:
        """The new-business opportunities `opp` (table) with their amount, closed_at, won and lost arrays."""
        rng, w = self.rng, self.w
        n = opp["no"].size
        seg = opp["segment"]
        amount = (SEGMENT_DEAL_MEDIAN[seg] * rng.lognormal(0, 0.45, n) / 10_000).round() * 10_000
        won = rng.random(n) < p_win
        closed_at = opp["created"] + _lognormal_days(rng, SEGMENT_CLOSE_DAYS[seg], 0.6, n)
        closed = closed_at <= w.end
        won &= closed
        lost = closed & ~won
        stage = np.where(
            won,
            "Closed Won",
            np.where(
                lost,
                "Closed Lost",
                OPEN_OPPORTUNITY_STAGES[
                    np.minimum((4 * (w.end - opp["created"]) / (SEGMENT_CLOSE_DAYS[seg] * DAY)).astype(int), 3)
                ],
            ),
        )
        table = pa.table(
            {
                "opportunity_id": _ids("006", opp["no"]),
                "lead_id": pc.if_else(
                    pa.array(opp["lead"] >= 0), _ids("00Q", np.maximum(opp["lead"], 0)), pa.scalar(None, pa.string())
                ),
                "account_id": _ids("001", opp["account"]),
                "owner_id": pa.array(AE_REPS[rng.integers(0, AE_REPS.size, n)]),
                "type": pa.array(np.full(n, "new_business")),
                "created_at": _times(opp["created"], None, "%Y/%m/%d %H:%M:%S"),
                "stage_name": pa.array(stage),
                "is_closed": pa.array(closed),
                "is_won": pa.array(won),
                "closed_at": _times(closed_at, closed, "%Y/%m/%d %H:%M:%S"),
                "amount": pa.array(amount.astype(np.int64)),
                "currency": pa.array(np.full(n, "JPY")),
                "lost_reason": _masked(LOST_REASONS[rng.integers(0, LOST_REASONS.size, n)], lost),
            }
        )
        return {"table": table, "amount": amount, "closed_at": closed_at, "won": won, "lost": lost}

    # --- customer success ------------------------------------------------------------------------
    def customer_success(self) -> None:
        rng, w, won = self.rng, self.w, self.won
        n = won["no"].size
        # onboarding takes days, at most three weeks (inside quality.yml's grace period for this hand-over)
        lag = np.minimum(_lognormal_days(rng, 5.0, 0.5, n), 21 * DAY)
        onboarded = np.minimum(won["closed_at"] + lag, w.end)
        industry = INDUSTRIES[rng.integers(0, INDUSTRIES.size, n)]
        self.tables["customers"] = pa.table(
            {
                "account_id": _ids("001", won["account"]),
                "won_opportunity_id": _ids("006", won["no"]),
                "onboarded_at": _times(onboarded, None, "%Y/%m/%d %H:%M:%S"),
                "segment": pa.array(SEGMENTS[won["segment"]]),
                "industry": pa.array(industry),
                "owner_id": pa.array(self._account_managers(onboarded)),
            }
        )
        contracts, opportunities = [], []
        contract_no = self.base + np.arange(1, n + 1) * 100  # room for 99 renewals per account
        start = (onboarded // DAY) * DAY
        mrr = np.maximum((won["amount"] / 12 / 1000).round() * 1000, 1000)
        previous = np.full(n, -1)
        alive = np.ones(n, bool)
        term = 0
        extra_no = self.base + EXPANSION
        while term == 0 or alive.any():  # once at least: no won deal still gives an (empty) contracts table
            idx = np.flatnonzero(alive)
            end = _plus_year(start[idx])
            churn_p = SEGMENT_ANNUAL_CHURN[won["segment"][idx]]
            churns = rng.random(idx.size) < churn_p
            churn_at = end + 12 * 3600
            churned = churns & (churn_at <= w.end)
            contracts.append(
                pa.table(
                    {
                        "contract_id": _ids("800", contract_no[idx] + term),
                        "account_id": _ids("001", won["account"][idx]),
                        "start_date": _dates(start[idx]),
                        "end_date": _dates(end),
                        "mrr": pa.array(mrr[idx].astype(np.int64)),
                        "renewal_of_contract_id": pc.if_else(
                            pa.array(previous[idx] >= 0),
                            _ids("800", np.maximum(previous[idx], 0)),
                            pa.scalar(None, pa.string()),
                        ),
                        "churned_at": _times(churn_at, churned, "%Y/%m/%d %H:%M:%S"),
                        "churn_reason": _masked(CHURN_REASONS[rng.integers(0, CHURN_REASONS.size, idx.size)], churned),
                    }
                )
            )
            # Expansion during the term: upsell and cross-sell opportunities, about half won.
            for kind, p in (("upsell", 0.20), ("cross_sell", 0.10)):
                hit = rng.random(idx.size) < p
                k = int(hit.sum())
                opened = start[idx][hit] + rng.integers(30, 300, k) * DAY
                closes = opened + _lognormal_days(rng, 30.0, 0.5, k)
                ok = opened <= w.end
                k2 = int(ok.sum())
                closed = closes[ok] <= w.end
                is_won = closed & (rng.random(k2) < 0.5)
                opportunities.append(
                    self._expansion(
                        extra_no + np.arange(k2),
                        won["account"][idx][hit][ok],
                        kind,
                        opened[ok],
                        closes[ok],
                        closed,
                        is_won,
                        mrr[idx][hit][ok] * 12 * rng.uniform(0.1, 0.4, k2),
                    )
                )
                extra_no += k2
            renew_start = end + DAY
            due = renew_start <= w.end
            renews = due & ~churns
            # Renewal opportunity at term end: won when the customer renews, lost when it churns.
            k3 = int(due.sum())
            opportunities.append(
                self._expansion(
                    extra_no + np.arange(k3),
                    won["account"][idx][due],
                    "renewal",
                    end[due] - 45 * DAY,
                    end[due],
                    np.ones(k3, bool),
                    renews[due],
                    mrr[idx][due] * 12,
                )
            )
            extra_no += k3
            growth = np.clip(rng.normal(0.08, 0.10, idx.size), -0.2, 0.5)
            previous[idx] = contract_no[idx] + term
            mrr[idx] = np.maximum((mrr[idx] * (1 + growth) / 1000).round() * 1000, 1000)
            start[idx] = renew_start
            alive[idx] = renews
            term += 1
        self.tables["contracts"] = pa.concat_tables(contracts)
        self.tables["opportunities"].extend(opportunities)

    def _account_managers(self, onboarded: np.ndarray) -> np.ndarray:
        """A customer-success manager per customer, among those working the day it was onboarded (own stream)."""
        csm = np.flatnonzero(self.team.role == "customer_success")
        active = self.team.active(csm, (onboarded // DAY) * DAY)
        pick = (self.owner_rng.random(onboarded.size) * active.sum(axis=1)).astype(int)
        chosen = np.argmax(np.cumsum(active, axis=1) > pick[:, None], axis=1)
        return self.team.user_id[csm[chosen]]

    def leads_per_campaign(self) -> dict[tuple[str, str], int]:
        """(campaign_id, source) -> leads of this chunk."""
        counts = self.tables["ma", "leads"].group_by(["campaign_id", "source"]).aggregate([("lead_id", "count")])
        return {
            (c, s): n
            for c, s, n in zip(
                counts["campaign_id"].to_pylist(),
                counts["source"].to_pylist(),
                counts["lead_id_count"].to_pylist(),
                strict=True,
            )
        }

    def _expansion(self, numbers, accounts, kind, created, closes, closed, won, amount) -> pa.Table:
        rng = self.rng
        k = numbers.size
        lost = closed & ~won
        return pa.table(
            {
                "opportunity_id": _ids("006", numbers),
                "lead_id": pa.nulls(k, pa.string()),
                "account_id": _ids("001", accounts),
                "owner_id": pa.array(CSM_REPS[rng.integers(0, CSM_REPS.size, k)]),
                "type": pa.array(np.full(k, kind)),
                "created_at": _times(created, None, "%Y/%m/%d %H:%M:%S"),
                "stage_name": pa.array(np.where(won, "Closed Won", np.where(lost, "Closed Lost", "Proposal"))),
                "is_closed": pa.array(closed),
                "is_won": pa.array(won),
                "closed_at": _times(closes, closed, "%Y/%m/%d %H:%M:%S"),
                "amount": pa.array((np.asarray(amount) / 10_000).round().astype(np.int64) * 10_000),
                "currency": pa.array(np.full(k, "JPY")),
                "lost_reason": _masked(np.full(k, "churn" if kind == "renewal" else "no_budget"), lost),
            }
        )

    def extracts(self) -> dict[str, pa.Table]:
        t = self.tables
        return {
            "leads": t["ma", "leads"],
            "mql_events": pa.concat_tables(t["mql_events"]),
            "sfa_leads": pa.concat_tables(t["sfa_leads"]),
            "opportunities": pa.concat_tables(t["opportunities"]),
            "customers": t["customers"],
            "contracts": t["contracts"],
        }


#: extract name in _Chunk.extracts() -> (system, entity) folder of the landing directory
FOLDERS = {
    "leads": ("ma", "leads"),
    "mql_events": ("ma", "mql_events"),
    "sfa_leads": ("sfa", "leads"),
    "opportunities": ("sfa", "opportunities"),
    "customers": ("crm", "customers"),
    "contracts": ("crm", "contracts"),
    "opportunity_history": ("sfa", "opportunity_history"),
}
FAULT_MANIFEST = "_injected_faults.csv"


def generate(
    leads: int,
    months: int,
    seed: int,
    out: Path,
    end: datetime | None = None,
    chunk_size: int = CHUNK,
    progress: bool = False,
    faults: FaultRates | None = None,
    effect: Effect | None = None,
    by_month: bool = False,
    foreign_share: float = 0.0,
) -> dict[str, int]:
    """Write the demo extracts under `out` (one folder per system and entity); return rows per entity. The team
    (sfa/users/users.csv) is one file whatever the chunks and months; so is the spend (ma/spend/spend.csv), except
    by month, when each month with spend has its file `YYYY-MM.csv`.

    By month, each entity is written as one file per month and chunk, `YYYY-MM-<chunk>.csv`, holding what that
    month's export would (demo/months.py): its new records and the earlier ones changed in it, as of its end.
    Without, one file per chunk, `part-<chunk>.csv`, with every record in its final state.

    With an effect, the planted change in conversion is part of the history (for hypothesis tests).

    With fault rates, the injected faults are listed in `out`/_injected_faults.csv (the ingest reads
    only the system folders, so the file is not loaded).

    With a foreign share, that share of customer accounts deals in US dollars, as does that share of the
    marketing spend, and `sfa/exchange_rates.csv` holds the monthly rates (demo/currency.py).
    """
    if leads < 1 or months < 1:
        raise ValueError("--leads and --months must be at least 1")
    if not 0 <= foreign_share <= 1:
        raise ValueError("--foreign-share must be between 0 and 1")
    end = end or datetime.fromisoformat(DEFAULT_END)
    window = _window(months, end)
    rates = demo_currency.monthly_rates(window.months, seed) if foreign_share else {}
    totals: dict[str, int] = {}
    manifests = []
    chunks = -(-leads // chunk_size)
    team = _team(window)
    campaigns: dict[tuple[str, str], int] = {}
    for index in range(chunks):
        size = min(chunk_size, leads - index * chunk_size)
        chunk = _Chunk(index, size, window, seed, team, effect)
        chunk.marketing()
        chunk.field_sales()
        chunk.customer_success()
        for key, count in chunk.leads_per_campaign().items():
            campaigns[key] = campaigns.get(key, 0) + count
        extracts = chunk.extracts()
        if foreign_share:
            accounts = demo_currency.foreign_accounts(extracts, foreign_share, seed, index)
            extracts = demo_currency.convert(extracts, rates, accounts)
        if faults and faults.any():
            extracts, manifest = demo_faults.inject(extracts, faults, pd.Timestamp(end))
            manifests.append(manifest)
        # drawn from the final records (converted, faults injected), so each path ends in its record
        extracts["opportunities"], extracts["opportunity_history"] = demo_history.paths(
            extracts["opportunities"], window.end, np.random.default_rng([seed, index, HISTORY_STREAM])
        )
        for name, table in extracts.items():
            system, entity = FOLDERS[name]
            if by_month:
                parts = zip(
                    map(month_label, window.months),
                    month_tables(
                        name, table, window.months, extracts["opportunities"], extracts["opportunity_history"]
                    ),
                    strict=True,
                )
                written = sum(_write(t, out, system, entity, f"{m}-{index:05d}") for m, t in parts if t.num_rows)
            else:
                written = _write(table, out, system, entity, f"part-{index:05d}")
            totals[f"{system}/{entity}"] = totals.get(f"{system}/{entity}", 0) + written
        if progress:
            print(f"  chunk {index + 1}/{chunks}: {size:,} leads", file=sys.stderr)
    totals["sfa/users"] = _write(_users(team), out, "sfa", "users", "users")
    spend = _spend(campaigns, team, window, seed, leads / months)
    if foreign_share:
        spend = demo_currency.convert_spend(spend, rates, foreign_share, seed)
    if by_month:  # each month's spend is that month's export, like the funnel's extracts
        labels = pc.utf8_slice_codeunits(spend["month"], 0, 7)
        totals["ma/spend"] = sum(
            _write(spend.filter(pc.equal(labels, m)), out, "ma", "spend", m) for m in sorted(set(labels.to_pylist()))
        )
    else:
        totals["ma/spend"] = _write(spend, out, "ma", "spend", "spend")
    if manifests:
        pd.concat(manifests, ignore_index=True).to_csv(out / FAULT_MANIFEST, index=False)
    if rates:
        totals["sfa/exchange_rates"] = demo_currency.write_rates(rates, out)
    return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.generator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="new MA leads to create (default 20000)")
    parser.add_argument("--months", type=int, default=24, help="months of history (default 24)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; same seed, same files (default 7)")
    parser.add_argument("--out", type=Path, default=Path("data/landing"), help="landing folder to write")
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=datetime.fromisoformat(DEFAULT_END),
        help=f"last moment of the history, local time (default {DEFAULT_END})",
    )
    parser.add_argument("--chunk-size", type=int, default=CHUNK, help="leads generated per chunk and file")
    parser.add_argument(
        "--by-month",
        action="store_true",
        help="one file per month (YYYY-MM-<chunk>.csv): its new records and the changes to earlier ones",
    )
    for field in fields(FaultRates):
        parser.add_argument(
            f"--fault-{field.name.replace('_', '-')}",
            type=float,
            default=0.0,
            metavar="RATE",
            dest=f"fault_{field.name}",
            help=f"inject '{field.name}' faults into this share of the eligible records",
        )
    parser.add_argument(
        "--foreign-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of customer accounts that deal in USD; writes sfa/exchange_rates.csv (default 0: all JPY)",
    )
    parser.add_argument(
        "--effect",
        type=Effect.parse,
        metavar="SOURCE:YYYY-MM-DD:LIFT",
        help="plant a change: from that day, SFA leads from SOURCE convert LIFT more often",
    )
    args = parser.parse_args(argv)
    faults = FaultRates(**{f.name: getattr(args, f"fault_{f.name}") for f in fields(FaultRates)})
    started = time.perf_counter()
    totals = generate(
        args.leads,
        args.months,
        args.seed,
        args.out,
        args.end,
        args.chunk_size,
        progress=True,
        faults=faults,
        effect=args.effect,
        by_month=args.by_month,
        foreign_share=args.foreign_share,
    )
    for entity, rows in totals.items():
        print(f"{entity:24s} {rows:>12,} rows")
    if faults.any():
        print(f"injected faults are listed in {args.out / FAULT_MANIFEST}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
