"""One reporting currency (issue #15, item 2): deals and MRR in several currencies are converted into
FUNNEL_REPORTING_CURRENCY with the optional rates extract, checked against a pandas conversion of the landing CSVs
(tests/exchange.py); a missing rate stops the run with a message naming the currency and the month.

The MRR marts are checked on the two-currency demo by tests/test_improvement_loop.py (fixture `foreign_run`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from demo import generator as demo
from pipeline.config.files import ConfigError
from pipeline.config.settings import PROJECT_ROOT, Settings, read_environment
from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.freshness import Freshness
from tests import exchange
from tests.independent_mrr import read_csvs


def _opportunities(run) -> pd.DataFrame:
    opp = read_csvs(run.landing, "sfa", "opportunities")
    opp["expected"] = exchange.opportunity_amount(opp, run.landing)
    return opp.set_index("opportunity_id")


def test_deal_amounts_are_converted_at_the_rate_of_their_close_or_creation_month(foreign_run):
    opp = _opportunities(foreign_run)
    usd = opp["currency"] == "USD"
    assert usd.sum() > 20 and (~usd).sum() > 20, "the demo must have deals in both currencies"
    staged = foreign_run.query(
        "select opportunity_id, amount, amount_original, currency from staging.stg_sfa__opportunities"
    ).set_index("opportunity_id")
    assert sorted(staged.index) == sorted(opp.index)
    staged = staged.loc[opp.index]
    assert np.allclose(staged["amount"].astype(float), opp["expected"], rtol=0, atol=0.005)
    assert np.allclose(staged["amount_original"].astype(float), opp["amount"].astype(float), rtol=0, atol=0)
    assert (staged["currency"] == opp["currency"]).all()
    # a dollar is worth well over a hundred yen: the USD amounts did change, the JPY ones did not
    ratio = staged.loc[usd, "amount"].astype(float) / staged.loc[usd, "amount_original"].astype(float)
    assert ratio.between(100, 200).all()
    assert (staged.loc[~usd, "amount"] == staged.loc[~usd, "amount_original"]).all()


def test_stage_tables_and_the_reapproach_list_carry_the_converted_amounts(foreign_run):
    opp = _opportunities(foreign_run)
    entries = foreign_run.query(
        "select opportunity_id, outcome, amount, amount_original, currency from stages.field_sales_entries"
    ).set_index("opportunity_id")
    expected = opp.loc[entries.index]
    assert np.allclose(entries["amount"].astype(float), expected["expected"], rtol=0, atol=0.005)
    assert (entries["currency"] == expected["currency"]).all()
    # a sum over the stage is in one currency: won deals per month, as a mart would add them
    won = entries[entries["outcome"] == "advanced"]
    assert np.isclose(won["amount"].astype(float).sum(), expected.loc[won.index, "expected"].sum(), rtol=0, atol=0.01)
    assert (won["currency"] == "USD").any()

    lost = foreign_run.query(
        "select record_id, amount, amount_original, currency from marts.reapproach_list where kind = 'lost_opportunity'"
    ).set_index("record_id")
    assert (lost["currency"] == "USD").any()
    assert np.allclose(lost["amount"].astype(float), opp.loc[lost.index, "expected"], rtol=0, atol=0.005)
    assert np.allclose(lost["amount_original"].astype(float), opp.loc[lost.index, "amount"].astype(float))


def test_contract_mrr_is_converted_at_the_rate_of_its_start_month(foreign_run):
    contracts = read_csvs(foreign_run.landing, "crm", "contracts").set_index("contract_id")
    expected = exchange.contract_mrr(contracts, foreign_run.landing)
    staged = foreign_run.query("select contract_id, mrr, mrr_original, currency from staging.stg_crm__contracts")
    staged = staged.set_index("contract_id").loc[contracts.index]
    assert (contracts["currency"] == "USD").any() and (contracts["currency"] == "JPY").any()
    assert np.allclose(staged["mrr"].astype(float), expected, rtol=0, atol=0.005)
    assert (staged["currency"] == contracts["currency"]).all()


def test_spend_is_converted_at_the_rate_of_its_month(foreign_run):
    spend = read_csvs(foreign_run.landing, "ma", "spend")
    spend["expected"] = exchange.spend_amount(spend, foreign_run.landing)
    assert (spend["currency"] == "USD").any() and (spend["currency"] == "JPY").any()
    staged = foreign_run.query(
        "select strftime(month, '%Y-%m') as month, cost_type, coalesce(campaign_id, '') as campaign_id, amount, "
        "amount_original, currency from staging.stg_ma__spend"
    )
    spend["month"] = spend["month"].str.slice(0, 7).str.replace("/", "-")
    keys = ["month", "cost_type", "campaign_id"]
    merged = spend.fillna({"campaign_id": ""}).merge(staged, on=keys, suffixes=("_csv", ""), validate="one_to_one")
    assert len(merged) == len(spend) == len(staged)
    assert np.allclose(merged["amount"].astype(float), merged["expected"], rtol=0, atol=0.005)
    assert (merged["currency"] == merged["currency_csv"]).all()
    # the month's marketing spend, summed in one currency
    by_month = merged[merged["cost_type"] == "marketing"].groupby("month")[["amount", "expected"]].sum()
    assert np.allclose(by_month["amount"].astype(float), by_month["expected"], rtol=0, atol=0.01)


def test_one_currency_needs_no_rates_and_changes_nothing(demo_run):
    """The plain demo has no rates extract: the optional table exists, empty, and every amount stays as it is."""
    rates = demo_run.query("select count(*) as n from extracted.sfa_exchange_rates")
    assert rates["n"][0] == 0 and not (demo_run.landing / "sfa" / "exchange_rates.csv").exists()
    unchanged = demo_run.query(
        "select count(*) filter (amount is distinct from amount_original) as changed, count(*) as n "
        "from staging.stg_sfa__opportunities"
    )
    assert unchanged["changed"][0] == 0 and unchanged["n"][0] > 0
    contracts = demo_run.query(
        "select count(*) filter (mrr is distinct from mrr_original or currency <> 'JPY') as changed "
        "from staging.stg_crm__contracts"
    )
    assert contracts["changed"][0] == 0


def test_an_optional_extract_never_delivered_is_not_stale():
    rates, contracts = ENTITIES_BY_TABLE["sfa_exchange_rates"], ENTITIES_BY_TABLE["crm_contracts"]
    assert not Freshness(rates, None, None, None, 48.0).stale
    assert Freshness(rates, "sfa/exchange_rates.csv", 0.0, 49.0, 48.0).stale
    assert Freshness(contracts, None, None, None, 48.0).stale


def test_the_reporting_currency_must_be_an_iso_4217_code():
    assert read_environment({"FUNNEL_REPORTING_CURRENCY": "USD"}).reporting_currency == "USD"
    with pytest.raises(ConfigError, match="FUNNEL_REPORTING_CURRENCY"):
        read_environment({"FUNNEL_REPORTING_CURRENCY": "yen"})
    settings = Settings(landing_dir="/l", warehouse_path="/w.duckdb", reporting_currency="EUR")
    assert settings.dbt_env()["FUNNEL_REPORTING_CURRENCY"] == "EUR"


def test_a_missing_rate_stops_the_run_naming_the_currency_and_the_month(tmp_path):
    """As the operator sees it: `python -m pipeline.run` exits 1 and says which rate is missing, no traceback."""
    landing = tmp_path / "landing"
    demo.generate(300, 6, 5, landing, foreign_share=0.5)
    opp = read_csvs(landing, "sfa", "opportunities")
    closed = opp["is_closed"].eq("true")
    months = opp["closed_at"].where(closed, opp["created_at"]).str.slice(0, 7).str.replace("/", "-")
    month = sorted(months[opp["currency"] == "USD"])[0]
    rates = pd.read_csv(landing / "sfa" / "exchange_rates.csv", dtype=str)
    rates[~rates["month"].str.startswith(month)].to_csv(landing / "sfa" / "exchange_rates.csv", index=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (tmp_path / "warehouse").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DAGSTER_", "DBT_"))}
    env |= {
        "FUNNEL_LANDING_DIR": str(landing),
        "FUNNEL_WAREHOUSE": str(tmp_path / "warehouse" / "themodel.duckdb"),
        "DAGSTER_HOME": str(home),
        "DBT_TARGET_PATH": str(tmp_path / "dbt_targets"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert f"no exchange rate for USD in {month} (opportunity " in said, said
    assert "Traceback" not in said
    assert "0 failing row(s)" not in said  # the tests that could not run say so
