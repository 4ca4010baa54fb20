"""Great Expectations suites: one per extracted entity (dbt tests check the models), run inside DuckDB."""

import re

import dagster as dg
import duckdb
import pytest

from pipeline.config.files import ConfigError
from pipeline.config.quality import load_currencies
from pipeline.config.settings import PROJECT_ROOT, Settings
from pipeline.definitions import build_definitions, defs
from pipeline.ingest.contract import ENTITIES
from pipeline.quality.gx_checks import CHECK_NAME, load_suites, validate, value_sets


def test_every_extracted_entity_and_nothing_dbt_builds_has_a_suite_run_as_an_asset_check():
    suites = {s.asset_key for s in load_suites()}
    assert suites == {dg.AssetKey(["extracted", e.table]) for e in ENTITIES}
    checks = {k.asset_key for k in defs.resolve_asset_graph().asset_check_keys if k.name == CHECK_NAME}
    assert checks == suites


def test_suites_pass_on_clean_demo_data_with_their_summary_as_metadata(demo_run):
    results = [
        e.event_specific_data
        for e in demo_run.result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == CHECK_NAME
    ]
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
                 true, true, timestamptz '2024-05-01 00:00:00+00', 100.0, 'JPY', null, 100.0),
                ('006A', null, '001B', 'u', 'new_business', timestamptz '2024-04-02 00:00:00+00', 'Proposal',
                 false, false, timestamptz '2024-05-02 00:00:00+00', -5.0, 'YEN', null, 0.0),
                ('006C', null, '001C', 'u', 'partnership', timestamptz '2024-04-03 00:00:00+00', 'Closed Lost',
                 true, false, timestamptz '2024-03-01 00:00:00+00', 7.0, 'USD', 'price', 150.0)
            ) as t (opportunity_id, lead_id, account_id, owner_id, type, created_at, stage_name, is_closed, is_won,
                    closed_at, amount, currency, lost_reason, probability)
        """)
    result = validate(_opportunities_suite(), str(warehouse), value_sets(PROJECT_ROOT / "quality.yml"))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    failed = {f["expectation"]: f for f in result.metadata["failed_details"].value}
    assert failed["expect_column_values_to_be_between(amount)"]["sample_values"] == ["-5.0"]
    assert failed["expect_column_values_to_be_in_set(currency)"]["sample_values"] == ["YEN"]
    assert failed["expect_column_values_to_be_in_set(type)"]["sample_values"] == ["partnership"]
    assert failed["expect_column_values_to_be_in_set(closed_at_matches_is_closed)"]["unexpected_count"] == 1
    assert failed["expect_column_pair_values_a_to_be_greater_than_b(closed_at, created_at)"]["unexpected_count"] == 1
    assert failed["expect_column_values_to_be_between(probability)"]["sample_values"] == ["150.0"]
    assert len(failed) == result.metadata["expectations_failed"].value == 6
    with duckdb.connect(str(warehouse), read_only=True):
        pass  # the validation released the file


# --- currencies: any ISO 4217 code, or those quality.yml lists -------------------------------------------------


def _opportunities_suite():
    return next(s for s in load_suites() if s.name == "extracted.sfa_opportunities")


def _opportunities(tmp_path, currencies: list[str]) -> str:
    """A warehouse whose extracted.sfa_opportunities meets its suite but for what `currencies` may break."""
    tmp_path.mkdir(exist_ok=True)
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema extracted")
        con.execute(
            """
            create table extracted.sfa_opportunities as
            select '006' || i as opportunity_id, null as lead_id, '001' || i as account_id, 'u' as owner_id,
                   'new_business' as type, timestamptz '2024-04-01 00:00:00+00' as created_at, 'Proposal' as stage_name,
                   false as is_closed, false as is_won, null::timestamptz as closed_at, 100.0 as amount,
                   currency, null as lost_reason, null::double as probability
            from unnest(?) with ordinality as t(currency, i)""",
            [currencies],
        )
    return str(warehouse)


def _currency_failure(result: dg.AssetCheckResult) -> list[str] | None:
    failed = {f["expectation"]: f for f in result.metadata["failed_details"].value}
    currency = failed.pop("expect_column_values_to_be_in_set(currency)", None)
    assert not failed, failed  # only the currency may fail here
    return None if currency is None else sorted(currency["sample_values"])


def test_any_iso_4217_code_passes_and_anything_else_fails(tmp_path):
    sets = value_sets(PROJECT_ROOT / "quality.yml")
    assert (
        _currency_failure(
            validate(_opportunities_suite(), _opportunities(tmp_path / "a", ["JPY", "BRL", "USD", "ZAR", "XAU"]), sets)
        )
        is None
    )
    failed = validate(
        _opportunities_suite(), _opportunities(tmp_path / "b", ["BRL", "XXY", "yen", "jpy", "JPY "]), sets
    )
    assert not failed.passed and _currency_failure(failed) == ["JPY ", "XXY", "jpy", "yen"]


def test_the_currencies_quality_yml_lists_restrict_the_check(tmp_path):
    config = tmp_path / "quality.yml"
    config.write_text("currencies: [JPY, BRL]\n", encoding="utf-8")
    assert load_currencies(config) == {"JPY", "BRL"}
    result = validate(_opportunities_suite(), _opportunities(tmp_path, ["JPY", "BRL", "USD"]), value_sets(config))
    assert not result.passed and _currency_failure(result) == ["USD"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("[JPY, XXY, yen]", "line 1: currencies: ['XXY', 'yen'] are not ISO 4217 codes"),
        ("[]", "line 1: currencies: List should have at least 1 item"),
        ("JPY", "line 1: currencies: Input should be a valid list"),
    ],
)
def test_a_malformed_currency_list_names_the_file_and_the_codes(tmp_path, value, message):
    config = tmp_path / "quality.yml"
    config.write_text(f"currencies: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        load_currencies(config)
    assert str(error.value).startswith(str(config))


def test_the_check_reads_the_currencies_of_the_runs_quality_yml(tmp_path):
    """The Dagster check, not only validate(): a run whose quality.yml allows JPY alone fails on USD."""
    config = tmp_path / "quality.yml"
    config.write_text(
        (PROJECT_ROOT / "quality.yml").read_text(encoding="utf-8") + "currencies: [JPY]\n", encoding="utf-8"
    )
    settings = Settings(
        landing_dir=str(tmp_path), warehouse_path=_opportunities(tmp_path, ["JPY", "USD"]), quality_config=str(config)
    )
    key = dg.AssetCheckKey(dg.AssetKey(["extracted", "sfa_opportunities"]), CHECK_NAME)
    checks_only = dg.define_asset_job("gx_opportunities", selection=dg.AssetSelection.checks(key))
    run_defs = dg.Definitions.merge(build_definitions(settings), dg.Definitions(jobs=[checks_only]))
    result = run_defs.resolve_job_def("gx_opportunities").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert not evaluation.passed
    failed = evaluation.metadata["failed_details"].value
    assert [(f["expectation"], f["sample_values"]) for f in failed] == [
        ("expect_column_values_to_be_in_set(currency)", ["USD"])
    ]
