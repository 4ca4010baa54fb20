"""An operator lands an opportunity change history next to the demo extracts: it loads through the whole run, its
bad rows are quarantined naming file, column and row, and staging keeps one row per real change."""

import shutil
from datetime import timedelta

import dagster as dg
import pandas as pd

from demo import generator as demo
from tests.conftest import materialize

DEALS = 20


def _opportunities(landing) -> pd.DataFrame:
    folder = landing / "sfa" / "opportunities"
    files = sorted(folder.rglob("*.csv")) if folder.is_dir() else [landing / "sfa" / "opportunities.csv"]
    return pd.concat([pd.read_csv(f, dtype=str) for f in files]).drop_duplicates("opportunity_id", keep="last")


def test_a_landed_history_loads_quarantines_its_bad_rows_and_stages_one_row_per_change(tmp_path):
    landing = tmp_path / "landing"
    demo.generate(400, 6, 5, landing)
    for old in (landing / "sfa").glob("opportunity_history*"):  # whatever the demo writes, this test lands its own
        old.unlink() if old.is_file() else shutil.rmtree(old)
    deals = _opportunities(landing).head(DEALS)
    assert len(deals) >= 10
    created = pd.to_datetime(deals["created_at"], format="mixed").dt.tz_localize("Asia/Tokyo")
    rows, changes = [], []
    for (_, deal), start in zip(deals.iterrows(), created):
        steps = [
            (start, "Qualification", deal["amount"], 10, "Pipeline"),
            (start + timedelta(days=1), "Qualification", deal["amount"], 10, ""),  # repeats: no change
            (start + timedelta(days=2), "Proposal", "", 50, "Best Case"),
        ]
        for at, stage, amount, probability, category in steps:
            rows.append([deal["opportunity_id"], at.isoformat(), stage, amount, "", "", probability, category])
        changes += [(deal["opportunity_id"], steps[0][0]), (deal["opportunity_id"], steps[2][0])]
    rows.append([deals["opportunity_id"].iloc[0], "someday", "Negotiation", "", "", "", 75, "Commit"])
    rows.append([deals["opportunity_id"].iloc[1], created.iloc[1].isoformat()[:10] + " 23:00", "", "", "", "", 150, ""])
    columns = ["opportunity_id", "changed_at", "stage_name", "amount", "currency", "close_date", "probability"]
    history = pd.DataFrame(rows, columns=[*columns, "forecast_category"])
    history.to_csv(landing / "sfa" / "opportunity_history.csv", index=False)
    (tmp_path / "warehouse").mkdir()

    run = materialize(landing, tmp_path / "warehouse" / "themodel.duckdb")
    assert run.result.success
    quarantined = run.query(
        "SELECT file, line, column_name, reason FROM extracted.quarantine WHERE entity = 'sfa_opportunity_history' "
        "ORDER BY line"
    )
    assert quarantined.values.tolist() == [
        ["sfa/opportunity_history.csv", len(rows), "changed_at", "value 'someday' is not a valid timestamp"],
        [
            "sfa/opportunity_history.csv",
            len(rows) + 1,
            "probability",
            "value '150' is not a valid number from 0 to 100",
        ],
    ]
    key = dg.AssetKey(["extracted", "sfa_opportunity_history"])
    checks = {e.check_name: e.passed for e in run.result.get_asset_check_evaluations() if e.asset_key == key}
    assert checks == {"quarantine": False, "freshness": True, "great_expectations": True}

    staged = run.query(
        "SELECT opportunity_id, changed_at, stage_name, probability, forecast_category "
        "FROM staging.stg_sfa__opportunity_history ORDER BY 1, 2"
    )
    assert list(zip(staged["opportunity_id"], staged["changed_at"])) == sorted(changes)
    assert staged["forecast_category"].tolist() == ["pipeline", "best_case"] * len(deals)
    assert staged["probability"].tolist() == [10.0, 50.0] * len(deals)
