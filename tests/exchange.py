"""Amounts of the landing CSVs in the reporting currency, converted in pandas with the rates CSV: the route the
tests check the SQL conversion (transforms/macros/currency.sql) against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPORTING = "JPY"


def monthly_rates(landing: Path) -> dict[tuple[str, str], float]:
    """(currency, 'YYYY-MM') -> rate, from sfa/exchange_rates.csv (the last day of a month wins); empty without it."""
    path = landing / "sfa" / "exchange_rates.csv"
    if not path.exists():
        return {}
    rates = pd.read_csv(path, dtype={"currency": str, "month": str}).sort_values("month")
    return {
        (c.upper(), m[:7]): float(r) for c, m, r in zip(rates["currency"], rates["month"], rates["rate"], strict=True)
    }


def converted(values: pd.Series, currencies: pd.Series, months: pd.Series, landing: Path) -> pd.Series:
    """`values` (text) in the reporting currency: × the rate of (currency, month) unless in it or without one.
    A missing rate is a KeyError."""
    rates = monthly_rates(landing)
    amounts = values.astype(float)
    out = []
    for amount, currency, month in zip(amounts, currencies.fillna(REPORTING).str.upper(), months, strict=True):
        out.append(amount if currency == REPORTING or np.isnan(amount) else round(amount * rates[currency, month], 2))
    return pd.Series(out, index=values.index, dtype=float)


def _month(local_text: pd.Series) -> pd.Series:
    """'YYYY-MM' of local 'YYYY/MM/DD ...' or 'YYYY-MM-DD' text."""
    return local_text.str.slice(0, 7).str.replace("/", "-")


def contract_mrr(contracts: pd.DataFrame, landing: Path) -> pd.Series:
    """MRR in the reporting currency, at the rate of the month the contract starts."""
    currency = contracts["currency"] if "currency" in contracts else pd.Series(None, index=contracts.index)
    return converted(contracts["mrr"], currency, _month(contracts["start_date"]), landing)


def opportunity_amount(opportunities: pd.DataFrame, landing: Path) -> pd.Series:
    """Amounts in the reporting currency, at the rate of the month closed in (while open, created in)."""
    closed = opportunities["is_closed"].str.lower().eq("true")
    month = _month(opportunities["closed_at"].where(closed, opportunities["created_at"]))
    return converted(opportunities["amount"], opportunities["currency"], month, landing)


def spend_amount(spend: pd.DataFrame, landing: Path) -> pd.Series:
    """Spend in the reporting currency, at the rate of its month."""
    currency = spend["currency"] if "currency" in spend else pd.Series(None, index=spend.index)
    return converted(spend["amount"], currency, _month(spend["month"]), landing)
