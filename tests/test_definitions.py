"""The Dagster definitions load, with every asset, check, group and the warehouse pool."""

import dagster as dg
import pytest

from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL
from pipeline.definitions import defs
from pipeline.ingest.contract import ENTITIES

DBT_MODELS = {
    "staging": [
        "stg_ma__leads",
        "stg_ma__mql_events",
        "stg_ma__spend",
        "stg_sfa__leads",
        "stg_sfa__opportunities",
        "stg_sfa__opportunity_history",
        "stg_sfa__users",
        "stg_crm__customers",
        "stg_crm__contracts",
        "stg_reference__funnel_targets",
        "stg_reference__owner_targets",
        "stg_reference__business_calendar",
        "stg_reference__reconciliation_rules",
        "stg_reference__improvement_settings",
        "stg_reference__reapproach_waits",
        "stg_reference__paid_sources",
        "stg_reference__sales_stages",
        "stg_reference__sales_pipeline_settings",
        "stg_sfa__exchange_rates",
    ],
    "intermediate": [
        "int_as_of",
        "int_marketing_cycles",
        "int_lead_handovers",
        "int_customer_first_terms",
        "int_handover_pairs",
        "int_contracts_as_of",
        "int_account_mrr_monthly",
        "int_stage_tables",
        "int_opportunities_as_of",
        "int_sfa_leads_as_of",
        "int_opportunity_states",
        "int_forecast_targets",
        "int_forecast_snapshots",
    ],
    "history": ["history_sfa_opportunities", "history_sfa_leads"],
    "analysis": ["hypothesis_tests", "forecast_backtest_rows", "forecast_rows"],
    "stages": ["marketing_entries", "inside_sales_entries", "field_sales_entries", "customer_success_entries"],
    "marts": [
        "funnel_kpi_monthly",
        "funnel_kpi_fiscal_quarterly",
        "funnel_bottleneck",
        "funnel_targets",
        "stage_velocity",
        "speed_to_lead",
        "owner_performance",
        "campaign_performance",
        "opportunity_stage_durations",
        "stage_durations_monthly",
        "stalled_opportunities",
        "pipeline_waterfall",
        "pipeline_coverage",
        "reconciliation",
        "reconciliation_exceptions",
        "funnel_kpi_by_slice",
        "reapproach_list",
        "reapproach_outcomes",
        "customer_success_monthly",
        "customer_retention_cohorts",
        "unit_economics_monthly",
        "unit_economics_fiscal_quarterly",
        "score_threshold_whatif",
        "hypothesis_results",
        "forecast",
        "forecast_backtest",
    ],
}
REFERENCE = [
    "funnel_targets",
    "owner_targets",
    "business_calendar",
    "reconciliation_rules",
    "improvement_settings",
    "reapproach_waits",
    "paid_sources",
    "sales_stages",
    "sales_pipeline_settings",
]


def _specs():
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_definitions_load_with_every_asset_in_its_group():
    dg.Definitions.validate_loadable(defs)
    specs = _specs()
    expected = {dg.AssetKey(["extracted", e.table]): "ingest" for e in ENTITIES}
    expected |= {dg.AssetKey(["reference", table]): "reference" for table in REFERENCE}
    expected |= {dg.AssetKey(["alerting", "alerts"]): "alerts"}
    expected |= {dg.AssetKey([group, m]): group for group, models in DBT_MODELS.items() for m in models}
    expected |= {
        dg.AssetKey(["serving", "published_marts"]): "serving",
        dg.AssetKey(["serving", "funnel_report"]): "serving",
    }
    assert {key: spec.group_name for key, spec in specs.items()} == expected


def test_lineage_runs_ingest_to_staging_to_funnel_to_marts():
    specs = _specs()
    deps = {key: {d.asset_key for d in spec.deps} for key, spec in specs.items()}
    assert dg.AssetKey(["extracted", "ma_leads"]) in deps[dg.AssetKey(["staging", "stg_ma__leads"])]
    # marketing's as-of-free part (the incremental int_marketing_cycles) reads the MQL events; the stage projects it
    assert dg.AssetKey(["staging", "stg_ma__mql_events"]) in deps[dg.AssetKey(["intermediate", "int_marketing_cycles"])]
    assert dg.AssetKey(["intermediate", "int_marketing_cycles"]) in deps[dg.AssetKey(["stages", "marketing_entries"])]
    assert dg.AssetKey(["stages", "customer_success_entries"]) in deps[dg.AssetKey(["marts", "funnel_kpi_monthly"])]


def test_every_dbt_test_is_an_asset_check():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert (dg.AssetKey(["staging", "stg_ma__leads"]), "column_rules_stg_ma__leads") in checks
    assert (dg.AssetKey(["marts", "funnel_kpi_monthly"]), "assert_period_handover_identity") in checks
    for model in DBT_MODELS["intermediate"] + DBT_MODELS["stages"] + DBT_MODELS["marts"]:
        assert any(key.path[-1] == model for key, _ in checks), f"{model} has no checks"
    assert len(checks) >= 75


def test_every_writer_is_in_the_single_warehouse_pool():
    job = defs.resolve_job_def("refresh")
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    # the report reads only the published copy, never the warehouse file, so it need not wait for writers; the
    # freshness checks read only the extract files' modification times
    assert pools.pop("serving__funnel_report") is None
    assert pools.pop("extract_freshness") is None
    assert set(pools.values()) == {WAREHOUSE_POOL}, pools


def test_the_reconciliation_gate_holds_back_every_kpi_mart_in_the_one_dbt_step():
    """The gate is a dbt test on marts.reconciliation: `dbt build` skips what depends on a model whose ERROR test
    failed, so every KPI mart (the dbt tag `kpi`) must be downstream of marts/reconciliation."""
    graph = defs.resolve_asset_graph()
    gate = dg.AssetCheckKey(dg.AssetKey(["marts", "reconciliation"]), "reconciliation_gate")
    warning = dg.AssetCheckKey(dg.AssetKey(["marts", "reconciliation"]), "reconciliation_exceptions_below_tolerance")
    assert {gate, warning} <= graph.asset_check_keys
    assert not [k for k in graph.asset_check_keys if k.name == "reconciliation_gate" and k != gate]
    kpi = {key for key in graph.get_all_asset_keys() if "kpi" in graph.get(key).tags}
    assert {dg.AssetKey(["marts", "funnel_kpi_monthly"]), dg.AssetKey(["marts", "hypothesis_results"])} <= kpi
    assert not [key for key in kpi if gate.asset_key not in graph.get(key).parent_keys], "a KPI mart is not gated"
    steps = [node.name for node in defs.resolve_job_def("refresh").graph.node_dict.values()]
    assert [s for s in steps if s.startswith("dbt")] == ["dbt_models"], "one dbt invocation per run"


def test_definitions_with_a_broken_configuration_file_do_not_load(tmp_path):
    from pipeline.config.files import ConfigError
    from pipeline.config.settings import Settings
    from pipeline.definitions import build_definitions

    targets = tmp_path / "targets.yml"
    targets.write_text("conversion: {marketing: 0.1}\nlag_dayz: {marketing: 3}\nmonths: []\n")
    settings = Settings(landing_dir=str(tmp_path), warehouse_path=str(tmp_path / "w.duckdb"), targets=str(targets))
    with pytest.raises(ConfigError) as error:
        build_definitions(settings)
    assert f"{targets}, line 2: lag_dayz: unknown key (a typo?)" in str(error.value).splitlines()


def test_every_ingest_asset_has_a_freshness_check_and_a_given_up_alert_fails_alerts_job():
    graph = defs.resolve_asset_graph()
    fresh = {k.asset_key for k in graph.asset_check_keys if k.name == "freshness"}
    assert fresh == {dg.AssetKey(["extracted", e.table]) for e in ENTITIES}
    (delivery,) = [k for k in graph.asset_check_keys if k.asset_key == dg.AssetKey(["alerting", "alerts"])]
    assert graph.get_check_spec(delivery).blocking
    assert {s.name for s in defs.sensors} >= {"goal_alerts", "stale_data", "run_failure_alerts"}


def test_the_daemon_runs_refresh_and_housekeeping_daily_in_the_reporting_time_zone(tmp_path):
    """The schedules the daemon starts with, and the instance settings they run under (tick retention included)."""
    schedules = {s.name: s for s in defs.get_repository_def().schedule_defs}
    assert {s: (schedules[s].job_name, schedules[s].execution_timezone) for s in schedules} == {
        "daily_refresh": ("refresh", "Asia/Tokyo"),
        "daily_housekeeping": ("housekeeping_job", "Asia/Tokyo"),
    }
    assert all(s.default_status == dg.DefaultScheduleStatus.RUNNING for s in schedules.values())
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_settings("retention")["sensor"]["purge_after_days"]["skipped"] == 7
