"""Ingest: the input contract, typed loading, and bad input that stops with file, column and row."""

import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipeline.config.settings import Settings
from pipeline.ingest.assets import IngestError, entity_files
from pipeline.ingest.contract import ENTITIES, ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import landing_layout, parse_mapping
from tests.holders import held
from tests.staging_sql import newest

LEADS = ENTITIES_BY_TABLE["ma_leads"]
HEADER = "lead_id,email,company,created_at,source,campaign_id\n"


def _landing(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "landing"


def _load(landing: Path, entity=LEADS, con=None, threshold=0.01, floor=0):
    con = con or duckdb.connect()
    return con, load_entity(
        con, entity, [landing_layout(landing, threshold, floor)], landing, "Asia/Tokyo", "Asia/Tokyo"
    )


def test_timestamps_in_every_accepted_layout_are_stored_as_utc_instants(tmp_path):
    landing = _landing(
        tmp_path,
        {
            "ma/leads.csv": HEADER
            + (
                "0001,a@x.jp,株式会社あ,2024-04-01 05:00:00,web,C1\n"  # naive: read in Asia/Tokyo
                "0002,b@x.jp,B,2024/04/01 05:00:00,web,C1\n"  # Japanese export layout
                "0003,c@x.jp,C,2024/04/01,web,C1\n"  # date only: local midnight
                "0004,d@x.jp,D,2024-03-31T20:00:00Z,web,C1\n"  # offset given: that instant
                "0005,e@x.jp,E,2024-04-01T05:00:00+09:00,web,C1\n"
                "0006,f@x.jp,F,2024/4/1 5:00,web,C1\n"  # unpadded month, day and hour
            )
        },
    )
    con, result = _load(landing)
    assert result.rows == 6
    got = dict(
        con.execute(
            f"select lead_id, strftime(timezone('UTC', created_at), '%Y-%m-%d %H:%M') from {newest('ma_leads')}"
        ).fetchall()
    )
    assert got == {
        "0001": "2024-03-31 20:00",
        "0002": "2024-03-31 20:00",
        "0003": "2024-03-31 15:00",
        "0004": "2024-03-31 20:00",
        "0005": "2024-03-31 20:00",
        "0006": "2024-03-31 20:00",
    }
    types = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'ma_leads'"
        ).fetchall()
    )
    assert types["lead_id"] == "VARCHAR" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert con.execute(f"select company from {newest('ma_leads')} where lead_id = '0001'").fetchall() == [
        ("株式会社あ",)
    ]


def test_many_files_csv_and_parquet_together_keep_extra_columns_and_provenance(tmp_path):
    landing = _landing(
        tmp_path,
        {
            "ma/leads/2024-04.csv": HEADER.rstrip("\n") + ",utm_medium,_fivetran_synced\n"
            "0001,a@x,A,2024-04-01 10:00:00,web,C1,cpc,2024-04-02\n",
            "ma/leads/2024-05.tsv": (
                HEADER + "0002,b@x,B,2024-05-01 10:00:00,web,C1\n0003,c@x,C,2024-05-02 10:00:00,ad,\n"
            ).replace(",", "\t"),
        },
    )
    duckdb.connect().execute(
        "copy (select '0004' as lead_id, 'd@x' as email, 'D' as company, timestamp '2024-06-01 10:00:00' as created_at,"
        f" 'ad' as source, null as campaign_id) to '{landing}/ma/leads/2024-06.parquet' (format parquet)"
    )
    con, result = _load(landing)
    assert result.rows == 4 and len(result.files) == 3 and result.extra_columns == ["_fivetran_synced", "utm_medium"]
    rows = con.execute(
        f"select lead_id, utm_medium, _source_file, _source_row, campaign_id from {newest('ma_leads')} order by lead_id"
    ).fetchall()
    assert rows == [
        ("0001", "cpc", "ma/leads/2024-04.csv", 1, "C1"),
        ("0002", None, "ma/leads/2024-05.tsv", 1, "C1"),
        ("0003", None, "ma/leads/2024-05.tsv", 2, None),
        ("0004", None, "ma/leads/2024-06.parquet", 1, None),
    ]
    june = con.execute(
        f"select strftime(timezone('UTC', created_at), '%H:%M') from {newest('ma_leads')} where lead_id = '0004'"
    )
    assert june.fetchall() == [("01:00",)]  # a naive Parquet timestamp is read in the source time zone too


def test_booleans_numbers_and_dates_are_typed(tmp_path):
    opp = ENTITIES_BY_TABLE["sfa_opportunities"]
    landing = _landing(
        tmp_path,
        {
            "sfa/opportunities.csv": (
                ",".join(opp.column_names) + "\n"
                "006A,,001A,u1,new_business,2024/04/01 10:00:00,Closed Won,TRUE,1,2024/05/01 10:00:00,1200000,JPY,,"
                "2024/05/01,100,Closed\n"
                "006B,00QB,001B,u1,new_business,2024/04/02 10:00:00,Proposal,false,no,,99.5,JPY,,45473,62.5,\n"
            )
        },
    )
    con, _ = _load(landing, opp)
    assert con.execute(
        f"select opportunity_id, is_closed, is_won, amount, close_date::varchar, probability, forecast_category "
        f"from {newest('sfa_opportunities')} order by 1"
    ).fetchall() == [
        ("006A", True, True, 1200000, "2024-05-01", 100.0, "Closed"),
        ("006B", False, False, 99.5, "2024-06-30", 62.5, None),  # 45473: an Excel serial date
    ]


@pytest.mark.parametrize(
    "row, column, problem",
    [
        ("0002,b@x,B,2024-13-45 10:00:00,web,C1", "created_at", "'2024-13-45 10:00:00' is not a valid timestamp"),
        ("0002,b@x,B,yesterday,web,C1", "created_at", "'yesterday' is not a valid timestamp"),
        (",b@x,B,2024-04-02 10:00:00,web,C1", "lead_id", "is empty but required"),
        ("0002,b@x,B,,web,C1", "created_at", "is empty but required"),
    ],
)
def test_an_unparsable_or_missing_value_names_file_column_and_row(tmp_path, row, column, problem):
    landing = _landing(tmp_path, {"ma/leads/a.csv": HEADER + "0001,a@x,A,2024-04-01 10:00:00,web,C1\n" + row + "\n"})
    with pytest.raises(IngestError) as error:
        _load(landing)
    message = str(error.value)
    assert f"{landing}/ma/leads/a.csv" in message
    assert f"column '{column}'" in message and "data row 2" in message and problem in message


HISTORY = ENTITIES_BY_TABLE["sfa_opportunity_history"]
HISTORY_HEADER = "opportunity_id,changed_at,stage_name,amount,currency,close_date,probability,forecast_category\n"
HISTORY_ROWS = (
    "006A,2024-04-01 10:00:00,Qualification,1000000,JPY,2024-06-30,10,Pipeline\n"  # data row 1
    "006A,2024-13-45 10:00:00,Proposal,,,,50,\n"  # 2: no such month
    "006A,2024-04-20 10:00:00,Negotiation,,,,150,Commit\n"  # 3: over 100 %
    "006A,2024-04-25 10:00:00,,,,,-5,\n"  # 4: under 0 %
    "006A,,Proposal,,,,,\n"  # 5: changed_at is required
    "006A,2024-04-28 10:00:00,,,,,hoch,\n"  # 6: no number
    "006A,2024-05-01 10:00:00,Closed Won,,,2024-05-01,100,Closed\n"  # 7: the bounds themselves are fine
    "006B,2024-05-02 10:00:00,Closed Lost,,,,0,Omitted\n"  # 8
)


def test_a_history_row_with_a_bad_changed_at_or_probability_is_quarantined_naming_file_column_and_row(tmp_path):
    landing = _landing(tmp_path, {"sfa/opportunity_history.csv": HISTORY_HEADER + HISTORY_ROWS})
    con, result = _load(landing, HISTORY, floor=10)
    (file,) = result.files
    assert (file.data_rows, file.loaded, file.quarantined) == (8, 3, 5)
    assert con.execute("select file, line, column_name, reason from extracted.quarantine order by line").fetchall() == [
        ("sfa/opportunity_history.csv", 3, "changed_at", "value '2024-13-45 10:00:00' is not a valid timestamp"),
        ("sfa/opportunity_history.csv", 4, "probability", "value '150' is not a valid number from 0 to 100"),
        ("sfa/opportunity_history.csv", 5, "probability", "value '-5' is not a valid number from 0 to 100"),
        ("sfa/opportunity_history.csv", 6, "changed_at", "is empty but required"),
        ("sfa/opportunity_history.csv", 7, "probability", "value 'hoch' is not a valid number from 0 to 100"),
    ]
    assert con.execute(
        f"select opportunity_id, probability, _source_row from {newest('sfa_opportunity_history')} order by 3"
    ).fetchall() == [("006A", 10.0, 1), ("006A", 100.0, 7), ("006B", 0.0, 8)]


@pytest.mark.parametrize(
    "row, column, problem",
    [
        ("006A,2024/04/31 10:00,Proposal,,,,,", "changed_at", "'2024/04/31 10:00' is not a valid timestamp"),
        ("006A,2024-04-20 10:00:00,Proposal,,,,100.5,", "probability", "'100.5' is not a valid number from 0 to 100"),
    ],
)
def test_over_the_threshold_a_bad_history_row_stops_the_load_naming_file_column_and_row(tmp_path, row, column, problem):
    landing = _landing(
        tmp_path, {"sfa/opportunity_history/2024-04.csv": HISTORY_HEADER + HISTORY_ROWS.splitlines()[0] + "\n" + row}
    )
    with pytest.raises(IngestError) as error:
        _load(landing, HISTORY)
    message = str(error.value)
    assert f"{landing}/sfa/opportunity_history/2024-04.csv" in message and "sfa_opportunity_history" in message
    assert f"column '{column}'" in message and "data row 2 (line 3)" in message and problem in message


def test_an_opportunity_keeps_its_row_with_a_probability_out_of_range(tmp_path):
    """Quarantined, the row would take the deal out of every count: the extract's quality check reports it."""
    opp = ENTITIES_BY_TABLE["sfa_opportunities"]
    landing = _landing(
        tmp_path,
        {
            "sfa/opportunities.csv": ",".join(opp.column_names) + "\n"
            "006A,,,,new_business,2024-04-01 10:00:00,Proposal,,,,500000,JPY,,2024-06-30,150,Commit\n"
        },
    )
    con, result = _load(landing, opp)
    assert (result.files[0].loaded, result.files[0].quarantined) == (1, 0)
    assert con.execute(f"select probability from {newest('sfa_opportunities')}").fetchall() == [(150.0,)]


NAMES = ["株式会社", "東京", "大阪", "顧客", "山田", "田中", "鈴木", "佐藤"]
JAPANESE_UTF8 = (
    HEADER + "".join(f"{i:04d},a@x.jp,{NAMES[i % 8]},2024-04-01 10:00:00,web,C1\n" for i in range(1, 200))
).encode("utf-8")
STRAY_BYTE = b"0200,b@x.jp,Ren\xe9e,2024-04-01 10:00:00,web,C1\n"


@pytest.mark.parametrize("encoding", [None, "utf-8"])
def test_a_stray_byte_in_a_utf8_file_quarantines_its_line_not_the_whole_file_as_cp932(tmp_path, encoding):
    """Detected (None) or declared, the file stays UTF-8: its Japanese text intact, the one bad line quarantined."""
    path = tmp_path / "landing" / "x" / "leads.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(JAPANESE_UTF8 + STRAY_BYTE)
    mapping = {
        "source": "s",
        "dialect": {"encoding": encoding} if encoding else {},
        "entities": {
            "ma_leads": {
                "files": "x/*.csv",
                "columns": {"lead_id": "lead_id", "created_at": "created_at", "company": "company"},
            }
        },
    }
    con = duckdb.connect()
    result = load_entity(
        con,
        LEADS,
        [parse_mapping(mapping, "m", tmp_path / "landing", 0.01)],
        tmp_path / "landing",
        "Asia/Tokyo",
        "Asia/Tokyo",
    )
    (file,) = result.files
    assert (file.data_rows, file.loaded, file.quarantined) == (200, 199, 1)
    assert con.execute(f"select company from {newest('ma_leads')} where lead_id = '0001'").fetchall() == [("東京",)]
    assert con.execute("select line, reason like 'invalid encoding%' from extracted.quarantine").fetchall() == [
        (201, True)
    ]


def test_a_missing_column_names_the_file_and_the_column(tmp_path):
    landing = _landing(
        tmp_path,
        {
            "ma/leads/a.csv": HEADER + "0001,a@x,A,2024-04-01 10:00:00,web,C1\n",
            "ma/leads/b.csv": "lead_id,email,company,source,campaign_id\n0002,b@x,B,web,C1\n",
        },
    )
    with pytest.raises(
        IngestError, match=re.escape(f"{landing}/ma/leads/b.csv: missing required column(s) created_at")
    ):
        _load(landing)


def test_no_extract_at_all_is_an_error_naming_where_it_was_expected(tmp_path):
    (tmp_path / "landing").mkdir()
    with pytest.raises(
        IngestError,
        match=r"ma_leads: no extract found; expected .* source landing: .*/ma/leads\.\* or .*/ma/leads/\*\*/\*",
    ):
        _load(tmp_path / "landing")


def test_a_failed_load_leaves_raw_as_it_was(tmp_path):
    landing = _landing(tmp_path, {"ma/leads.csv": HEADER + "0001,a@x,A,2024-04-01 10:00:00,web,C1\n"})
    con, _ = _load(landing)
    (landing / "ma" / "leads.csv").write_text(
        HEADER + "0009,z@x,Z,2024-04-01 10:00:00,web,C1\n0010,y@x,Y,soon,web,C1\n"
    )
    with pytest.raises(IngestError):
        _load(landing, con=con)
    assert con.execute(f"select lead_id from {newest('ma_leads')}").fetchall() == [("0001",)]
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchall() == [(0,)]


def test_the_ingest_asset_fails_with_the_message_and_keeps_the_warehouse(tmp_path):
    from pipeline.definitions import build_definitions

    landing = _landing(tmp_path, {"ma/leads.csv": HEADER + "0001,a@x,A,2024-04-01 10:00:00,web,C1\n"})
    sources = tmp_path / "sources.yml"
    sources.write_text("bad_row_floor: 0\n")  # a one-row file: the threshold alone decides
    settings = Settings(
        landing_dir=str(landing), warehouse_path=str(tmp_path / "w.duckdb"), sources_config=str(sources)
    )
    defs = build_definitions(settings)
    leads = defs.resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))
    ok = dg.materialize([leads], instance=dg.DagsterInstance.ephemeral())
    assert ok.success
    assert ok.get_asset_materialization_events()[0].materialization.metadata["dagster/row_count"].value == 1
    (landing / "ma" / "leads.csv").write_text(HEADER + "0002,b@x,B,31/04/2024,web,C1\n")
    failed = dg.materialize([leads], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "column 'created_at', data row 1 (line 2): value '31/04/2024' is not a valid timestamp" in str(
        failure.step_failure_data.error.cause.message
    )
    with duckdb.connect(settings.warehouse_path) as con:
        assert con.execute(f"select lead_id from {newest('ma_leads')}").fetchall() == [("0001",)]


def test_the_screen_names_file_line_and_column_of_a_quarantined_row_and_of_a_load_over_the_threshold(tmp_path):
    """What `make run` prints (pipeline/outcome.py) for the two ways a bad row shows: quarantined under the floor, a
    WARN naming the first row's file, line and column; over the threshold, a failed step whose message, however deep
    the landing folder, keeps the file, column and row on the screen rather than cutting them off."""
    from pipeline.definitions import build_definitions
    from pipeline.outcome import REASON_WIDTH, outcome_of

    good = "".join(f"{i:04d},a@x,A,2024-04-01 10:00:00,web,C1\n" for i in range(1, 60))
    landing = _landing(tmp_path / "a-landing-folder-as-deep-as-an-operator-has-it", {"ma/leads.csv": HEADER})
    settings = Settings(landing_dir=str(landing), warehouse_path=str(tmp_path / "w.duckdb"))
    leads = build_definitions(settings).resolve_assets_def(dg.AssetKey(["extracted", "ma_leads"]))

    def screen(data: str) -> tuple[bool, list[str]]:
        (landing / "ma" / "leads.csv").write_text(HEADER + data)
        result = dg.materialize([leads], instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        return result.success, "\n".join(outcome_of(result).lines()).splitlines()

    # 60 rows, the last bad: line 61 of the file (its header is line 1), under the default floor of 10 rows
    loaded, lines = screen(good + "0060,b@x,B,31/04/2024,web,C1\n")
    assert loaded and all(len(line) <= REASON_WIDTH + 60 for line in lines), lines
    assert " ".join(" ".join(lines).split()).endswith(
        "WARN extracted/ma_leads quarantine: 1 row(s) of ma_leads are in extracted.quarantine; "
        "first ma/leads.csv line 61, column created_at: value '31/04/2024' is not a valid timestamp"
    ), lines

    # 15 bad rows of 60, the first of them data row 46 (line 47): over 1 % and over the floor
    bad = "".join(f"{i:04d},b@x,B,31/04/2024,web,C1\n" for i in range(46, 61))
    loaded, lines = screen(good[: good.index("0046,")] + bad)
    text = " ".join(" ".join(lines).split())
    assert not loaded and all(len(line) <= REASON_WIDTH + 60 for line in lines), lines
    assert f"step failed: extracted__ma_leads: IngestError: {landing}/ma/leads.csv: 15 of 60 data rows" in text
    assert "column 'created_at', data row 46 (line 47): value '31/04/2024' is not a valid timestamp" in text, lines


def test_entity_files_finds_single_files_and_folders_but_nothing_else(tmp_path):
    landing = _landing(
        tmp_path,
        {
            "sfa/leads.csv": "x",
            "sfa/leads/2024.csv.gz": "x",
            "sfa/leads/sub/2025.parquet": "x",
            "sfa/leads/readme.txt": "x",
            "sfa/leads_old.csv": "x",
        },
    )
    found = [p.relative_to(landing).as_posix() for p in entity_files(landing, ENTITIES_BY_TABLE["sfa_leads"])]
    assert found == ["sfa/leads/2024.csv.gz", "sfa/leads/sub/2025.parquet", "sfa/leads.csv"]


def test_the_contract_document_lists_every_column_of_the_code(tmp_path):
    doc = (Path(__file__).parent.parent / "docs" / "input-contract.md").read_text(encoding="utf-8")
    for entity in ENTITIES:
        heading = f"\n## `{entity.system}/{entity.name}`\n"
        assert heading in doc
        section = doc.split(heading, 1)[1].split("\n## ", 1)[0]
        assert section.strip().startswith("Optional.") == entity.optional, entity.table
        for column in entity.columns:
            row = f"| `{column.name}` | {column.type} |"
            assert row in section, (entity.table, column.name)
            line = section.split(row, 1)[1].split("\n", 1)[0]
            assert line.startswith(" yes |") == column.required, (entity.table, column.name)
            assert ("the file may leave this column out" in line) == column.may_be_absent, (entity.table, column.name)


def test_a_warehouse_held_by_another_process_is_reported_as_such(tmp_path):
    from pipeline.warehouse.resource import Warehouse, WarehouseBusyError

    path = tmp_path / "held.duckdb"
    with held(path) as holder:
        busy = Warehouse(path=str(path), lock_timeout_seconds=1)
        with pytest.raises(WarehouseBusyError, match=f"is held by process {holder.pid} "), busy.connect():
            pass


def test_a_lock_held_for_a_moment_is_waited_for(tmp_path):
    """A process that lets go of the file within the lock timeout (a dbt step exiting) does not fail the next."""
    from pipeline.warehouse.resource import Warehouse

    path = tmp_path / "brief.duckdb"
    with held(path, seconds=2) as holder:
        assert holder.poll() is None  # still holding it when the connection is asked for
        with Warehouse(path=str(path)).connect() as con:
            assert con.execute("select 42").fetchall() == [(42,)]


def test_one_bad_row_in_a_small_file_is_quarantined_under_the_floor_of_sources_yml(tmp_path):
    from pipeline.config.sources import load_sources

    rows = "".join(f"{i:04d},a@x,A,2024-04-01 10:00:00,web,C1\n" for i in range(1, 60))
    landing = _landing(tmp_path, {"ma/leads.csv": HEADER + rows + "0060,b@x,B,31/04/2024,web,C1\n"})
    (tmp_path / "sources.yml").write_text("bad_row_threshold: 0.01\n")  # the floor left at its default, 10
    sources = list(load_sources(tmp_path / "sources.yml", landing).sources)
    assert sources[0].floor == 10
    con = duckdb.connect()
    load = load_entity(con, LEADS, sources, landing, "Asia/Tokyo", "Asia/Tokyo")
    (file,) = load.files
    assert (file.data_rows, file.loaded, file.quarantined) == (60, 59, 1)  # 1.7 %, over 1 %, under 10 rows
    (tmp_path / "sources.yml").write_text("bad_row_threshold: 0.01\nbad_row_floor: 0\n")
    strict = list(load_sources(tmp_path / "sources.yml", landing).sources)
    with pytest.raises(IngestError, match="over the bad-row threshold of 1.0% \\(and the floor of 0 rows\\)"):
        load_entity(duckdb.connect(), LEADS, strict, landing, "Asia/Tokyo", "Asia/Tokyo")
