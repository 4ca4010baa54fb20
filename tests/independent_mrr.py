"""Monthly MRR per account straight from the contract extracts, and the readers it needs: the independent route the
MRR marts (customer_success_monthly, the retention cohorts, unit economics) are checked against."""

from pathlib import Path

import pandas as pd

from tests import exchange

TZ = "Asia/Tokyo"


def read_csvs(landing: Path, system: str, entity: str) -> pd.DataFrame:
    files = sorted((landing / system / entity).rglob("*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files], ignore_index=True).replace(
        {"": None}
    )


def as_of_date(run) -> pd.Timestamp:
    as_of = run.query("select as_of from intermediate.int_as_of")["as_of"][0]
    return pd.Timestamp(as_of).tz_convert(TZ).tz_localize(None).normalize()


def dates(values: pd.Series) -> pd.Series:
    """DuckDB DATE columns arrive as timestamps; compare them as dates."""
    return pd.to_datetime(values).dt.date


def account_months(run) -> pd.DataFrame:
    """Start- and end-of-month MRR per account, straight from the contract extracts (in the reporting currency at
    their start month's rate, tests/exchange.py), of the contracts that had started by the as-of date. (No churn
    needs dropping: the as-of is a day's end or the latest event.)"""
    contracts = read_csvs(run.landing, "crm", "contracts")
    customers = read_csvs(run.landing, "crm", "customers")
    contracts["start"] = pd.to_datetime(contracts["start_date"].str.replace("/", "-"))
    contracts["end"] = pd.to_datetime(contracts["end_date"].str.replace("/", "-"))
    contracts["churned_on"] = pd.to_datetime(contracts["churned_at"].str.slice(0, 10).str.replace("/", "-"))
    contracts["mrr"] = exchange.contract_mrr(contracts, run.landing)
    as_of = as_of_date(run)
    contracts = contracts[contracts["start"] <= as_of]
    months = pd.period_range(contracts["start"].min(), as_of, freq="M")

    def mrr_on(day: pd.Timestamp) -> pd.Series:
        active = (
            (contracts["start"] <= day)
            & (contracts["end"] >= day)
            & (contracts["churned_on"].isna() | (contracts["churned_on"] > day))
        )
        return contracts[active].groupby("account_id")["mrr"].sum()

    frames = []
    for month in months:
        first = month.to_timestamp()
        start = mrr_on(first - pd.Timedelta(days=1))
        end = mrr_on(min(month.to_timestamp(how="end").normalize(), as_of))
        frame = pd.DataFrame({"start_mrr": start, "end_mrr": end}).fillna(0.0)
        frame["period_start"] = first.date()
        frames.append(frame)
    out = pd.concat(frames).rename_axis("account_id").reset_index()
    out["segment"] = out["account_id"].map(customers.set_index("account_id")["segment"]).fillna("(none)")
    out["first_month"] = out["account_id"].map(
        contracts.groupby("account_id")["start"].min().dt.to_period("M").dt.to_timestamp().dt.date
    )
    return out[out["period_start"] >= out["first_month"]]
