"""Demo opportunity histories: each deal's way through the sales stages, written as `sfa/opportunity_history`.

The funnel's extracts say where each opportunity ended (its stage, amount, whether and when it closed); a revenue
team's pipeline views need the way there. This module draws that way for every opportunity of a chunk, from the
final records and a random stream of its own (so the funnel's extracts of a seed stay what they were), and adds
what the path ends in to the records: `close_date` (the expected close date), `probability` and
`forecast_category`.

A path, like Salesforce's OpportunityHistory, is one row per change holding every tracked value right after it:
- The first row is at the opportunity's created_at, in its first open stage: new business mostly starts in
  Qualification (some in Needs Analysis), upsell and cross-sell in Needs Analysis or Proposal, renewals in Proposal.
- The open stages follow in order (Qualification -> Needs Analysis -> Proposal -> Negotiation) up to the last one
  the deal reached: an open deal's record stage, a won deal mostly Negotiation, a lost one any. A stage between the
  first and the last is skipped now and then (SKIP_SHARE); BACKWARD_SHARE of the deals that pass two or more open
  stages step back once to the stage before and forward again.
- A closed deal's last row is at its closed_at: Closed Won or Closed Lost, probability 100 or 0, forecast category
  Closed or Omitted, close date its closing day.
- Close dates: PUSH_SHARE of the deals push their expected close date once or twice, by two to six weeks each;
  PULL_SHARE of the others pull it in once, by one to three weeks, to a day still ahead.
  A closed deal expected to close about when it did; an open deal's close date falls in the open month (of the
  history's end) or the next two, nearer for later stages, OVERDUE_SHARE of them already past.
- Amounts: AMOUNT_SHARE of the deals start with an estimate 5-30 % above or below the final amount and change to
  it once, on a row of its own.
Every row is at or after created_at and before the end of the history; deals open for less than a day (MIN_SPAN)
keep their one stage. Everything is computed on (deals x slots) matrices, so a chunk of a million leads takes
about as long as writing its opportunities.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from demo import currency as demo_currency

DAY = 86_400
SFA_TIME = "%Y/%m/%d %H:%M:%S"
DATE = "%Y/%m/%d"
#: Stages by index: the four open ones in order, then the two closed ones.
STAGES = np.array(["Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won", "Closed Lost"])
OPEN, WON, LOST = 4, 4, 5
PROBABILITY = np.array([10, 20, 50, 75, 100, 0])
FORECAST_CATEGORY = np.array(["Pipeline", "Pipeline", "Best Case", "Commit", "Closed", "Omitted"])
#: Relative time a deal spends in each open stage.
STAGE_WEIGHT = np.array([1.0, 1.3, 1.6, 1.0])
#: Opportunity type -> (first open stage, chance to start one stage later).
START = {"new_business": (0, 0.10), "upsell": (1, 0.40), "cross_sell": (1, 0.40), "renewal": (2, 0.0)}
WON_FROM_PROPOSAL = 0.15  # won deals whose last open stage is Proposal (skipping Negotiation)
SKIP_SHARE = 0.10  # each open stage between a deal's first and last one
BACKWARD_SHARE = 0.10  # of the deals that pass at least two open stages
PUSH_SHARE, SECOND_PUSH, PUSH_DAYS = 0.30, 0.30, (14, 42)
PULL_SHARE, PULL_DAYS = 0.08, (7, 21)
AMOUNT_SHARE, AMOUNT_CHANGE = 0.25, (0.05, 0.30)
OVERDUE_SHARE, OVERDUE_DAYS = 0.10, 30
PUSH_ROOM_DAYS = 7
CLOSE_DATE_SIGMA_DAYS = 7.0  # how far a closed deal's last expected close date sits from its real one
MIN_SPAN = DAY
#: Slots per deal: open-stage visits (four stages and the two extra of a step back), the closing, pushes, amount.
VISITS, PUSHES = 6, 2
CLOSING, FIRST_PUSH, AMOUNT = VISITS, VISITS + 1, VISITS + 1 + PUSHES
SLOTS = AMOUNT + 1
NEVER = np.iinfo(np.int64).max // 2
#: Amounts are rounded like the records': whole 10,000 yen, whole hundreds of another currency.
YEN_STEP = 10_000


def _seconds(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds of SFA timestamp text, and where it is given."""
    parsed = pc.strptime(text, format=SFA_TIME, unit="s")
    valid = pc.is_valid(parsed).to_numpy()
    return parsed.cast(pa.int64()).fill_null(0).to_numpy(), valid


def _month_end_day(day: int, months_ahead: int) -> int:
    """The last day (days since the epoch) of the month `months_ahead` after the one holding `day`."""
    month = np.datetime64(day, "D").astype("datetime64[M]") + months_ahead + 1
    return int(month.astype("datetime64[D]").astype(np.int64)) - 1


def paths(opportunities: pa.Table, end: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """The opportunities with `close_date`, `probability` and `forecast_category` added, and their history.

    `opportunities` are final records (stage_name, is_closed, is_won, closed_at, amount, currency as the SFA
    holds them at `end`, epoch seconds of the history's last moment, local)."""
    n = opportunities.num_rows
    created, _ = _seconds(opportunities["created_at"])
    closed_at, closed = _seconds(opportunities["closed_at"])
    record_stage = pc.index_in(opportunities["stage_name"], pa.array(STAGES)).fill_null(0).to_numpy()
    won = opportunities["is_won"].fill_null(False).to_numpy() & closed
    amount = opportunities["amount"].cast(pa.int64()).fill_null(0).to_numpy()
    yen = pc.equal(opportunities["currency"], demo_currency.HOME).fill_null(True).to_numpy()
    step = np.where(yen, YEN_STEP, demo_currency.DEAL_STEP)
    kind = opportunities["type"]
    span = np.maximum(np.where(closed, closed_at, end) - created, 0)
    long = span >= MIN_SPAN

    # first and last open stage, and which stages in between are visited
    first = np.zeros(n, np.int64)
    for name, (stage, later) in START.items():
        of_kind = pc.equal(kind, name).fill_null(False).to_numpy()
        first[of_kind] = stage + (rng.random(int(of_kind.sum())) < later)
    reached = first + (rng.random(n) * (OPEN - np.minimum(first, OPEN - 1))).astype(np.int64)  # lost: any stage
    last_closed = np.where(won, np.where(rng.random(n) < WON_FROM_PROPOSAL, 2, 3), reached)
    last = np.where(closed, np.minimum(np.maximum(last_closed, first), OPEN - 1), np.minimum(record_stage, OPEN - 1))
    first = np.where(long, np.minimum(first, last), last)
    stage = np.arange(OPEN)
    skipped = (rng.random((n, OPEN)) < SKIP_SHARE) & (stage > first[:, None]) & (stage < last[:, None])
    visit = (stage >= first[:, None]) & (stage <= last[:, None]) & ~skipped
    order = np.sort(np.where(visit, stage, OPEN), axis=1)
    visits = visit.sum(axis=1)
    back = long & (visits >= 2) & (rng.random(n) < BACKWARD_SHARE)
    at = np.where(back, 1 + (rng.random(n) * np.maximum(visits - 1, 1)).astype(np.int64), VISITS)[:, None]
    slot = np.arange(VISITS)[None, :]
    source = np.where(slot <= at, slot, np.where(slot == at + 1, at - 1, np.where(slot == at + 2, at, slot - 2)))
    sequence = np.take_along_axis(order, np.minimum(source, OPEN - 1), axis=1)
    visited = slot < (visits + 2 * back)[:, None]
    visited[:, 0] &= ~(closed & (span == 0))  # closed the moment it was created: the closing row only

    # when: the visits share the open span (the last one of an open deal still running), 1 s apart at least
    usable = np.maximum(span - SLOTS, 0)
    spell = np.where(visited, rng.lognormal(0.0, 0.5, (n, VISITS)) * STAGE_WEIGHT[np.minimum(sequence, OPEN - 1)], 0)
    before = np.cumsum(spell, axis=1) - spell
    entered = created[:, None] + (usable[:, None] * before / spell.sum(axis=1, keepdims=True)).astype(np.int64)

    change = np.where(rng.random(n) < 0.5, -1, 1) * rng.uniform(*AMOUNT_CHANGE, n)
    estimate = (np.round(amount * (1 + change) / step) * step).astype(np.int64)
    changes = long & (rng.random(n) < AMOUNT_SHARE) & (estimate != amount)
    estimate = np.where(changes, estimate, amount)
    change_at = created + 1 + (rng.random(n) * (usable - 1)).astype(np.int64)

    # expected close dates (days since the epoch): where they end, and where they start before the pushes
    created_day, today = created // DAY, end // DAY
    horizon = _month_end_day(today, 2) - today + 1
    ahead = rng.random(n) ** (1.0 + 0.5 * last)
    overdue = rng.random(n) < OVERDUE_SHARE
    open_close = np.where(overdue, today - rng.integers(1, OVERDUE_DAYS + 1, n), today + (ahead * horizon).astype(int))
    closed_day = closed_at // DAY
    expected = np.where(closed, closed_day + np.round(rng.normal(0.0, CLOSE_DATE_SIGMA_DAYS, n)), open_close)
    # pushes: PUSH_SHARE of all deals, drawn among those whose first estimate can sit a week after their creation
    room = expected.astype(np.int64) - created_day - PUSH_ROOM_DAYS
    can = long & (room >= PUSH_DAYS[0])
    chance = min(1.0, PUSH_SHARE * n / max(int(can.sum()), 1))
    pushes = np.where(can & (rng.random(n) < chance), 1 + (rng.random(n) < SECOND_PUSH), 0)
    push_days = rng.integers(PUSH_DAYS[0], PUSH_DAYS[1] + 1, (n, PUSHES))
    push_days[:, 0] = np.minimum(push_days[:, 0], room)
    pushed = (slot[:, :PUSHES] < pushes[:, None]) & (np.cumsum(push_days, axis=1) <= room[:, None])
    push_days *= pushed
    push_at = created[:, None] + 1 + (np.sort(rng.random((n, PUSHES)), axis=1) * (usable[:, None] - 1)).astype(np.int64)
    # pull-ins: PULL_SHARE of all deals, drawn among those not pushed, bring the date forward once (in the first push
    # slot, as a negative push), at a moment before the day it then names
    window = np.minimum(usable - 1, expected.astype(np.int64) * DAY - created - 2)
    eligible = long & (pushes == 0) & (window > 0)
    pull = eligible & (rng.random(n) < min(1.0, PULL_SHARE * n / max(int(eligible.sum()), 1)))
    pull_days = rng.integers(PULL_DAYS[0], PULL_DAYS[1] + 1, n)
    pull_at = created + 1 + (rng.random(n) * np.maximum(window, 0)).astype(np.int64)
    pushed[:, 0] |= pull
    push_days[:, 0] = np.where(pull, -pull_days, push_days[:, 0])
    push_at[:, 0] = np.where(pull, pull_at, push_at[:, 0])
    initial = np.maximum(expected.astype(np.int64) - push_days.sum(axis=1), created_day + 1)

    # the slots, sorted by time per deal
    times = np.full((n, SLOTS), NEVER, np.int64)
    times[:, :VISITS] = np.where(visited, entered, NEVER)
    times[:, CLOSING] = np.where(closed, closed_at, NEVER)
    times[:, FIRST_PUSH:AMOUNT] = np.where(pushed, push_at, NEVER)
    times[:, AMOUNT] = np.where(changes, change_at, NEVER)
    stages = np.full((n, SLOTS), -1)
    stages[:, :VISITS] = sequence
    stages[:, CLOSING] = np.where(won, WON, LOST)
    days = np.zeros((n, SLOTS), np.int64)
    days[:, FIRST_PUSH:AMOUNT] = push_days
    sort = np.argsort(times, axis=1, kind="stable")
    times = np.take_along_axis(times, sort, axis=1)
    kinds = np.take_along_axis(np.broadcast_to(np.arange(SLOTS), (n, SLOTS)), sort, axis=1)
    stages = np.take_along_axis(stages, sort, axis=1)
    days = np.take_along_axis(days, sort, axis=1)
    valid = times < NEVER
    columns = np.arange(SLOTS)
    times = np.maximum.accumulate(times - columns, axis=1) + columns  # distinct times; none moves past a closing

    # each row's values right after its change
    latest_stage = np.maximum.accumulate(np.where(kinds <= CLOSING, columns, 0), axis=1)
    row_stage = np.take_along_axis(stages, latest_stage, axis=1)
    row_close = np.where(kinds == CLOSING, closed_day[:, None], initial[:, None] + np.cumsum(days, axis=1))
    row_amount = np.where(np.cumsum(kinds == AMOUNT, axis=1) > 0, amount[:, None], estimate[:, None])

    rows = np.flatnonzero(valid.ravel())
    deal = rows // SLOTS
    stage_of = row_stage.ravel()[rows]
    history = pa.table(
        {
            "opportunity_id": opportunities["opportunity_id"].take(pa.array(deal)),
            "changed_at": pc.strftime(pa.array(times.ravel()[rows].astype("datetime64[s]")), format=SFA_TIME),
            "stage_name": pa.array(STAGES[stage_of]),
            "amount": pa.array(row_amount.ravel()[rows]),
            "currency": opportunities["currency"].take(pa.array(deal)),
            "close_date": pc.strftime(pa.array(row_close.ravel()[rows].astype("datetime64[D]")), format=DATE),
            "probability": pa.array(PROBABILITY[stage_of]),
            "forecast_category": pa.array(FORECAST_CATEGORY[stage_of]),
        }
    )
    final = valid.sum(axis=1) - 1
    final_stage = np.take_along_axis(row_stage, final[:, None], axis=1)[:, 0]
    final_close = np.take_along_axis(row_close, final[:, None], axis=1)[:, 0]
    records = (
        opportunities.append_column(
            "close_date", pc.strftime(pa.array(final_close.astype("datetime64[D]")), format=DATE)
        )
        .append_column("probability", pa.array(PROBABILITY[final_stage]))
        .append_column("forecast_category", pa.array(FORECAST_CATEGORY[final_stage]))
    )
    return records, history
