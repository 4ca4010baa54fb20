"""The history of opportunities and SFA leads (schema `history`): a snapshot keeps last month's pipeline after an
opportunity is edited, a full rebuild and an erasure keep it, and a vanished record is marked deleted.

The story: demo extracts are loaded and run; then a deal won last month is edited into a lost one at another amount,
a lost sales-sourced deal disappears from the extracts (no hand-over misses it), an SFA lead's free-text reason
names an MA lead's e-mail address, and a new SFA lead arrives three days after the latest event; the same
warehouse runs again. Expected numbers come from tests/independent_funnel.py over copies of the landing folder
before and after the edit, never from the models under test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from demo import generator as demo
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.transforms.project import DBT_EXECUTABLE, DBT_PROJECT_DIR
from tests.conftest import Materialized, materialize
from tests.independent_funnel import TZ, monthly_kpis, stage_entries

LEADS, MONTHS, SEED = 1_500, 12, 11
KEY = ["view", "period_start", "stage"]
COUNTS = ["base", "base_handover", "base_direct", "goal", "dropped"]
NEW_LEAD = "00QLATER00000001"
#: history table -> the extracted table its staging view reads
HISTORY = {"history_sfa_opportunities": "sfa_opportunities", "history_sfa_leads": "sfa_leads"}


def _csv(landing: Path, entity: str) -> tuple[Path, pd.DataFrame]:
    (path,) = sorted((landing / entity).glob("*.csv"))
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def _local(values: pd.Series) -> pd.Series:
    """The demo's naive `YYYY/MM/DD HH:MM:SS` timestamps, read in the reporting time zone."""
    return pd.to_datetime(values.str.replace("/", "-"), errors="coerce").dt.tz_localize(TZ)


def _kpis(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    return frame.set_index(KEY).sort_index()[COUNTS].astype("int64")


def _history(run: Materialized, table: str) -> pd.DataFrame:
    return run.query(f"select * from history.{table} order by all")


@dataclass
class Story:
    landing: Path
    before: Path  # the landing folder as the first run loaded it
    first: Materialized
    second: Materialized
    edited: pd.Series  # the won deal's row before the edit
    vanished: str
    person_lead: str  # the SFA lead whose reason names the address
    address: str
    first_event: pd.Timestamp  # the latest event of the first load
    later_event: pd.Timestamp  # the new lead's creation, the latest event of the second
    last_month_end: str  # the end of the month before the first load's latest event
    kpis_after_second: pd.DataFrame
    history_after_second: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Story:
    base = tmp_path_factory.mktemp("history")
    landing, before = base / "landing", base / "before"
    demo.generate(LEADS, MONTHS, SEED, landing)
    (base / "warehouse").mkdir()
    warehouse = base / "warehouse" / "themodel.duckdb"
    # the lost deal's customer is still onboarded from it: one unmatched hand-over, let the gate warn, not block
    quality = base / "quality.yml"
    quality.write_text((PROJECT_ROOT / "quality.yml").read_text().replace("tolerance: 0.005", "tolerance: 1.0"))
    first = materialize(landing, warehouse, quality_config=str(quality))
    assert first.result.success
    shutil.copytree(landing, before)

    _, first_event = stage_entries(before)
    last_month = first_event.tz_convert(TZ).tz_localize(None).to_period("M") - 1
    opportunities_file, opportunities = _csv(landing, "sfa/opportunities")
    closed = _local(opportunities["closed_at"]).dt.tz_localize(None).dt.to_period("M")
    won = opportunities[
        (opportunities["type"] == "new_business") & (opportunities["is_won"] == "true") & (closed == last_month)
    ]
    edited = won.iloc[0].copy()
    sourced_by_sales_and_lost = (opportunities["lead_id"] == "") & (opportunities["is_closed"] == "true")
    vanished = opportunities[sourced_by_sales_and_lost & (opportunities["is_won"] == "false")].iloc[0]["opportunity_id"]
    row = opportunities["opportunity_id"] == edited["opportunity_id"]
    opportunities.loc[row, ["stage_name", "is_won", "lost_reason", "amount"]] = [
        "Closed Lost",
        "false",
        "price",
        str(int(edited["amount"]) * 2),
    ]
    opportunities[opportunities["opportunity_id"] != vanished].to_csv(opportunities_file, index=False)

    leads_file, leads = _csv(landing, "sfa/leads")
    _, ma_leads = _csv(landing, "ma/leads")
    person = leads[leads["ma_lead_id"] != ""].iloc[0]
    address = ma_leads.set_index("lead_id").loc[person["ma_lead_id"], "email"]
    leads.loc[leads["lead_id"] == person["lead_id"], "disqualified_reason"] = f"duplicate of {address}"
    leads.to_csv(leads_file, index=False)
    later_event = (first_event + pd.Timedelta(days=3)).floor("s")
    (landing / "sfa/leads/zz_later.csv").write_text(
        "lead_id,ma_lead_id,created_at,owner_id,status,first_contact_at,converted_at,converted_opportunity_id,"
        f"disqualified_at,disqualified_reason\n{NEW_LEAD},,{later_event.isoformat()},005IS0000000001,working,,,,,\n"
    )
    second = materialize(landing, warehouse, quality_config=str(quality))
    assert second.result.success
    return Story(
        landing,
        before,
        first,
        second,
        edited,
        vanished,
        person["lead_id"],
        address,
        first_event,
        later_event,
        str(last_month.end_time.date()),
        _kpis(second.query("select * from marts.funnel_kpi_monthly")),
        {table: _history(second, table) for table in HISTORY},
    )


def test_a_load_appends_versions_only_for_new_changed_and_vanished_records(story):
    opportunities, leads = (story.history_after_second[t] for t in HISTORY)
    _, loaded = _csv(story.before, "sfa/opportunities")
    first = opportunities[opportunities["load_number"] == 1]
    assert sorted(first["opportunity_id"]) == sorted(loaded["opportunity_id"])
    assert not first["is_deleted"].any()
    assert set(first["observed_at"]) == {story.first_event}, "observed in data time: the first load's latest event"
    second = opportunities[opportunities["load_number"] == 2].set_index("opportunity_id")
    assert sorted(second.index) == sorted([story.edited["opportunity_id"], story.vanished])
    assert set(second["observed_at"]) == {story.later_event}
    assert second.loc[story.vanished, "is_deleted"], "a record gone from the extracts is marked deleted"
    edit = second.loc[story.edited["opportunity_id"]]
    assert (edit["stage_name"], edit["is_won"], edit["is_deleted"]) == ("Closed Lost", False, False)
    assert float(edit["amount_original"]) == 2 * float(story.edited["amount"])
    new_versions = leads[leads["load_number"] == 2]
    assert sorted(new_versions["sfa_lead_id"]) == sorted([NEW_LEAD, story.person_lead])


def test_without_an_as_of_the_edited_values_count(story):
    expected = _kpis(monthly_kpis(story.landing))
    pd.testing.assert_frame_equal(story.kpis_after_second, expected)
    entry = story.second.query(
        "select outcome, amount from stages.field_sales_entries where opportunity_id = ?",
        [story.edited["opportunity_id"]],
    )
    assert entry.to_dict("records") == [{"outcome": "dropped", "amount": 2 * float(story.edited["amount"])}]


def rerun(story: Story, **overrides) -> Materialized:
    """The edited extracts run again into the same warehouse, with the story's settings and `overrides`."""
    settings = story.second.settings
    return materialize(
        story.landing, Path(settings.warehouse_path), quality_config=settings.quality_config, **overrides
    )


@dataclass
class PastRun:
    """What a run as of a past instant left in the warehouse, read before the next run replaces it."""

    success: bool
    kpis: pd.DataFrame
    entry: list[dict]  # the edited deal's field-sales entry
    vanished: int  # whether the deal deleted later is among the opportunities as of then
    history: dict[str, pd.DataFrame]


def _as_of_run(story: Story, as_of: str) -> PastRun:
    run = rerun(story, as_of=as_of)
    if not run.result.success:
        return PastRun(False, pd.DataFrame(), [], 0, {})
    return PastRun(
        True,
        _kpis(run.query("select * from marts.funnel_kpi_monthly")),
        run.query(
            "select outcome, amount from stages.field_sales_entries where opportunity_id = ?",
            [story.edited["opportunity_id"]],
        ).to_dict("records"),
        run.query(
            "select count(*) as n from intermediate.int_opportunities_as_of where opportunity_id = ?", [story.vanished]
        )["n"].item(),
        {table: _history(run, table) for table in HISTORY},
    )


@pytest.fixture(scope="module")
def past(story) -> dict[str, PastRun]:
    """The edited warehouse run again as of the end of last month and as of the first load's latest event."""
    return {
        "end of last month": _as_of_run(story, story.last_month_end),
        "first load": _as_of_run(story, story.first_event.isoformat()),
    }


@pytest.mark.parametrize("which", ["end of last month", "first load"])
def test_a_past_as_of_reads_the_state_the_first_load_kept(story, past, which):
    """Before the first load's latest event every record reads its first version; at it, the version observed then.
    Either way the funnel is the first extracts' at that instant, and differs from what the edited ones give."""
    run = past[which]
    assert run.success
    as_of = (
        pd.Timestamp(story.last_month_end).tz_localize(TZ) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
        if which == "end of last month"
        else story.first_event
    )
    expected = _kpis(monthly_kpis(story.before, as_of))
    pd.testing.assert_frame_equal(run.kpis, expected)
    assert not _kpis(monthly_kpis(story.landing, as_of)).equals(expected), "the edit must change last month"
    assert run.entry == [{"outcome": "advanced", "amount": float(story.edited["amount"])}]
    assert run.vanished == 1, "deleted after the as-of: still there as of it"
    for table, kept in story.history_after_second.items():
        pd.testing.assert_frame_equal(run.history[table], kept, obj=f"history.{table} after an as-of run")


def _dbt(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DBT_"))} | settings.dbt_env()
    return subprocess.run(
        [DBT_EXECUTABLE, *args, "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR,
        env=env | {"PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_full_rebuild_keeps_the_history(story, past, tmp_path):
    """`dbt build --full-refresh` rebuilds every model from the extracts but appends to the history, which then has
    nothing to append: the data did not change."""
    settings = story.second.settings
    done = _dbt(settings, tmp_path, "build", "--full-refresh", "--exclude-resource-type", "unit_test")
    assert done.returncode == 0, done.stdout[-4000:]
    for table, kept in story.history_after_second.items():
        pd.testing.assert_frame_equal(_history(story.second, table), kept, obj=f"history.{table} after --full-refresh")
    pd.testing.assert_frame_equal(
        _kpis(story.second.query("select * from marts.funnel_kpi_monthly")), story.kpis_after_second
    )


def test_the_history_holds_no_column_the_contract_marks_personal(story):
    for table, extracted in HISTORY.items():
        columns = set(story.second.query(f"select * from history.{table} limit 0").columns)
        assert not columns & set(ENTITIES_BY_TABLE[extracted].personal), table


def test_an_erasure_reaches_the_history_and_a_later_run_does_not_bring_it_back(story, past, tmp_path):
    warehouse = Path(story.second.settings.warehouse_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNNEL_", "DAGSTER_HOME"))}
    env |= {"FUNNEL_WAREHOUSE": str(warehouse), "FUNNEL_LANDING_DIR": str(story.landing)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.privacy.erase", "--email", story.address.upper()],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    mentions = "select count(*) as n from history.{} where contains(lower(cast(to_json({}) as varchar)), lower(?))"
    for table in HISTORY:
        assert story.second.query(mentions.format(table, table), [story.address])["n"].item() == 0, table
        assert len(_history(story.second, table)) == len(story.history_after_second[table]), "every version is kept"
    reasons = story.second.query(
        "select distinct disqualified_reason from history.history_sfa_leads where sfa_lead_id = ? "
        "and disqualified_reason like 'duplicate of %'",
        [story.person_lead],
    )
    assert reasons["disqualified_reason"].tolist() == ["duplicate of [erased]"]
    assert story.address.lower().encode() not in warehouse.read_bytes().lower()

    again = rerun(story)
    assert again.result.success
    for table in HISTORY:
        assert again.query(mentions.format(table, table), [story.address])["n"].item() == 0, table
    pd.testing.assert_frame_equal(_kpis(again.query("select * from marts.funnel_kpi_monthly")), story.kpis_after_second)
