"""The Dagster definitions load, with every asset, check, group and the warehouse pool."""

import dagster as dg

from pipeline.ingest.contract import ENTITIES
from pipeline.definitions import defs
from pipeline.config.settings import WAREHOUSE_POOL

DBT_MODELS = {
    "staging": ["stg_ma__leads", "stg_ma__mql_events", "stg_sfa__leads", "stg_sfa__opportunities",
                "stg_crm__customers", "stg_crm__contracts", "stg_goals__funnel_targets", "stg_goals__business_calendar"],
    "funnel": ["int_as_of", "int_marketing_entries", "int_lead_handovers", "int_customer_first_terms",
               "int_handover_pairs", "int_contracts_as_of", "int_account_mrr_monthly",
               "stage_marketing", "stage_inside_sales", "stage_field_sales", "stage_customer_success"],
    "marts": ["funnel_kpi_monthly", "funnel_kpi_fiscal_quarterly", "funnel_bottleneck", "funnel_targets", "stage_velocity",
              "speed_to_lead", "reconciliation", "reconciliation_exceptions",
              "funnel_kpi_by_slice", "reapproach_list", "reapproach_outcomes", "customer_success_monthly",
              "customer_retention_cohorts", "score_threshold_whatif", "hypothesis_results"],
}


def _specs():
    return {spec.key: spec for spec in defs.resolve_all_asset_specs()}


def test_definitions_load_with_every_asset_in_its_group():
    dg.Definitions.validate_loadable(defs)
    specs = _specs()
    expected = {dg.AssetKey(["raw", e.table]): "ingest" for e in ENTITIES}
    expected |= {dg.AssetKey(["raw", "funnel_targets"]): "goals", dg.AssetKey(["raw", "business_calendar"]): "goals",
                 dg.AssetKey(["marts", "alerts"]): "alerts", dg.AssetKey(["raw", "hypothesis_tests"]): "improvement"}
    expected |= {dg.AssetKey([group, m]): group for group, models in DBT_MODELS.items() for m in models}
    expected |= {dg.AssetKey(["serving", "published_marts"]): "serving", dg.AssetKey(["serving", "funnel_report"]): "serving"}
    assert {key: spec.group_name for key, spec in specs.items()} == expected


def test_lineage_runs_ingest_to_staging_to_funnel_to_marts():
    specs = _specs()
    deps = {key: {d.asset_key for d in spec.deps} for key, spec in specs.items()}
    assert dg.AssetKey(["raw", "ma_leads"]) in deps[dg.AssetKey(["staging", "stg_ma__leads"])]
    assert dg.AssetKey(["staging", "stg_ma__mql_events"]) in deps[dg.AssetKey(["funnel", "stage_marketing"])]
    assert dg.AssetKey(["funnel", "stage_customer_success"]) in deps[dg.AssetKey(["marts", "funnel_kpi_monthly"])]


def test_every_dbt_test_is_an_asset_check():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert (dg.AssetKey(["staging", "stg_ma__leads"]), "unique_stg_ma__leads_ma_lead_id") in checks
    assert (dg.AssetKey(["marts", "funnel_kpi_monthly"]), "assert_period_handover_identity") in checks
    for model in DBT_MODELS["funnel"] + DBT_MODELS["marts"]:
        assert any(key == dg.AssetKey(["funnel", model]) or key == dg.AssetKey(["marts", model])
                   for key, _ in checks), f"{model} has no checks"
    assert len(checks) >= 75


def test_every_writer_is_in_the_single_warehouse_pool():
    job = defs.resolve_job_def("funnel_job")
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    # the report reads only the published copy, never the warehouse file, so it need not wait for writers
    assert pools.pop("serving__funnel_report") is None
    assert set(pools.values()) == {WAREHOUSE_POOL}, pools


def test_the_reconciliation_gate_is_a_blocking_check_on_stage_tables_and_kpi_marts():
    graph = defs.resolve_asset_graph()
    gated = {k.asset_key for k in graph.asset_check_keys if k.name == "reconciliation_gate"}
    assert gated == {dg.AssetKey(["funnel", f"stage_{s}"]) for s in
                     ("marketing", "inside_sales", "field_sales", "customer_success")} | {
                    dg.AssetKey(["marts", "funnel_kpi_monthly"]), dg.AssetKey(["marts", "funnel_kpi_fiscal_quarterly"])}
    for key in graph.asset_check_keys:
        if key.name == "reconciliation_gate":
            assert graph.get_check_spec(key).blocking, key
