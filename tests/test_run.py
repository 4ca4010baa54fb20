"""What `make run` prints: the period-view funnel of the latest months, from the mart."""

import hashlib
import shutil
from pathlib import Path

from pipeline.config.settings import Settings
from pipeline.run import funnel_table, landing_is_empty, main, no_extracts


def test_the_funnel_table_shows_the_latest_months_of_the_mart(demo_run):
    text = funnel_table(demo_run.settings, 6)
    mart = demo_run.query("""
        select strftime(period_start, '%Y-%m') as month, stage, base, base_handover, base_direct, goal,
               conversion_rate, status
        from marts.funnel_kpi_monthly where view = 'period' order by period_start desc, stage_order limit 24""")
    rows = [line.split() for line in text.splitlines() if line[:4].isdigit()]
    assert len(rows) == 24 and {r[0] for r in rows} == set(mart["month"])
    printed = {(r[0], r[1]): r[2:] for r in rows}
    for m in mart.itertuples():
        base, handover, direct, goal, rate = printed[(m.month, m.stage)][:5]
        assert [int(x.replace(",", "")) for x in (base, handover, direct, goal)] == [
            m.base,
            m.base_handover,
            m.base_direct,
            m.goal,
        ]
        assert rate == ("-" if m.base == 0 else f"{m.conversion_rate:.1%}")
        assert printed[(m.month, m.stage)][-1] == m.status
    assert "as of 2026-10-20 18:00 Asia/Tokyo" in text


def test_an_empty_landing_folder_is_one_without_any_contract_extract(tmp_path):
    assert landing_is_empty(tmp_path / "missing")
    (tmp_path / "ma").mkdir()
    (tmp_path / "_injected_faults.csv").write_text("x\n")
    assert landing_is_empty(tmp_path)
    (tmp_path / "ma" / "leads.csv").write_text("lead_id\n")
    assert not landing_is_empty(tmp_path)


def test_extracts_a_mapping_file_finds_mean_the_landing_folder_is_not_empty(tmp_path):
    config = tmp_path / "sources.yml"
    config.write_text(
        "landing_layout: false\nsources:\n  - source: crm\n    entities:\n      crm_customers:\n"
        "        files: exports/*.csv\n        columns: {account_id: id, onboarded_at: since}\n"
    )
    landing = tmp_path / "landing"
    assert landing_is_empty(landing, config)
    (landing / "exports").mkdir(parents=True)
    (landing / "exports" / "customers.csv").write_text("id,since\n")
    assert not landing_is_empty(landing, config) and landing_is_empty(landing)


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_mistyped_landing_folder_stops_the_run_and_leaves_the_warehouse_as_it_was(
    demo_run, tmp_path, monkeypatch, capsys
):
    warehouse = tmp_path / "themodel.duckdb"
    shutil.copyfile(demo_run.settings.warehouse_path, warehouse)
    before = _hash(warehouse)
    monkeypatch.setenv("FUNNEL_LANDING_DIR", str(tmp_path / "no" / "such" / "dir"))
    monkeypatch.setenv("FUNNEL_WAREHOUSE", str(warehouse))
    assert main([]) == 2
    assert f"{tmp_path / 'no' / 'such' / 'dir'} does not exist: nothing to load" in capsys.readouterr().err
    assert not (tmp_path / "no").exists() and _hash(warehouse) == before


def test_demo_extracts_go_only_into_an_empty_default_landing_folder_and_never_over_loaded_files(
    demo_run, tmp_path, monkeypatch
):
    default = tmp_path / "data" / "landing"
    monkeypatch.setattr("pipeline.run.DEFAULT_LANDING", default)
    fresh = Settings(landing_dir=str(default), warehouse_path=str(tmp_path / "new.duckdb"))
    assert no_extracts(fresh) is None  # a fresh checkout: make run may write the demo
    elsewhere = Settings(landing_dir=str(tmp_path / "empty"), warehouse_path=str(tmp_path / "new.duckdb"))
    (tmp_path / "empty").mkdir()
    assert "holds no extract: nothing to load" in no_extracts(elsewhere)
    loaded = Settings(landing_dir=str(default), warehouse_path=demo_run.settings.warehouse_path)
    landing = Path(demo_run.settings.landing_dir)
    files = sum(1 for p in landing.rglob("*") if p.suffix in (".csv", ".parquet") and not p.name.startswith("_"))
    assert f"holds the rows of {files} loaded file(s): demo extracts would replace them" in no_extracts(loaded)
