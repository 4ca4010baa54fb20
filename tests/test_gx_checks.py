"""Great Expectations suites: one per extracted entity (dbt tests check the models), run inside DuckDB."""

import duckdb
import dagster as dg

from pipeline.ingest.contract import ENTITIES
from pipeline.definitions import defs
from pipeline.quality.gx_checks import CHECK_NAME, load_suites, validate

def test_every_extracted_entity_and_nothing_dbt_builds_has_a_suite_run_as_an_asset_check():
    suites = {s.asset_key for s in load_suites()}
    assert suites == {dg.AssetKey(["extracted", e.table]) for e in ENTITIES}
    checks = {k.asset_key for k in defs.resolve_asset_graph().asset_check_keys if k.name == CHECK_NAME}
    assert checks == suites


def test_suites_pass_on_clean_demo_data_with_their_summary_as_metadata(demo_run):
    results = [e.event_specific_data for e in demo_run.result.all_events
               if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == CHECK_NAME]
    assert len(results) == len(load_suites())
    for result in results:
        assert result.passed, (result.asset_key, result.metadata["failed"].value)
        assert result.metadata["expectations_run"].value >= 3
        assert result.metadata["expectations_failed"].value == 0


def test_a_suite_reports_each_broken_expectation_with_counts_and_samples(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema extracted")
        con.execute("""
            create table extracted.sfa_opportunities as select * from (values
                ('006A', '00QA', '001A', 'u', 'new_business', timestamptz '2024-04-01 00:00:00+00', 'Closed Won',
                 true, true, timestamptz '2024-05-01 00:00:00+00', 100.0, 'JPY', null),
                ('006A', null, '001B', 'u', 'new_business', timestamptz '2024-04-02 00:00:00+00', 'Proposal',
                 false, false, timestamptz '2024-05-02 00:00:00+00', -5.0, 'YEN', null),
                ('006C', null, '001C', 'u', 'partnership', timestamptz '2024-04-03 00:00:00+00', 'Closed Lost',
                 true, false, timestamptz '2024-03-01 00:00:00+00', 7.0, 'USD', 'price')
            ) as t (opportunity_id, lead_id, account_id, owner_id, type, created_at, stage_name, is_closed, is_won,
                    closed_at, amount, currency, lost_reason)
        """)
    suite = next(s for s in load_suites() if s.name == "extracted.sfa_opportunities")
    result = validate(suite, str(warehouse))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    failed = {f["expectation"]: f for f in result.metadata["failed_details"].value}
    assert failed["expect_column_values_to_be_between(amount)"]["sample_values"] == ["-5.0"]
    assert failed["expect_column_values_to_be_in_set(currency)"]["sample_values"] == ["YEN"]
    assert failed["expect_column_values_to_be_in_set(type)"]["sample_values"] == ["partnership"]
    assert failed["expect_column_values_to_be_in_set(closed_at_matches_is_closed)"]["unexpected_count"] == 1
    assert failed["expect_column_pair_values_a_to_be_greater_than_b(closed_at, created_at)"]["unexpected_count"] == 1
    assert len(failed) == result.metadata["expectations_failed"].value == 5
    with duckdb.connect(str(warehouse), read_only=True):
        pass  # the validation released the file
