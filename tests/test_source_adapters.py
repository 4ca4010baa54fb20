"""The built-in adapters load the public Fivetran fixtures of Salesforce, HubSpot and Marketo (../shared/fixtures)
and a Salesforce Data Loader export, filling the canonical entities and columns docs/sources.md lists."""

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import parse_mapping
from tests.staging_sql import newest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT.parent / "shared" / "fixtures"
DATALOADER = Path(__file__).parent / "sources" / "salesforce_dataloader"


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _true(value) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def _merged_away(rows: list[dict], column: str) -> set[str]:
    return {i for r in rows for i in (r.get(column) or "").split(";") if i}


def _merged_deals(path: Path) -> set[str]:
    return {r["merged_deal_id"] for r in _rows(path)}


def _instant(text: str, zone: str = "UTC") -> datetime:
    """A Salesforce / Fivetran timestamp text as the instant it names (no offset: `zone`)."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(zone))


def _day(text: str) -> date | None:
    return datetime.fromisoformat(text.strip()).date() if text.strip() else None


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


# What each adapter loads from each fixture file, with the rows it should keep computed here in Python,
# independently of the adapter's SQL, and the canonical columns it fills from that layout.
CASES = {
    ("salesforce_fivetran", "sfa_leads", "salesforce/sf_lead_data.csv"): (
        lambda rows: [r for r in rows if not _true(r["is_deleted"]) and not r["master_record_id"]],
        {"lead_id", "created_at", "owner_id", "status", "converted_at"},
    ),
    ("salesforce_fivetran", "sfa_opportunities", "salesforce/sf_opportunity_data.csv"): (
        lambda rows: [r for r in rows if not _true(r["is_deleted"]) and _true(r["_fivetran_active"])],
        set(),  # every opportunity in this fixture is deleted; see the test without the filter below
    ),
    ("salesforce_fivetran", "sfa_opportunity_history", "salesforce/sf_opportunity_history_data.csv"): (
        lambda rows: [r for r in rows if not _true(r["is_deleted"])],
        set(),  # a history-mode table of the same deleted opportunities; see the test without the filter below
    ),
    ("hubspot", "sfa_opportunity_history", "hubspot/deal_stage_data.csv"): (
        lambda rows: [r for r in rows if r["deal_id"] not in _merged_deals(FIXTURES / "hubspot/merged_deal_data.csv")],
        {"opportunity_id", "changed_at", "stage_name"},  # its stage ids are obfuscated: no label, no probability
    ),
    ("hubspot", "ma_leads", "hubspot/contact_data.csv"): (
        lambda rows: [
            r
            for r in rows
            if not _true(r["_fivetran_deleted"]) and r["id"] not in _merged_away(rows, "property_hs_merged_object_ids")
        ],
        {"lead_id", "email", "company", "created_at"},
    ),
    ("hubspot", "ma_mql_events", "hubspot/contact_data.csv"): (
        lambda rows: [r for r in rows if r.get("property_hs_lifecyclestage_marketingqualifiedlead_date")],
        set(),  # the fixture carries no lifecycle-stage dates
    ),
    ("hubspot", "sfa_opportunities", "hubspot/deal_data.csv"): (
        # merged_deal_data names no deal of this file, and its deals carry no stage, amount or close date
        lambda rows: [r for r in rows if not _true(r["is_deleted"])],
        {"opportunity_id", "owner_id", "type", "created_at"},
    ),
    ("hubspot", "crm_customers", "hubspot/company_data.csv"): (
        lambda rows: [r for r in rows if r.get("property_hs_lifecyclestage_customer_date")],
        set(),
    ),
    ("marketo", "ma_leads", "marketo/marketo_lead_data.csv"): (
        lambda rows: rows,  # the merge activities' merged-away leads are not in this file
        {"lead_id", "email", "created_at"},
    ),
    ("marketo", "ma_mql_events", "marketo/marketo_activity_change_data_value_data.csv"): (
        lambda rows: [
            r
            for r in rows
            if r["primary_attribute_value"].lower() in ("lead status", "status", "lifecycle status")
            and r["new_value"].lower() in ("mql", "marketing qualified", "marketing qualified lead")
        ],
        set(),
    ),
}


def _load(adapter: str, table: str, base: Path, files: str, **overrides):
    mapping = parse_mapping(
        {"source": adapter, "adapter": adapter, "entities": {table: {"files": files, **overrides}}}, "test", base, 0.01
    )
    con = duckdb.connect()
    result = load_entity(con, ENTITIES_BY_TABLE[table], [mapping], base, "Asia/Tokyo", "Asia/Tokyo")
    return con, result


def _filled(con, table: str) -> set[str]:
    entity = ENTITIES_BY_TABLE[table]
    counts = con.execute(f"SELECT {', '.join(f'count({c})' for c in entity.column_names)} FROM {newest(table)}")
    return {c for c, n in zip(entity.column_names, counts.fetchall()[0]) if n}


# The fixture files the adapters join as lookups.
LOOKUPS = {
    ("salesforce_fivetran", "sfa_leads"): {
        "activities": {"files": ["salesforce/sf_task_data.csv", "salesforce/sf_event_data.csv"]}
    },
    ("salesforce_fivetran", "sfa_opportunities"): {"leads": {"files": "salesforce/sf_lead_data.csv"}},
    ("hubspot", "sfa_opportunities"): {
        "stages": {"files": "hubspot/deal_pipeline_stage_data.csv"},
        "merged_deals": {"files": "hubspot/merged_deal_data.csv"},
    },
    ("hubspot", "sfa_opportunity_history"): {
        "stages": {"files": "hubspot/deal_pipeline_stage_data.csv"},
        "merged_deals": {"files": "hubspot/merged_deal_data.csv"},
    },
    ("marketo", "ma_leads"): {
        "merges": {"files": "marketo/marketo_activity_merge_leads_data.csv"},
        "programs": {"files": "marketo/marketo_program_data.csv"},
    },
}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not present")
@pytest.mark.parametrize("adapter, table, fixture", sorted(CASES), ids=lambda v: str(v).split("/")[-1])
def test_each_fixture_layout_loads_through_its_adapter(adapter, table, fixture):
    keep, fills = CASES[(adapter, table, fixture)]
    rows = _rows(FIXTURES / fixture)
    con, result = _load(adapter, table, FIXTURES, fixture, lookups=LOOKUPS.get((adapter, table), {}))
    (file,) = result.files
    assert file.data_rows == len(rows)
    assert file.loaded + file.quarantined + file.excluded == len(rows)
    assert (file.loaded, file.quarantined) == (len(keep(rows)), 0)
    assert _filled(con, table) == fills


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not present")
def test_the_salesforce_opportunity_layout_fills_these_columns_once_deleted_rows_are_let_through():
    con, result = _load(
        "salesforce_fivetran", "sfa_opportunities", FIXTURES, "salesforce/sf_opportunity_data.csv", where="true"
    )
    assert result.rows == len(_rows(FIXTURES / "salesforce/sf_opportunity_data.csv"))
    assert _filled(con, "sfa_opportunities") == {
        "opportunity_id",
        "account_id",
        "owner_id",
        "type",
        "created_at",
        "stage_name",
        "is_closed",
        "is_won",
        "closed_at",
        "amount",
        "close_date",
        "probability",
        "forecast_category",
    }
    rows = {r["id"]: r for r in _rows(FIXTURES / "salesforce/sf_opportunity_data.csv")}
    loaded = con.execute(
        f"SELECT opportunity_id, close_date, probability, forecast_category FROM {newest('sfa_opportunities')}"
    ).fetchall()
    assert sorted(loaded) == sorted(
        (i, _day(r["close_date"]), _number(r["probability"]), r["forecast_category_name"] or r["forecast_category"])
        for i, r in rows.items()
    )
    won = con.execute(
        f"SELECT opportunity_id, amount, closed_at IS NOT NULL FROM {newest('sfa_opportunities')} "
        "WHERE opportunity_id = '006q000000HddohAAB'"
    ).fetchall()
    assert won == [("006q000000HddohAAB", 24120000, True)]


HISTORY_COLUMNS = "opportunity_id, changed_at, stage_name, amount, currency, close_date, probability, forecast_category"


def _history(con) -> list[tuple]:
    return con.execute(f"SELECT {HISTORY_COLUMNS} FROM {newest('sfa_opportunity_history')} ORDER BY 1, 2").fetchall()


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not present")
def test_the_fivetran_history_mode_table_gives_a_change_per_version_once_deleted_rows_are_let_through():
    fixture = "salesforce/sf_opportunity_history_data.csv"
    con, result = _load("salesforce_fivetran", "sfa_opportunity_history", FIXTURES, fixture, where="true")
    rows = _rows(FIXTURES / fixture)
    # its probabilities are obfuscated too: one of 1000 % is no percentage, and that version is quarantined
    out_of_range = [i + 2 for i, r in enumerate(rows) if not 0 <= float(r["probability"]) <= 100]
    assert out_of_range and (result.rows, result.files[0].quarantined) == (
        len(rows) - len(out_of_range),
        len(out_of_range),
    )
    assert con.execute("SELECT line, column_name FROM extracted.quarantine").fetchall() == [
        (line, "probability") for line in out_of_range
    ]
    rows = [r for r in rows if 0 <= float(r["probability"]) <= 100]
    expected = [
        (
            r["id"],
            _instant(r["_fivetran_start"]),  # the version's start, not the opportunity's created_date
            r["stage_name"],
            _number(r["amount"]),
            None,
            _day(r["close_date"]),
            _number(r["probability"]),
            r["forecast_category_name"] or r["forecast_category"],
        )
        for r in rows
    ]
    assert _history(con) == sorted(expected, key=lambda r: r[:2])


def _dataloader_history(files: list[str]) -> list[tuple]:
    """The rows of Data Loader OpportunityHistory exports the adapter should load, read with the csv module: a
    change both files hold is the later file's (its newer export)."""
    changes = {}
    for name in files:
        for r in _rows(DATALOADER / name):
            if not _true(r["IsDeleted"]):
                changes[(r["OpportunityId"], _instant(r["CreatedDate"]))] = (
                    r["StageName"],
                    _number(r["Amount"]),
                    r.get("CurrencyIsoCode") or None,
                    _day(r["CloseDate"]),
                    _number(r.get("Probability") or ""),
                    r.get("ForecastCategory") or None,
                )
    return [key + values for key, values in sorted(changes.items())]


def test_salesforce_opportunity_history_gives_one_row_per_change_with_what_the_export_holds():
    # the export of the fixture: stages, amounts and close dates, no probability or forecast category
    con, result = _load("salesforce", "sfa_opportunity_history", DATALOADER, "OpportunityHistory.csv")
    assert _history(con) == _dataloader_history(["OpportunityHistory.csv"])
    assert _filled(con, "sfa_opportunity_history") == {
        "opportunity_id",
        "changed_at",
        "stage_name",
        "amount",
        "close_date",
    }
    # a hand-made export with the rest (Probability, ForecastCategory as the API names it, CurrencyIsoCode) and a
    # deleted row
    files = ["OpportunityHistory.csv", "OpportunityHistoryForecast.csv"]
    con, result = _load("salesforce", "sfa_opportunity_history", DATALOADER, files)
    assert [(f.loaded, f.excluded) for f in result.files] == [(3, 0), (4, 1)]
    assert _history(con) == _dataloader_history(files)
    assert _filled(con, "sfa_opportunity_history") == set(ENTITIES_BY_TABLE["sfa_opportunity_history"].column_names)


def test_salesforce_opportunities_carry_close_date_probability_and_forecast_category():
    con, _ = _load("salesforce", "sfa_opportunities", DATALOADER, "Opportunity.csv")
    assert con.execute(
        f"SELECT opportunity_id, close_date, probability, forecast_category FROM {newest('sfa_opportunities')} "
        "ORDER BY 1"
    ).fetchall() == [
        (r["Id"], _day(r["CloseDate"]), _number(r["Probability"]), r["ForecastCategory"])
        for r in _rows(DATALOADER / "Opportunity.csv")
        if not _true(r["IsDeleted"])
    ]


HUBSPOT = Path(__file__).parent / "sources" / "hubspot"


def _hubspot_stages() -> dict[str, dict]:
    return {r["stage_id"]: r for r in _rows(HUBSPOT / "deal_pipeline_stage.csv")}


def test_hubspot_deals_carry_close_date_and_their_stage_probability_in_percent():
    con, _ = _load("hubspot", "sfa_opportunities", HUBSPOT, "deal_forecast.csv", lookups=LOOKUPS_HUBSPOT)
    stages = _hubspot_stages()
    loaded = con.execute(
        f"SELECT opportunity_id, close_date, probability, forecast_category FROM {newest('sfa_opportunities')} "
        "ORDER BY 1"
    ).fetchall()
    expected = []
    for r in _rows(HUBSPOT / "deal_forecast.csv"):
        share = r["property_hs_deal_stage_probability"] or stages[r["deal_pipeline_stage_id"]]["probability"]
        expected.append((r["deal_id"], _day(r["property_closedate"]), round(float(share) * 100, 6)))
    assert [row[:3] for row in loaded] == expected
    # HubSpot's forecast categories; OMIT is Salesforce's and the contract's Omitted (staging lower-cases them all)
    assert [row[3] for row in loaded] == ["BEST_CASE", "COMMIT", "Omitted", "CLOSED"]


LOOKUPS_HUBSPOT = {"stages": {"files": "deal_pipeline_stage.csv"}, "merged_deals": {"files": "merged_deal.csv"}}


def test_hubspot_deal_stage_history_gives_one_row_per_stage_entered():
    con, result = _load("hubspot", "sfa_opportunity_history", HUBSPOT, "deal_stage.csv", lookups=LOOKUPS_HUBSPOT)
    merged, stages = _merged_deals(HUBSPOT / "merged_deal.csv"), _hubspot_stages()
    rows = [r for r in _rows(HUBSPOT / "deal_stage.csv") if r["deal_id"] not in merged]
    assert (result.files[0].loaded, result.files[0].excluded) == (len(rows), 1)
    expected = [
        (
            r["deal_id"],
            _instant(r["date_entered"]),
            stages[r["value"]]["label"] if r["value"] in stages else r["value"],  # an unknown stage keeps its id
            None,
            None,
            None,
            float(stages[r["value"]]["probability"]) * 100 if r["value"] in stages else None,
            None,
        )
        for r in rows
    ]
    assert _history(con) == sorted(expected, key=lambda r: r[:2])


def test_the_guides_mapping_loads_hubspot_property_history_as_stage_history():
    guide = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    example = guide.split("loads as a stage history with the adapter's own stage columns", 1)[1]
    raw = yaml.safe_load(example.split("```yaml\n", 1)[1].split("```", 1)[0])
    raw["entities"]["sfa_opportunity_history"]["files"] = "deal_property_history.csv"
    raw["entities"]["sfa_opportunity_history"]["lookups"] = LOOKUPS_HUBSPOT
    mapping = parse_mapping(raw, "docs/sources.md", HUBSPOT, 0.01)
    con = duckdb.connect()
    result = load_entity(con, ENTITIES_BY_TABLE["sfa_opportunity_history"], [mapping], HUBSPOT, "UTC", "UTC")
    rows = _rows(HUBSPOT / "deal_property_history.csv")
    stages = _hubspot_stages()
    stage_rows = [r for r in rows if r["name"] == "dealstage"]
    assert (result.files[0].loaded, result.files[0].excluded) == (len(stage_rows), len(rows) - len(stage_rows))
    assert [r[:3] + r[6:7] for r in _history(con)] == sorted(
        (
            r["deal_id"],
            _instant(r["timestamp"]),
            stages[r["value"]]["label"],
            float(stages[r["value"]]["probability"]) * 100,
        )
        for r in stage_rows
    )


def test_a_salesforce_data_loader_export_loads_with_api_names():
    con, leads = _load("salesforce", "sfa_leads", DATALOADER, "Lead.csv")
    (file,) = leads.files
    assert (file.data_rows, file.loaded, file.excluded) == (6, 4, 2)  # one deleted, one merged into A2
    # ConvertedDate is a date alone: that day in the reporting zone (Asia/Tokyo here), whatever the export's zone
    assert con.execute(
        "SELECT lead_id, status, converted_opportunity_id, "
        "strftime(timezone('Asia/Tokyo', converted_at), '%Y-%m-%d %H:%M') "
        f"FROM {newest('sfa_leads')} ORDER BY lead_id"
    ).fetchall() == [
        ("00Q5j00000A1", "converted", "0065j00000B1", "2024-04-10 00:00"),
        ("00Q5j00000A2", "working", None, None),
        ("00Q5j00000A3", "disqualified", None, None),
        ("00Q5j00000A6", "open", None, None),
    ]
    con, opps = _load("salesforce", "sfa_opportunities", DATALOADER, "Opportunity.csv")
    assert opps.rows == 3
    assert con.execute(
        "SELECT opportunity_id, type, is_closed, is_won, amount, currency, closed_at IS NOT NULL "
        f"FROM {newest('sfa_opportunities')} ORDER BY 1"
    ).fetchall() == [
        ("0065j00000B1", "new_business", True, True, 1200000, "JPY", True),
        ("0065j00000B2", "upsell", False, False, 350000.5, "JPY", False),
        ("0065j00000B3", "new_business", True, False, 500000, "JPY", True),
    ]


def test_a_mapping_can_override_one_column_of_an_adapter():
    con, _ = _load("salesforce", "sfa_leads", DATALOADER, "Lead.csv", columns={"ma_lead_id": {"sql": "'MKTO-' || Id"}})
    assert con.execute(
        f"SELECT ma_lead_id, owner_id FROM {newest('sfa_leads')} WHERE lead_id = '00Q5j00000A1'"
    ).fetchall() == [("MKTO-00Q5j00000A1", "0055j000001")]


def test_lookups_join_salesforce_activities_and_leads():
    lookup = {"activities": {"files": ["Task.csv", "Event.csv"]}}
    con, _ = _load("salesforce", "sfa_leads", DATALOADER, "Lead.csv", lookups=lookup)
    # the earliest task or event on the lead; a deleted task does not count
    assert con.execute(
        "SELECT lead_id, strftime(timezone('UTC', first_contact_at), '%Y-%m-%d %H:%M') "
        f"FROM {newest('sfa_leads')} WHERE lead_id IN ('00Q5j00000A1', '00Q5j00000A2') ORDER BY 1"
    ).fetchall() == [("00Q5j00000A1", "2024-04-01 05:30"), ("00Q5j00000A2", "2024-04-02 08:00")]
    con, _ = _load(
        "salesforce",
        "sfa_opportunities",
        DATALOADER,
        "Opportunity.csv",
        lookups={"leads": {"files": "Lead.csv"}, "history": {"files": "OpportunityHistory.csv"}},
    )
    # closed_at: when the deal entered its closing stage (OpportunityHistory), not just its close date
    assert con.execute(
        "SELECT opportunity_id, lead_id, strftime(timezone('UTC', closed_at), '%Y-%m-%d %H:%M') "
        f"FROM {newest('sfa_opportunities')} ORDER BY 1"
    ).fetchall() == [
        ("0065j00000B1", "00Q5j00000A1", "2024-04-30 06:15"),
        ("0065j00000B2", None, None),
        ("0065j00000B3", None, "2024-05-15 02:00"),
    ]


def test_lookups_give_hubspot_deals_their_stage_flags_and_drop_merged_deals():
    con, result = _load(
        "hubspot",
        "sfa_opportunities",
        Path(__file__).parent / "sources" / "hubspot",
        "deal.csv",
        lookups={"stages": {"files": "deal_pipeline_stage.csv"}, "merged_deals": {"files": "merged_deal.csv"}},
    )
    assert (result.files[0].loaded, result.files[0].excluded) == (3, 1)
    assert con.execute(
        "SELECT opportunity_id, stage_name, is_closed, is_won, closed_at IS NOT NULL "
        f"FROM {newest('sfa_opportunities')} ORDER BY 1"
    ).fetchall() == [
        ("9001", "Closed won", True, True, True),
        ("9002", "Presentation scheduled", False, False, False),
        ("9003", "Closed lost", True, False, True),
    ]


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures is not present")
def test_a_marketo_merge_activity_drops_the_merged_leads():
    merges = str(Path(__file__).parent / "sources" / "marketo" / "activity_merge_leads.csv")
    con, result = _load(
        "marketo", "ma_leads", FIXTURES, "marketo/marketo_lead_data.csv", lookups={"merges": {"files": merges}}
    )
    assert (result.files[0].loaded, result.files[0].excluded) == (98, 2)
    assert con.execute(
        f"SELECT count(*) FROM {newest('ma_leads')} WHERE lead_id IN ('1031551', '1000807')"
    ).fetchall() == [(0,)]


def test_hubspot_contacts_give_leads_mql_events_and_inside_sales_leads_from_lifecycle_dates():
    base = Path(__file__).parent / "sources" / "hubspot"
    con, leads = _load("hubspot", "ma_leads", base, "contact.csv")
    assert (leads.files[0].loaded, leads.files[0].excluded) == (3, 2)  # 104 merged into 101, 105 deleted
    con, mqls = _load("hubspot", "ma_mql_events", base, "contact.csv")
    assert con.execute(
        "SELECT lead_id, strftime(timezone('UTC', mql_at), '%Y-%m-%d %H:%M'), score, sfa_lead_id "
        f"FROM {newest('ma_mql_events')} ORDER BY 1"
    ).fetchall() == [("101", "2024-04-03 00:00", 72.0, "101"), ("102", "2024-04-05 12:00", 55.0, "102")]
    con, _ = _load("hubspot", "sfa_leads", base, "contact.csv")
    assert con.execute(
        "SELECT lead_id, ma_lead_id, status, strftime(timezone('UTC', converted_at), '%Y-%m-%d'), owner_id "
        f"FROM {newest('sfa_leads')} ORDER BY 1"
    ).fetchall() == [("101", "101", "converted", "2024-04-20", "11"), ("102", "102", "working", None, "12")]


def test_marketo_leads_take_their_program_and_mql_events_the_score_at_qualification():
    base = Path(__file__).parent / "sources" / "marketo"
    con, _ = _load("marketo", "ma_leads", base, "lead.csv", lookups={"programs": {"files": "program.csv"}})
    assert con.execute(
        f"SELECT lead_id, company, source, campaign_id FROM {newest('ma_leads')} ORDER BY 1"
    ).fetchall() == [
        ("2001", "株式会社あいう", "Content", "1001"),
        ("2002", "ｱｲｳ商事", "Web Referral", "1102"),
        ("2003", "Acme", None, None),
    ]
    con, result = _load("marketo", "ma_mql_events", base, "activity_change_data_value.csv")
    assert (result.files[0].loaded, result.files[0].excluded) == (2, 4)
    assert con.execute(
        "SELECT lead_id, strftime(timezone('UTC', mql_at), '%Y-%m-%d %H:%M'), score "
        f"FROM {newest('ma_mql_events')} ORDER BY 1"
    ).fetchall() == [("2001", "2024-04-03 02:00", 80.0), ("2002", "2024-04-04 02:00", None)]
