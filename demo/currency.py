"""Demo deals, contracts and spend in a second currency, and the monthly exchange rates that convert them back.

A share of the demo's customer accounts (`foreign_share`) buys in US dollars: every opportunity and contract of
such an account is written in USD, its yen amount divided by the month's rate (deals to whole hundreds of
dollars, MRR to whole tens), so the history tells the same story once converted into the reporting currency
(JPY). The same share of the marketing spend rows (campaigns run by an agency abroad) is paid in dollars. The
rate of a month is a seeded random walk around 150 yen per dollar, written to `sfa/exchange_rates.csv`; with a
share of 0 nothing changes and no rates file is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

FOREIGN = "USD"
HOME = "JPY"
#: Yen per dollar the walk starts from, and its monthly volatility.
START_RATE, MONTHLY_SIGMA = 150.0, 0.02
#: Rounding of converted amounts: deals and spend to whole hundreds, MRR to whole tens of dollars.
DEAL_STEP, MRR_STEP = 100, 10


def monthly_rates(months: np.ndarray, seed: int) -> dict[str, float]:
    """`YYYY-MM` -> yen per dollar, two decimals, for each month (epoch seconds of its first second)."""
    rng = np.random.default_rng([seed, 4217])
    walk = START_RATE * np.exp(np.cumsum(rng.normal(0.0, MONTHLY_SIGMA, months.size)))
    labels = months.astype("datetime64[s]").astype("datetime64[M]").astype(str)
    return dict(zip(labels, walk.round(2).tolist(), strict=True))


def write_rates(rates: dict[str, float], out: Path) -> int:
    """`sfa/exchange_rates.csv`: month (its first day), currency, rate."""
    table = pa.table(
        {
            "month": pa.array([f"{month}-01" for month in rates]),
            "currency": pa.array([FOREIGN] * len(rates)),
            "rate": pa.array(list(rates.values()), pa.float64()),
        }
    )
    (out / "sfa").mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out / "sfa" / "exchange_rates.csv")
    return table.num_rows


def _month(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """`YYYY-MM` of local `YYYY/MM/DD...` text."""
    return np.array(pc.replace_substring(pc.utf8_slice_codeunits(text, 0, 7), "/", "-").to_pylist(), dtype=object)


def _in_dollars(yen: np.ndarray, rate: np.ndarray, step: int) -> np.ndarray:
    return np.maximum((yen / rate / step).round(), 1) * step


def foreign_accounts(extracts: dict[str, pa.Table], share: float, seed: int, chunk: int) -> set[str]:
    """The accounts (of this chunk) that buy in dollars: each with probability `share`."""
    accounts = np.unique(np.array(extracts["opportunities"]["account_id"].to_pylist(), dtype=str))
    rng = np.random.default_rng([seed, chunk, 4217])
    return set(accounts[rng.random(accounts.size) < share])


def convert(extracts: dict[str, pa.Table], rates: dict[str, float], accounts: set[str]) -> dict[str, pa.Table]:
    """The extracts with the opportunities and contracts of `accounts` in dollars; contracts gain `currency`."""
    opp = extracts["opportunities"]
    foreign = np.isin(np.array(opp["account_id"].to_pylist(), dtype=str), list(accounts))
    closed = np.array(opp["is_closed"].to_pylist(), dtype=bool)
    month = np.where(closed, _month(pc.fill_null(opp["closed_at"], "")), _month(opp["created_at"]))
    rate = np.array([rates[m] for m in month])
    yen = np.array(opp["amount"].to_pylist(), dtype=float)
    amount = np.where(foreign, _in_dollars(yen, rate, DEAL_STEP), yen)
    opp = opp.set_column(opp.schema.get_field_index("amount"), "amount", pa.array(amount.astype(np.int64)))
    opp = opp.set_column(opp.schema.get_field_index("currency"), "currency", pa.array(np.where(foreign, FOREIGN, HOME)))

    contracts = extracts["contracts"]
    foreign = np.isin(np.array(contracts["account_id"].to_pylist(), dtype=str), list(accounts))
    rate = np.array([rates[m] for m in _month(contracts["start_date"])])
    yen = np.array(contracts["mrr"].to_pylist(), dtype=float)
    mrr = np.where(foreign, _in_dollars(yen, rate, MRR_STEP), yen)
    contracts = contracts.set_column(contracts.schema.get_field_index("mrr"), "mrr", pa.array(mrr.astype(np.int64)))
    contracts = contracts.append_column("currency", pa.array(np.where(foreign, FOREIGN, HOME)))
    return {**extracts, "opportunities": opp, "contracts": contracts}


def convert_spend(spend: pa.Table, rates: dict[str, float], share: float, seed: int) -> pa.Table:
    """The spend with `share` of its marketing rows in dollars, at the rate of their month."""
    rng = np.random.default_rng([seed, 4217, 1])
    marketing = np.array(spend["cost_type"].to_pylist(), dtype=object) == "marketing"
    foreign = marketing & (rng.random(spend.num_rows) < share)
    rate = np.array([rates[m] for m in _month(spend["month"])]) if spend.num_rows else np.zeros(0)
    yen = np.array(spend["amount"].to_pylist(), dtype=float)
    amount = np.where(foreign, _in_dollars(yen, rate, DEAL_STEP), yen)
    spend = spend.set_column(spend.schema.get_field_index("amount"), "amount", pa.array(amount.astype(np.int64)))
    return spend.set_column(
        spend.schema.get_field_index("currency"), "currency", pa.array(np.where(foreign, FOREIGN, HOME), pa.string())
    )
