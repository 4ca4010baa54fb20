"""A user with an unfamiliar export gets a loaded warehouse by writing only a mapping file: the demo extracts,
re-exported as Japanese Excel CSVs, load through docs/examples/excel_ja.yml into the same raw tables and the
same funnel marts as the canonical extracts."""

import duckdb

from demo import excel as demo_excel
from pipeline.config.settings import PROJECT_ROOT
from pipeline.ingest.contract import ENTITIES
from tests.conftest import materialize
from tests.staging_sql import newest

EXAMPLE = PROJECT_ROOT / "docs" / "examples" / "excel_ja.yml"


def test_the_excel_export_with_only_a_mapping_gives_the_same_warehouse(demo_run, tmp_path_factory):
    landing = tmp_path_factory.mktemp("excel") / "landing"
    written = demo_excel.export(demo_run.landing, landing / "excel")
    assert all((landing / "excel" / name).read_bytes().decode("cp932") for name in written)
    config = landing.parent / "sources.yml"
    config.write_text(f"landing_layout: false\nsources:\n  - {EXAMPLE}\n", encoding="utf-8")
    run = materialize(landing, landing.parent / "excel.duckdb", sources_config=str(config))
    assert run.result.success

    exported = {table for table, _ in demo_excel.EXPORTS.values()}
    with duckdb.connect(run.settings.warehouse_path) as con:
        con.execute(f"ATTACH '{demo_run.settings.warehouse_path}' AS canonical (READ_ONLY)")
        for entity in ENTITIES:
            if entity.table not in exported:  # an optional entity the plain demo has no file of: empty in both
                assert entity.optional, entity.table
                for schema in ("extracted", "canonical.extracted"):
                    assert con.execute(f"SELECT count(*) FROM {schema}.{entity.table}").fetchall() == [(0,)]
                continue
            columns = ", ".join(entity.column_names)
            rows = con.execute(f"SELECT count(*) FROM {newest(entity.table)}").fetchall()[0][0]
            assert rows == written[next(n for n, (t, _) in demo_excel.EXPORTS.items() if t == entity.table)]
            for a, b in (("extracted", "canonical.extracted"), ("canonical.extracted", "extracted")):
                diff = con.execute(
                    f"SELECT count(*) FROM (SELECT {columns} FROM {a}.{entity.table} EXCEPT ALL "
                    f"SELECT {columns} FROM {b}.{entity.table})"
                ).fetchall()[0][0]
                assert diff == 0, (entity.table, a, b)
            assert con.execute(f"SELECT DISTINCT _source FROM {newest(entity.table)}").fetchall() == [("excel_ja",)]
        diff = con.execute(
            "SELECT count(*) FROM (SELECT * FROM marts.funnel_kpi_monthly EXCEPT ALL "
            "SELECT * FROM canonical.marts.funnel_kpi_monthly)"
        ).fetchall()[0][0]
        assert diff == 0
        assert con.execute("SELECT count(*) FROM marts.funnel_kpi_monthly").fetchall()[0][0] > 0


def test_the_guide_shows_the_example_mapping_verbatim():
    guide = (PROJECT_ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8").strip() in guide
