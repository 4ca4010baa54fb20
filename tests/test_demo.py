"""The demo generator: deterministic, chunked without id clashes, and shaped like the benchmarks."""

import hashlib

import pandas as pd

from demo import example
from demo import generator as demo


def _digest(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.csv"))
    }


def test_same_seed_same_files_and_another_seed_other_files(tmp_path):
    demo.generate(2_000, 6, 3, tmp_path / "a")
    demo.generate(2_000, 6, 3, tmp_path / "b")
    demo.generate(2_000, 6, 4, tmp_path / "c")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_chunks_write_many_files_whose_ids_never_collide(tmp_path):
    totals = demo.generate(5_000, 12, 1, tmp_path, chunk_size=2_000)
    assert totals["ma/leads"] == 5_000
    for entity, key in [
        ("ma/leads", "lead_id"),
        ("sfa/leads", "lead_id"),
        ("sfa/opportunities", "opportunity_id"),
        ("crm/customers", "account_id"),
        ("crm/contracts", "contract_id"),
    ]:
        files = sorted((tmp_path / entity).glob("*.csv"))
        assert len(files) == 3, entity
        ids = pd.concat([pd.read_csv(f, dtype=str)[key] for f in files])
        assert ids.is_unique and len(ids) == totals[entity], entity


def test_rates_sit_within_the_domain_benchmarks(tmp_path):
    # 40,000 leads over 24 months: enough first terms end for the churn rate to be more than noise
    demo.generate(40_000, 24, 11, tmp_path)

    def read(entity: str) -> pd.DataFrame:
        return pd.concat(pd.read_csv(f, dtype=str) for f in (tmp_path / entity).glob("*.csv"))

    leads, mqls, sfa = read("ma/leads"), read("ma/mql_events"), read("sfa/leads")
    opps, contracts = read("sfa/opportunities"), read("crm/contracts")
    assert 0.10 <= mqls["lead_id"].nunique() / len(leads) <= 0.25  # inquiry -> MQL
    decided = sfa[sfa["status"].isin(["converted", "disqualified", "recycled"])]
    assert 0.20 <= (decided["status"] == "converted").mean() <= 0.45  # MQL -> opportunity (SAL x SQL)
    closed = opps[(opps["type"] == "new_business") & (opps["is_closed"] == "true")]
    assert 0.20 <= (closed["is_won"] == "true").mean() <= 0.30  # SQL -> won
    assert (leads["lead_id"].str.len() == 10).all() and leads["lead_id"].str.startswith("0").all()
    assert set(opps["type"]) == {"new_business", "upsell", "cross_sell", "renewal"}
    assert {"recycled", "disqualified", "converted"} <= set(sfa["status"])
    first_terms = contracts[contracts["renewal_of_contract_id"].isna()]
    ended = first_terms[pd.to_datetime(first_terms["end_date"]) < pd.Timestamp("2026-10-01")]
    churned = ended["churned_at"].notna().mean()
    assert 0.03 <= churned <= 0.20  # logo churn at first renewal
    monthly = pd.to_datetime(leads["created_at"].str[:7]).value_counts().sort_index()
    assert monthly.max() / monthly.min() > 1.2  # seasonality and growth, not flat


def test_make_demo_refuses_a_folder_that_already_holds_files(tmp_path, capsys):
    """Pointed by mistake at a real landing folder, the demo writes nothing beside the real extracts."""
    real = tmp_path / "landing" / "sfa" / "leads" / "2026-11.csv"
    real.parent.mkdir(parents=True)
    real.write_text("lead_id\n00Q1\n")
    assert example.main([str(tmp_path / "landing")]) == 2
    assert "already holds 1 file(s)" in capsys.readouterr().err
    assert [p for p in (tmp_path / "landing").rglob("*") if p.is_file()] == [real]
    assert real.read_text() == "lead_id\n00Q1\n"


def test_a_history_too_short_to_win_a_deal_writes_empty_customer_extracts(tmp_path):
    rows = demo.generate(200, 3, 1, tmp_path)
    assert rows["crm/customers"] == 0 and rows["crm/contracts"] == 0 and rows["sfa/opportunities"] > 0
    contracts = pd.concat(pd.read_csv(p) for p in (tmp_path / "crm" / "contracts").glob("*.csv"))
    assert contracts.empty and "mrr" in contracts.columns
