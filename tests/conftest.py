"""Shared fixtures: small demo landing folders materialized through Dagster into temporary warehouses."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.warehouse.resource import Warehouse

DEMO_LEADS = 4_000
DEMO_MONTHS = 18
DEMO_SEED = 11
EDGE_AS_OF = "2026-06-30"
FOREIGN_SHARE = 0.3
MID_MONTH_AS_OF = "2026-09-15"


@dataclass
class Materialized:
    settings: Settings
    result: dg.ExecuteInProcessResult

    @property
    def landing(self) -> Path:
        return Path(self.settings.landing_dir)

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with Warehouse(path=self.settings.warehouse_path).connect() as con:
            return con.execute(sql, params or []).df()


def materialize(landing: Path, warehouse: Path, **overrides) -> Materialized:
    from pipeline.definitions import build_definitions

    settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse), **overrides)
    job = build_definitions(settings).resolve_job_def("refresh")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    return Materialized(settings, result)


#: The test files that take longest (whole pipeline runs in subprocesses, large demo data), longest first as
#: measured on a 2-core machine (1 to 7 min each, together nine tenths of the suite's time). They run before the
#: others so that parallel workers (`make test`: pytest-xdist, one file per worker at a time) end
#: together instead of one starting a long file while the other has nothing left; the rest keep their order.
LONGEST_FIRST = (
    "test_same_marts.py",  # tests/spark: Spark builds every model (when the Spark test runs, as in CI)
    "test_crash_kill.py",
    "test_funnel_registry.py",
    "test_reconciliation.py",
    "test_incremental.py",
    "test_daemon.py",
    "test_dbt_standalone.py",
    "test_make_run.py",
    "test_erasure.py",
    "test_history.py",
    "test_backup.py",
    "test_hypotheses.py",
    "test_alerts.py",
    "test_date_only_timestamps.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests keep their order


@pytest.fixture(scope="session", autouse=True)
def dbt_target_path(tmp_path_factory) -> Iterator[Path]:
    """This test process's own DBT_TARGET_PATH, where dagster-dbt puts its invocation folders and the partial-parse
    state each run starts from (pipeline/transforms/project.py, dbt_target_root), so that runs in parallel test
    processes (`pytest -n`) neither write into transforms/target nor replace the state between two runs of one test
    (tests/test_dbt_standalone.py). Subprocesses started with os.environ inherit it; the manifest stays in
    transforms/target, parsed once under its lock."""
    folder = tmp_path_factory.mktemp("dbt_target")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_TARGET_PATH", str(folder))
        yield folder


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    landing = tmp_path_factory.mktemp("landing")
    demo.generate(DEMO_LEADS, DEMO_MONTHS, DEMO_SEED, landing)
    return landing


@pytest.fixture(scope="session")
def demo_run(demo_landing, tmp_path_factory) -> Materialized:
    """The plain demo extracts, as `make run` materializes them."""
    run = materialize(demo_landing, tmp_path_factory.mktemp("warehouse") / "themodel.duckdb")
    assert run.result.success, "materializing the demo extracts failed"
    return run


@pytest.fixture(scope="session")
def foreign_landing(tmp_path_factory) -> Path:
    """Demo extracts where a share of the customers deal in US dollars, with sfa/exchange_rates.csv."""
    landing = tmp_path_factory.mktemp("foreign")
    demo.generate(DEMO_LEADS, DEMO_MONTHS, DEMO_SEED, landing, foreign_share=FOREIGN_SHARE)
    return landing


@pytest.fixture(scope="session")
def foreign_run(foreign_landing, tmp_path_factory) -> Materialized:
    """The dollar-and-yen demo extracts, reported in yen (the default FUNNEL_REPORTING_CURRENCY)."""
    run = materialize(foreign_landing, tmp_path_factory.mktemp("foreign_warehouse") / "themodel.duckdb")
    assert run.result.success, "materializing the demo extracts in two currencies failed"
    return run


@pytest.fixture(scope="session")
def mid_month_run(demo_landing, tmp_path_factory) -> Materialized:
    """The demo extracts as of the middle of a month, when the month's later customers are still to come."""
    run = materialize(demo_landing, tmp_path_factory.mktemp("mid_month") / "funnel.duckdb", as_of=MID_MONTH_AS_OF)
    assert run.result.success, "materializing the demo extracts as of mid-month failed"
    return run


def _write_edge_cases(landing: Path) -> None:
    """Records the demo never writes: a lead created in the SFA, a duplicate SFA lead with no sync id,
    a customer with no won deal and its renewal (as Parquet), and a lead at 05:30 JST on April 1."""
    mql = pd.read_csv(next((landing / "ma" / "mql_events").glob("*.csv")), dtype=str)
    synced = mql.iloc[0]
    mql_local = pd.Timestamp(synced["mql_at"]).tz_convert("Asia/Tokyo").tz_localize(None)
    (landing / "sfa" / "leads" / "zz_edge.csv").write_text(
        "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,"
        "converted_opportunity_id,disqualified_at,disqualified_reason\n"
        "00QEDGE0000001,,2026-03-10 10:00:00,005IS0000000001,converted,2026-03-10 11:00:00,"
        "2026-03-20 10:00:00,006EDGE0000001,,\n"
        f"00QEDGE0000002,{synced['lead_id']},{mql_local + pd.Timedelta(hours=1):%Y/%m/%d %H:%M:%S},"
        "005IS0000000002,open,,,,,\n"
    )
    (landing / "sfa" / "opportunities" / "zz_edge.csv").write_text(
        "opportunity_id,lead_id,account_id,owner_id,type,created_at,stage_name,is_closed,is_won,closed_at,"
        "amount,currency,lost_reason\n"
        "006EDGE0000001,00QEDGE0000001,001EDGE0000001,005AE0000000001,new_business,2026/03/20 10:05:00,"
        "Proposal,false,false,,1000000,JPY,\n"
    )
    pd.DataFrame(
        {
            "account_id": ["001EDGE0000002"],
            "won_opportunity_id": [None],
            "onboarded_at": [pd.Timestamp("2025-02-01 09:00:00")],
            "segment": ["smb"],
            "industry": ["retail"],
        }
    ).to_parquet(landing / "crm" / "customers" / "zz_edge.parquet")
    pd.DataFrame(
        {
            "contract_id": ["800EDGE0000001", "800EDGE0000002"],
            "account_id": ["001EDGE0000002"] * 2,
            "start_date": [pd.Timestamp("2025-02-01").date(), pd.Timestamp("2026-02-01").date()],
            "end_date": [pd.Timestamp("2026-01-31").date(), pd.Timestamp("2027-01-31").date()],
            "mrr": [100000, 110000],
            "renewal_of_contract_id": [None, "800EDGE0000001"],
            "churned_at": [None, None],
            "churn_reason": [None, None],
        }
    ).to_parquet(landing / "crm" / "contracts" / "zz_edge.parquet")
    (landing / "ma" / "leads" / "zz_edge.csv").write_text(
        "lead_id,email,company,created_at,source,campaign_id\n"
        "0999999999,edge@example.co.jp,株式会社エッジ,2026-03-31T20:30:00Z,web_form,CMP-EDGE\n"
    )


@pytest.fixture(scope="session")
def edge_run(demo_landing, tmp_path_factory) -> Materialized:
    """Demo extracts plus hand-made edge cases across several files and formats, with a past as-of date."""
    landing = tmp_path_factory.mktemp("edge") / "landing"
    shutil.copytree(demo_landing, landing)
    _write_edge_cases(landing)
    # the duplicate SFA lead is one unmatched hand-over in a small month: let the gate warn, not block
    quality = landing.parent / "quality.yml"
    quality.write_text((PROJECT_ROOT / "quality.yml").read_text().replace("tolerance: 0.005", "tolerance: 1.0"))
    run = materialize(
        landing, tmp_path_factory.mktemp("warehouse") / "edge.duckdb", as_of=EDGE_AS_OF, quality_config=str(quality)
    )
    assert run.result.success, "materializing the edge-case extracts failed"
    return run


FAULT_LEADS = 200_000
FAULT_MONTHS = 8


def faulty_run(tmp_path_factory, rate: float) -> tuple[Materialized, pd.DataFrame]:
    """Demo extracts with every fault class injected at `rate`, materialized; with the fault manifest."""
    from demo.faults import FaultRates

    landing = tmp_path_factory.mktemp(f"faults-{rate}") / "landing"
    rates = FaultRates(
        not_synced=rate, duplicate_lead=rate, no_opportunity=rate, not_onboarded=rate, out_of_order=rate, late_sync=rate
    )
    demo.generate(FAULT_LEADS, FAULT_MONTHS, DEMO_SEED, landing, faults=rates)
    run = materialize(landing, landing.parent / "faults.duckdb")
    return run, pd.read_csv(landing / demo.FAULT_MANIFEST, dtype=str)


@pytest.fixture(scope="session")
def faults_1pct(tmp_path_factory):
    return faulty_run(tmp_path_factory, 0.01)


@pytest.fixture(scope="session")
def faults_01pct(tmp_path_factory):
    return faulty_run(tmp_path_factory, 0.001)
