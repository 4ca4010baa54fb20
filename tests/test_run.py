"""What `make run` prints: the period-view funnel of the latest months, from the mart."""

from pathlib import Path

from pipeline.run import funnel_table, landing_is_empty


def test_the_funnel_table_shows_the_latest_months_of_the_mart(demo_run):
    text = funnel_table(Path(demo_run.settings.warehouse_path), 6, "Asia/Tokyo")
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
