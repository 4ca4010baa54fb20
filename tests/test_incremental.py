"""A new month on top of a built warehouse gives exactly the marts a full build of every file gives.

The demo history is written as monthly exports (demo/months.py). Months 1..N-1 are built; month N lands with the
changes it carries to earlier records (SFA leads converted or disqualified, opportunities closed) plus a lost
opportunity of an early month reopened and an early lead's company renamed; the second run loads only the new files
on top of the versions already loaded, and the incremental models (docs/data-model.md, "Incremental models")
recompute only what those files touch. A full build of the same files into a fresh warehouse is the other route:
every published mart, stage table and intermediate table must match it, row for row. Then, on a copy, each event
that makes reuse unsafe (an erasure, a file loaded before that changed, a past FUNNEL_AS_OF) must rebuild them whole.
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from demo.generator import generate
from demo.months import file_month
from pipeline.config.settings import Settings
from pipeline.ingest.assets import ingest_assets
from pipeline.privacy.erase import erase
from pipeline.serving.paths import published_file
from pipeline.serving.publish import MARTS
from tests.conftest import materialize

LEADS, MONTHS, SEED = 2_000, 12, 11
#: The incremental models and what their build state says of their last build (transforms/macros/incremental.sql).
INCREMENTAL = ["intermediate.int_marketing_cycles", "intermediate.int_lead_handovers"]


def _built(warehouse: Path) -> dict[str, str]:
    """incremental model -> `incremental` or `rebuilt`, from the build state in its table comment."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        comments = dict(con.execute("select schema_name || '.' || table_name, comment from duckdb_tables()").fetchall())
    return {name: json.loads(comments[name])["built"] for name in INCREMENTAL}


def _copy_months(months: Path, landing: Path, keep) -> list[Path]:
    copied = []
    for path in sorted(months.rglob("*.csv")):
        if keep(file_month(path)):
            target = landing / path.relative_to(months)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(target)
    return copied


def _reopen_a_lost_deal(landing: Path, months: list[str], last: str) -> str:
    """Append to the last month's opportunities file a lost new-business deal of an early month, reopened."""
    early = [landing / "sfa" / "opportunities" / f"{m}-00000.csv" for m in months[:4]]
    frame = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in early if p.exists()])
    lost = frame[(frame["is_closed"] == "true") & (frame["is_won"] == "false") & (frame["type"] == "new_business")]
    assert len(lost), "the demo has no lost deal in its first months to reopen"
    row = lost.iloc[0].copy()
    row[["is_closed", "closed_at", "lost_reason", "stage_name"]] = ["false", "", "", "Negotiation"]
    target = landing / "sfa" / "opportunities" / f"{last}-00000.csv"
    current = pd.read_csv(target, dtype=str, keep_default_na=False)
    pd.concat([current, row.to_frame().T]).to_csv(target, index=False)
    return row["opportunity_id"]


def _tables(path: Path, schema: str | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the DuckDB file (of `schema`, when given), as schema.name -> rows."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.execute(
            "select schema_name, table_name from duckdb_tables() where ? is null or schema_name = ?", [schema, schema]
        ).fetchall()
        return {f"{s}.{t}": con.execute(f'select * from "{s}"."{t}"').df() for s, t in names}


def _same(left: pd.DataFrame, right: pd.DataFrame, name: str) -> None:
    """All rows and columns equal, in any order; floats to 1e-9."""
    assert list(left.columns) == list(right.columns), name
    assert len(left) == len(right), f"{name}: {len(left)} rows incrementally, {len(right)} in a full build"
    floats = [c for c in left.columns if pd.api.types.is_float_dtype(left[c])]
    others = [c for c in left.columns if c not in floats]

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        text = frame[others].astype(str).assign(**{c: frame[c].round(9) for c in floats})
        return frame.loc[text.sort_values(list(text.columns)).index].reset_index(drop=True)

    a, b = ordered(left), ordered(right)
    for column in others:
        assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), f"{name}.{column} differs"
    for column in floats:
        x, y = a[column].to_numpy(float), b[column].to_numpy(float)
        assert np.allclose(x, y, rtol=0, atol=1e-9, equal_nan=True), f"{name}.{column} differs"


def _add_a_late_mql(landing: Path, last: str) -> tuple[str, str, str]:
    """Append to the last month's MQL events an earlier MQL of the first month's first qualified lead, stamped an
    hour before its first one and synced to the same SFA lead (a late-arriving event): the lead's events are
    numbered anew (stg_ma__mql_events.mql_seq), so its marketing entry's first MQL and that SFA lead's hand-over
    both move to it. The MA lead's id, the SFA lead's id and the new event's instant (UTC, ISO)."""
    first = pd.read_csv(sorted((landing / "ma" / "mql_events").glob("*.csv"))[0], dtype=str, keep_default_na=False)
    own = first[first["lead_id"] == first["lead_id"].iloc[0]]  # the lead's events are born in their month
    event = own.loc[own["mql_at"].map(pd.Timestamp).idxmin()].copy()
    stamped = pd.Timestamp(event["mql_at"]) - pd.Timedelta(hours=1)
    event["mql_at"] = stamped.isoformat()
    target = landing / "ma" / "mql_events" / f"{last}-00000.csv"
    current = pd.read_csv(target, dtype=str, keep_default_na=False)
    pd.concat([current, event.to_frame().T]).to_csv(target, index=False)
    return event["lead_id"], event["sfa_lead_id"], stamped.tz_convert("UTC").isoformat()


def _rename_a_company(months: Path, landing: Path, last: str) -> tuple[str, str]:
    """Two MA leads of the first month no later file mentions: the first is left alone; the second's company is
    renamed in the last month's leads file (an edit of an early record). Their ids."""
    files = sorted((months / "ma" / "leads").glob("*.csv"))
    mentioned = set()
    for path in months.rglob("*.csv"):
        if path.parent.name in ("leads", "mql_events") and path.parent.parent.name == "ma" and path != files[0]:
            mentioned |= set(pd.read_csv(path, dtype=str)["lead_id"])
    first = pd.read_csv(files[0], dtype=str, keep_default_na=False)
    alone, edited = first[~first["lead_id"].isin(mentioned)].iloc[:2].itertuples(index=False)
    target = landing / "ma" / "leads" / f"{last}-00000.csv"
    current = pd.read_csv(target, dtype=str, keep_default_na=False)
    renamed = pd.DataFrame([edited._asdict()]).assign(company="株式会社リネーム")
    pd.concat([current, renamed]).to_csv(target, index=False)
    return alone.lead_id, edited.lead_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    months = root / "months"
    generate(LEADS, MONTHS, SEED, months, by_month=True)
    labels = sorted({file_month(p) for p in months.rglob("*.csv")} - {""})
    last = labels[-1]
    landing = root / "landing"
    first_files = _copy_months(months, landing, lambda m: m < last)
    warehouse = root / "incremental" / "themodel.duckdb"
    warehouse.parent.mkdir()
    first = materialize(landing, warehouse)
    assert first.result.success, "building months 1..N-1 failed"
    built_first = _built(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        logged = con.execute("select file, loaded_at from extracted.load_log").fetchall()

    new_files = _copy_months(months, landing, lambda m: m == last)
    reopened = _reopen_a_lost_deal(landing, labels, last)
    alone, edited = _rename_a_company(months, landing, last)
    late_mql = _add_a_late_mql(landing, last)
    second = materialize(landing, warehouse)
    assert second.result.success, "the run after the new month landed failed"
    built_second = _built(warehouse)

    full_warehouse = root / "full" / "themodel.duckdb"
    full_warehouse.parent.mkdir()
    full = materialize(landing, full_warehouse)
    assert full.result.success, "the full build failed"
    return {
        "first_files": first_files,
        "new_files": new_files,
        "landing": landing,
        "warehouse": warehouse,
        "full": full_warehouse,
        "logged": dict(logged),
        "leads": (alone, edited),
        "reopened": reopened,
        "late_mql": late_mql,
        "built": (built_first, built_second),
        "edited_lead": edited,
        "months": labels,
    }


def test_files_loaded_before_are_skipped(runs):
    with duckdb.connect(str(runs["warehouse"]), read_only=True) as con:
        now = dict(con.execute("select file, loaded_at from extracted.load_log").fetchall())
    old = {p.relative_to(runs["landing"]).as_posix() for p in runs["first_files"]}
    new = {p.relative_to(runs["landing"]).as_posix() for p in runs["new_files"]}
    assert set(now) == old | new
    assert {f: now[f] for f in old} == {f: runs["logged"][f] for f in old}, "a file loaded before was loaded again"
    assert min(now[f] for f in new) > max(runs["logged"].values())


def test_the_renamed_company_is_the_newest_version(runs):
    """The lead the new month renamed reads with its new company; the untouched lead keeps its first one."""
    alone, edited = runs["leads"]
    with duckdb.connect(str(runs["warehouse"]), read_only=True) as con:
        company = dict(
            con.execute(
                "select ma_lead_id, company from staging.stg_ma__leads where ma_lead_id in (?, ?)", [alone, edited]
            ).fetchall()
        )
    assert company[edited] == "株式会社リネーム" and company[alone] not in (None, "", "株式会社リネーム")


def test_the_reopened_deal_is_open_again(runs):
    with duckdb.connect(str(runs["warehouse"]), read_only=True) as con:
        outcome = con.execute(
            "select outcome from stages.field_sales_entries where opportunity_id = ?", [runs["reopened"]]
        ).fetchone()
    assert outcome == ("open",)


def test_a_late_mql_renumbers_its_leads_events(runs):
    """The late MQL is its lead's first event now: the lead's first entry and the SFA lead it was synced to both hand
    over with it, and the lead's earlier first event is its second (all recomputed by the incremental update)."""
    lead, synced_to, stamped = runs["late_mql"]
    assert synced_to, "the first MQL event of the demo is not synced to an SFA lead"
    with duckdb.connect(str(runs["warehouse"]), read_only=True) as con:
        con.execute("set timezone = 'UTC'")
        rows = [
            con.execute(sql, [key]).fetchone()
            for sql, key in [
                (
                    "select mql_event_id, strftime(mql_at, '%Y-%m-%dT%H:%M:%S') from intermediate.int_marketing_cycles"
                    " where ma_lead_id = ? and entry_seq = 1",
                    lead,
                ),
                (
                    "select mql_event_id, strftime(mql_at, '%Y-%m-%dT%H:%M:%S') from intermediate.int_lead_handovers"
                    " where sfa_lead_id = ?",
                    synced_to,
                ),
            ]
        ]
        events = con.execute("select count(*) from staging.stg_ma__mql_events where ma_lead_id = ?", [lead]).fetchone()
    expected = (f"{lead}#1", stamped[:19])
    assert rows == [expected, expected] and events[0] >= 2


def test_the_new_month_is_built_incrementally(runs):
    """The first build computes every key; the new month's run only the keys its files touch."""
    first, second = runs["built"]
    assert set(first.values()) == {"rebuilt"} and set(second.values()) == {"incremental"}


@pytest.mark.parametrize("schema", [None, "marts", "stages", "intermediate"])
def test_tables_equal_a_full_build(runs, schema):
    """Every published mart (schema None: the published copy), and every table of the warehouse's marts, stages and
    intermediate schemas (the incremental models among them), equals a full build's."""

    def tables(warehouse: Path) -> dict[str, pd.DataFrame]:
        return _tables(published_file(warehouse)) if schema is None else _tables(warehouse, schema)

    incremental, full = tables(runs["warehouse"]), tables(runs["full"])
    assert sorted(incremental) == sorted(full)
    assert len(full) >= (len(MARTS) if schema in (None, "marts") else 1)
    for name in full:
        _same(incremental[name], full[name], name)


def _refresh_only(landing: Path, warehouse: Path, keys: list[str], **overrides) -> None:
    """A run of the refresh job restricted to the assets `keys` (schema/name) and their checks, as an operator
    selects them in the Dagster UI: each event below only needs the incremental models (and what it changes
    upstream of them) to run again, and a whole run per event would cost minutes of CI."""
    from pipeline.definitions import build_definitions

    settings = Settings(landing_dir=str(landing), warehouse_path=str(warehouse), **overrides)
    job = build_definitions(settings).resolve_job_def("refresh")
    selection = [dg.AssetKey(key.split("/")) for key in keys]
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, asset_selection=selection
    )
    assert result.success, f"the run of {keys} failed"


@pytest.fixture(scope="module")
def unsafe(runs, tmp_path_factory):
    """On a copy of the incremental warehouse, one event after another that makes reusing rows unsafe, each
    followed by a run of what it touches: what each run's incremental models say of their build, and the copy."""
    root = tmp_path_factory.mktemp("unsafe")
    landing, warehouse = root / "landing", root / "warehouse" / "themodel.duckdb"
    shutil.copytree(runs["landing"], landing)
    shutil.copytree(runs["warehouse"].parent, warehouse.parent)
    models = [name.replace(".", "/") for name in INCREMENTAL]
    built = {}

    erase(Settings(landing_dir=str(landing), warehouse_path=str(warehouse)), [], [runs["edited_lead"]], None)
    _refresh_only(landing, warehouse, models)
    built["erasure"] = _built(warehouse)

    old = sorted((landing / "ma" / "leads").glob("*.csv"))[0]
    alone = runs["leads"][0]  # a lead of the first file no later file mentions
    frame = pd.read_csv(old, dtype=str, keep_default_na=False)
    frame[frame["lead_id"] != alone].to_csv(old, index=False)  # a file loaded before loses a record
    # the ingest first, in a run of its own: in one run with the models nothing orders the dbt step after it (the
    # staging views in between are not selected); every ingest asset, as the extracts' freshness and expectation
    # checks each cover all of them in one step
    _refresh_only(landing, warehouse, [key.to_user_string() for asset in ingest_assets for key in asset.keys])
    _refresh_only(landing, warehouse, models)
    built["changed file"] = _built(warehouse)

    past = f"{runs['months'][len(runs['months']) // 2]}-15"
    # the SFA leads valid at the past instant (int_sfa_leads_as_of) are what the incremental models then read
    _refresh_only(
        landing, warehouse, ["intermediate/int_as_of", "intermediate/int_sfa_leads_as_of", *models], as_of=past
    )
    built["past as-of"] = _built(warehouse)
    return {"built": built, "warehouse": warehouse, "dropped": alone}


@pytest.mark.parametrize("event", ["erasure", "changed file", "past as-of"])
def test_unsafe_reuse_rebuilds(unsafe, event):
    assert set(unsafe["built"][event].values()) == {"rebuilt"}, event


def test_the_record_a_changed_file_lost_is_gone(unsafe):
    with duckdb.connect(str(unsafe["warehouse"]), read_only=True) as con:
        left = con.execute(
            "select count(*) from intermediate.int_marketing_cycles where ma_lead_id = ?", [unsafe["dropped"]]
        ).fetchone()[0]
    assert left == 0


def test_monthly_exports_resolve_to_the_whole_history(tmp_path):
    """Loaded in order, newest file winning, the monthly files are the records generate() writes in one piece."""
    generate(LEADS, MONTHS, SEED, tmp_path / "whole")
    generate(LEADS, MONTHS, SEED, tmp_path / "months", by_month=True)
    keys = {
        "ma/leads": "lead_id",
        "ma/mql_events": "lead_id, mql_at",
        "sfa/leads": "lead_id",
        "sfa/opportunities": "opportunity_id",
        "crm/customers": "account_id",
        "crm/contracts": "contract_id",
        "sfa/opportunity_history": "opportunity_id, changed_at",
    }
    con = duckdb.connect()
    for entity, key in keys.items():
        whole = f"select * from read_csv('{tmp_path}/whole/{entity}/*.csv', all_varchar = true)"
        months = (
            f"select * exclude (filename) from read_csv('{tmp_path}/months/{entity}/*.csv', all_varchar = true, "
            f"filename = true) qualify row_number() over (partition by {key} order by filename desc) = 1"
        )
        files = sorted(p.name for p in (tmp_path / "months" / entity).glob("*.csv"))
        assert len(files) > 1, entity
        differ = con.execute(f"select count(*) from (({whole}) except all ({months}))").fetchone()[0]
        extra = con.execute(f"select count(*) from (({months}) except all ({whole}))").fetchone()[0]
        assert (differ, extra) == (0, 0), entity
    edited = con.execute(
        f"select count(*) from read_csv('{tmp_path}/months/sfa/leads/*.csv', all_varchar = true) "
        "group by lead_id having count(*) > 1"
    ).fetchall()
    assert edited, "no SFA lead changes after the month it was created in"
