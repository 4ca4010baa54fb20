"""Acquisition spend and the team (issue #15): optional entities that, absent, are empty typed tables in a run that
succeeds; landed, load and stage as their CSV says (read back here with pandas); a bad file fails naming the file,
the column and the row; the demo writes them consistent with its leads, deals and customers; the spreadsheet
mapping example loads them."""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from demo import excel as demo_excel
from demo import generator as demo
from pipeline.config.files import ConfigError
from pipeline.config.improvement import load_improvement_config
from pipeline.config.settings import PROJECT_ROOT
from pipeline.ingest.contract import DUCKDB_TYPES, ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import BOOKKEEPING, IngestError, load_entity
from pipeline.ingest.sources.mapping import landing_layout, load_mapping
from tests.conftest import materialize

SPEND = ENTITIES_BY_TABLE["ma_spend"]
USERS = ENTITIES_BY_TABLE["sfa_users"]
CUSTOMERS = ENTITIES_BY_TABLE["crm_customers"]
SPEND_HEADER = "month,cost_type,source,campaign_id,amount,currency\n"


def _load(con: duckdb.DuckDBPyConnection, landing: Path, entity):
    return load_entity(con, entity, [landing_layout(landing)], landing, "Asia/Tokyo", "Asia/Tokyo")


def _write(landing: Path, relative: str, text: str) -> Path:
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _csvs(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, dtype=str) for p in sorted(folder.glob("*.csv"))], ignore_index=True)


def test_an_absent_optional_entity_is_an_empty_typed_table_and_a_landed_file_fills_it(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    con = duckdb.connect()
    for entity in (SPEND, USERS):
        result = _load(con, landing, entity)
        assert (result.absent, result.rows, result.files) == (True, 0, [])
        described = con.execute(f"DESCRIBE extracted.{entity.table}").fetchall()
        assert [(r[0], r[1]) for r in described][: len(entity.columns)] == [
            (c.name, DUCKDB_TYPES[c.type].replace(", ", ",")) for c in entity.columns
        ]
        assert [r[0] for r in described][len(entity.columns) :] == list(BOOKKEEPING)
    assert con.execute("SELECT count(*) FROM extracted.load_log").fetchall() == [(0,)]

    _write(landing, "ma/spend.csv", SPEND_HEADER + '2026/04/15,marketing,paid_ads,C1,"¥1,200,000",JPY\n')
    loaded = _load(con, landing, SPEND)
    assert (loaded.absent, loaded.rows, loaded.count("new")) == (False, 1, 1)
    assert con.execute("SELECT month::VARCHAR, amount FROM extracted.ma_spend").fetchall() == [("2026-04-15", 1200000)]

    (landing / "ma" / "spend.csv").unlink()  # like an unmounted folder: what was loaded stays
    kept = _load(con, landing, SPEND)
    assert (kept.absent, kept.rows) == (True, 1)
    _write(landing, "ma/spend.csv", SPEND_HEADER)  # the header alone: no spend any more
    emptied = _load(con, landing, SPEND)
    assert (emptied.absent, emptied.rows, emptied.count("changed")) == (False, 0, 1)


def test_a_bad_spend_file_fails_naming_the_file_the_column_and_the_row(tmp_path):
    landing = tmp_path / "landing"
    rows = "".join(f"2026-04-01,marketing,paid_ads,C{i},{'1000' if i % 2 else 'ten thousand'},JPY\n" for i in range(30))
    path = _write(landing, "ma/spend/2026-04.csv", SPEND_HEADER + rows)
    con = duckdb.connect()
    with pytest.raises(IngestError) as failed:
        _load(con, landing, SPEND)
    message = str(failed.value)
    assert message.startswith(f"{path}: 15 of 30 data rows")
    assert "column 'amount', data row 1 (line 2): value 'ten thousand' is not a valid decimal" in message
    assert "extracted.ma_spend was not changed" in message

    _write(landing, "ma/spend/2026-04.csv", "month,cost_type,source\n2026-04-01,sales,\n")
    with pytest.raises(IngestError, match=r"spend/2026-04\.csv: missing required column\(s\) amount for ma_spend"):
        _load(con, landing, SPEND)

    one_bad = SPEND_HEADER + "2026-04-01,marketing,paid_ads,C1,1000,JPY\n2026-05-01,,paid_ads,C1,1000,JPY\n"
    _write(landing, "ma/spend/2026-04.csv", one_bad)
    assert _load(con, landing, SPEND).rows == 1  # one bad row, under the floor: quarantined
    assert con.execute("SELECT line, column_name, reason FROM extracted.quarantine").fetchall() == [
        (3, "cost_type", "is empty but required")
    ]


def test_customer_files_written_before_owner_id_existed_still_load(tmp_path):
    landing = tmp_path / "landing"
    _write(
        landing,
        "crm/customers/old.csv",
        "account_id,won_opportunity_id,onboarded_at,segment,industry\n001A,006A,2025/05/10 13:46:56,smb,retail\n",
    )
    _write(
        landing,
        "crm/customers/new.csv",
        "account_id,won_opportunity_id,onboarded_at,segment,industry,owner_id\n"
        "001B,006B,2025/06/10 09:00:00,smb,retail, 005CS0000000002 \n",
    )
    con = duckdb.connect()
    assert _load(con, landing, CUSTOMERS).rows == 2
    assert con.execute("SELECT account_id, owner_id FROM extracted.crm_customers ORDER BY 1").fetchall() == [
        ("001A", None),
        ("001B", "005CS0000000002"),
    ]
    _write(landing, "sfa/users.csv", "user_id,role\n005CS0000000002,customer_success\n")  # the least a team list has
    assert _load(con, landing, USERS).rows == 1


def test_paid_sources_are_validated_like_the_rest_of_improvement_yml(tmp_path):
    config = tmp_path / "improvement.yml"
    config.write_text("paid_sources: [Paid_Ads, ' webinar ']\n")
    assert load_improvement_config(config).paid_sources == ["paid_ads", "webinar"]
    for text, problem in (
        ("paid_sources: [paid_ads, PAID_ADS]\n", "listed more than once: paid_ads"),
        ("paid_sources: paid_ads\n", "paid_sources"),
        ("paid_sources: ['']\n", "paid_sources"),
        ("paid_source: [paid_ads]\n", "paid_source"),
    ):
        config.write_text(text)
        with pytest.raises(ConfigError, match=problem):
            load_improvement_config(config)


def test_the_demo_spends_on_paid_leads_and_lists_the_team_that_owns_its_records(tmp_path):
    landing = tmp_path / "landing"
    demo.generate(2_000, 8, 3, landing, chunk_size=1_000)
    spend = _csvs(landing / "ma" / "spend")
    leads = _csvs(landing / "ma" / "leads")
    users = _csvs(landing / "sfa" / "users")
    leads["month"] = pd.to_datetime(leads["created_at"].str[:10]).dt.to_period("M")
    spend["month"] = pd.to_datetime(spend["month"]).dt.to_period("M")
    marketing, sales = spend[spend["cost_type"] == "marketing"], spend[spend["cost_type"] == "sales"]

    # no spend at all in the first month; every later month has the sales team's cost
    first = leads["month"].min()
    assert not (spend["month"] == first).any()
    assert sorted(sales["month"]) == sorted(set(leads["month"]) - {first})
    assert sales["source"].isna().all() and sales["campaign_id"].isna().all()
    # marketing spend: one row per paid channel's campaign with leads, in proportion to its leads
    counts = leads.groupby(["campaign_id", "source", "month"]).size().rename("leads").reset_index()
    paid = counts[counts["source"].isin(demo.COST_PER_LEAD) & (counts["month"] != first)]
    merged = paid.merge(marketing, on=["campaign_id", "source", "month"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all()
    per_lead = merged["amount"].astype(float) / merged["leads"] / merged["source"].map(demo.COST_PER_LEAD)
    assert per_lead.between(0.4, 2.5).all()

    # every owner of a lead, deal or customer is on the team; customers are owned by a CSM working that day
    owners = set(_csvs(landing / "sfa" / "leads")["owner_id"]) | set(
        _csvs(landing / "sfa" / "opportunities")["owner_id"]
    )
    customers = _csvs(landing / "crm" / "customers")
    assert owners | set(customers["owner_id"]) <= set(users["user_id"])
    team = users.set_index("user_id")
    assert (team.loc[customers["owner_id"], "role"] == "customer_success").all()
    day = pd.to_datetime(customers["onboarded_at"].str[:10]).to_numpy()
    started = pd.to_datetime(team.loc[customers["owner_id"], "started_on"]).to_numpy()
    ended = pd.to_datetime(team.loc[customers["owner_id"], "ended_on"]).to_numpy()
    assert (started <= day).all() and (pd.isna(ended) | (day <= ended)).all()
    # one person joins mid-month and one leaves inside the history; one role is no funnel stage
    joined = pd.to_datetime(users["started_on"])
    left = pd.to_datetime(users["ended_on"])
    assert ((joined > pd.Timestamp(str(first))) & (joined.dt.day > 1)).sum() == 1
    assert left.notna().sum() == 1
    assert set(users["role"]) == {"inside_sales", "field_sales", "customer_success", "sales_manager"}


def test_the_run_succeeds_without_spend_or_team_and_their_tables_are_empty(tmp_path):
    landing = tmp_path / "landing"
    demo.generate(400, 6, 5, landing)
    for folder in ("ma/spend", "sfa/users"):
        for path in (landing / folder).iterdir():
            path.unlink()
    (tmp_path / "warehouse").mkdir()
    run = materialize(landing, tmp_path / "warehouse" / "themodel.duckdb")
    assert run.result.success
    for table, model in (("ma_spend", "stg_ma__spend"), ("sfa_users", "stg_sfa__users")):
        key = dg.AssetKey(["extracted", table])
        (event,) = run.result.asset_materializations_for_node(f"extracted__{table}")
        assert event.metadata["absent"].value is True and event.metadata["dagster/row_count"].value == 0
        checks = {e.check_name: e for e in run.result.get_asset_check_evaluations() if e.asset_key == key}
        assert {name: c.passed for name, c in checks.items()} == {
            "quarantine": True,
            "freshness": True,
            "great_expectations": True,
        }
        assert run.query(f"SELECT count(*) AS n FROM staging.{model}")["n"].tolist() == [0]
    assert run.query("SELECT count(*) AS n FROM marts.funnel_kpi_monthly")["n"].iloc[0] > 0


def test_spend_team_and_owners_stage_as_the_csvs_say(demo_run):
    landing = demo_run.landing
    spend = _csvs(landing / "ma" / "spend")
    expected = pd.DataFrame(
        {
            "month": pd.to_datetime(spend["month"]).dt.to_period("M").dt.start_time.dt.date,
            "cost_type": spend["cost_type"].str.lower(),
            "source": spend["source"].str.lower(),
            "campaign_id": spend["campaign_id"],
            "amount": spend["amount"].astype(float),
            "amount_original": spend["amount"].astype(float),
            "currency": spend["currency"].str.upper(),
        }
    )
    staged = demo_run.query("SELECT * FROM staging.stg_ma__spend")
    staged["month"] = staged["month"].dt.date
    staged[["amount", "amount_original"]] = staged[["amount", "amount_original"]].astype(float)
    key = ["month", "cost_type", "source", "campaign_id"]
    pd.testing.assert_frame_equal(
        staged.sort_values(key, na_position="first").reset_index(drop=True),
        expected.sort_values(key, na_position="first").reset_index(drop=True),
        check_dtype=False,
    )

    users = _csvs(landing / "sfa" / "users")
    staged_users = demo_run.query("SELECT * FROM staging.stg_sfa__users ORDER BY user_id")
    assert list(staged_users.columns) == ["user_id", "role", "team", "started_on", "ended_on"]  # no name
    users = users.sort_values("user_id").reset_index(drop=True)
    assert staged_users["user_id"].tolist() == users["user_id"].tolist()
    assert staged_users["role"].tolist() == users["role"].where(users["role"] != "sales_manager", "other").tolist()
    assert staged_users["team"].tolist() == users["team"].tolist()
    for column in ("started_on", "ended_on"):
        assert staged_users[column].tolist() == pd.to_datetime(users[column]).tolist(), column

    customers = _csvs(landing / "crm" / "customers")
    staged_customers = demo_run.query("SELECT account_id, owner_id FROM staging.stg_crm__customers")
    assert dict(zip(staged_customers["account_id"], staged_customers["owner_id"], strict=True)) == dict(
        zip(customers["account_id"], customers["owner_id"], strict=True)
    )

    paid = yaml.safe_load((PROJECT_ROOT / "improvement.yml").read_text(encoding="utf-8"))["paid_sources"]
    assert sorted(demo_run.query("SELECT source FROM staging.stg_reference__paid_sources")["source"]) == sorted(paid)


def test_the_spreadsheet_spend_sheet_and_team_list_load_through_the_example_mapping(tmp_path):
    landing = tmp_path / "landing"
    demo.generate(300, 4, 5, landing)
    demo_excel.export(landing, tmp_path / "office" / "excel")
    mapping = load_mapping(PROJECT_ROOT / "docs" / "examples" / "excel_ja.yml", tmp_path / "office")
    con = duckdb.connect()
    for entity in (SPEND, USERS):
        load_entity(con, entity, [mapping], tmp_path / "office", "Asia/Tokyo", "Asia/Tokyo")

    sheet = pd.read_csv(tmp_path / "office" / "excel" / "費用.csv", encoding="cp932", dtype=str)
    loaded = con.execute("SELECT month, cost_type, source, campaign_id, amount, currency FROM extracted.ma_spend").df()
    assert loaded["month"].dt.strftime("%Y年%-m月").tolist() == sheet["月"].tolist()
    assert (
        loaded["cost_type"].tolist() == sheet["費用区分"].map({"マーケティング": "marketing", "営業": "sales"}).tolist()
    )
    assert (
        loaded["amount"].astype(float).tolist()
        == sheet["金額"].str.replace(r"[￥,]", "", regex=True).astype(float).tolist()
    )
    assert loaded["campaign_id"].fillna("").tolist() == sheet["キャンペーンID"].fillna("").tolist()

    team = pd.read_csv(tmp_path / "office" / "excel" / "チーム.csv", encoding="cp932", dtype=str)
    loaded = con.execute("SELECT user_id, name, role, started_on, ended_on FROM extracted.sfa_users").df()
    assert loaded["user_id"].tolist() == team["ユーザーID"].tolist()
    assert loaded["name"].tolist() == team["氏名"].tolist()
    assert set(loaded["role"]) == {"inside_sales", "field_sales", "customer_success", "sales_manager"}
    assert loaded["ended_on"].tolist() == pd.to_datetime(team["離任日"]).tolist()
    assert con.execute("SELECT count(*) FROM extracted.quarantine").fetchall() == [(0,)]


def test_check_source_passes_a_mapping_whose_optional_spend_sheet_is_not_there_yet(tmp_path, capsys):
    from pipeline.ingest.sources.check import main

    landing = tmp_path / "landing"
    _write(landing, "sheets/leads.csv", "id,created\nL1,2026-04-01 10:00:00\n")
    mapping = tmp_path / "sheets.yml"
    mapping.write_text(
        "source: sheets\nfiles_dir: sheets\nentities:\n"
        "  ma_leads: {files: leads*.csv, columns: {lead_id: id, created_at: created}}\n"
        "  ma_spend: {files: spend*.csv, columns: {month: m, cost_type: t, amount: a}}\n",
        encoding="utf-8",
    )
    assert main([str(mapping), "--landing", str(landing)]) == 0
    assert (
        "ma_spend: 0 file(s) match spend*.csv (an optional entity: it would load as empty)" in capsys.readouterr().out
    )
    contracts = "  crm_contracts: {files: k*.csv, columns: {contract_id: c, account_id: a, start_date: s}}\n"
    mapping.write_text(mapping.read_text() + contracts, encoding="utf-8")
    assert main([str(mapping), "--landing", str(landing)]) == 1  # a required entity without a file is not ok
    out = capsys.readouterr().out
    assert "crm_contracts: 0 file(s) match k*.csv\n" in out and "NOT OK" in out
