"""Reconciliation by id: injected sync faults are found exactly, and the gate blocks the KPI marts."""

import dagster as dg
import pandas as pd
import pytest

KPI_MARTS = {dg.AssetKey(["marts", "funnel_kpi_monthly"]), dg.AssetKey(["marts", "funnel_kpi_fiscal_quarterly"])}
REASONS = {"not_synced", "duplicate", "time_out_of_order", "late_sync"}


def _keys(frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(handoff, reason, id): the upstream id for records missing downstream, else the downstream id."""
    ids = frame["upstream_id"].where(frame["reason"] == "not_synced", frame["downstream_id"])
    return set(zip(frame["handoff"], frame["reason"], ids))


def _gate_results(run) -> dict[dg.AssetKey, dg.AssetCheckEvaluation]:
    return {
        e.event_specific_data.asset_key: e.event_specific_data
        for e in run.result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "reconciliation_gate"
    }


def _materialized(run) -> set[dg.AssetKey]:
    return {e.asset_key for e in run.result.get_asset_materialization_events()}


def test_clean_demo_data_reconciles_with_no_exception(demo_run):
    assert demo_run.query("select count(*) as n from marts.reconciliation_exceptions")["n"][0] == 0
    statuses = demo_run.query("select distinct status from marts.reconciliation")["status"]
    assert list(statuses) == ["ok"]
    gates = _gate_results(demo_run)
    assert len(gates) == 6 and all(g.passed for g in gates.values())


def test_the_hand_made_duplicate_sfa_lead_is_the_only_exception_and_a_warning(edge_run):
    exceptions = edge_run.query("select handoff, reason, downstream_id from marts.reconciliation_exceptions")
    assert exceptions.values.tolist() == [["marketing_to_inside_sales", "duplicate", "00QEDGE0000002"]]
    gates = _gate_results(edge_run)
    inside_sales = gates[dg.AssetKey(["stages", "inside_sales_entries"])]
    assert not inside_sales.passed and inside_sales.severity == dg.AssetCheckSeverity.WARN
    assert gates[dg.AssetKey(["stages", "customer_success_entries"])].passed


@pytest.mark.parametrize("fixture", ["faults_1pct", "faults_01pct"])
def test_exceptions_are_exactly_the_injected_faults(request, fixture):
    run, manifest = request.getfixturevalue(fixture)
    exceptions = run.query("select * from marts.reconciliation_exceptions")
    assert set(manifest["fault"]) == {
        "not_synced",
        "duplicate_lead",
        "no_opportunity",
        "not_onboarded",
        "out_of_order",
        "late_sync",
    }
    assert set(manifest["handoff"]) == set(exceptions["handoff"])
    found, injected = _keys(exceptions), _keys(manifest)
    assert len(found) == len(exceptions), "one exception row per record"
    assert found == injected, f"missed {sorted(injected - found)[:5]}, extra {sorted(found - injected)[:5]}"
    assert set(exceptions["reason"]) == REASONS


def test_reconciliation_counts_agree_with_the_exceptions(faults_1pct):
    run, _ = faults_1pct
    recon = run.query("select * from marts.reconciliation")
    exceptions = run.query("select handoff, reason, count(*) as n from marts.reconciliation_exceptions group by all")
    per_reason = exceptions.set_index(["handoff", "reason"])["n"]
    totals = recon.groupby("handoff")[["missing_downstream", "duplicated", "out_of_order", "late_synced"]].sum()
    for handoff, row in totals.iterrows():
        assert row["missing_downstream"] == per_reason.get((handoff, "not_synced"), 0)
        assert row["duplicated"] == per_reason.get((handoff, "duplicate"), 0)
        assert row["out_of_order"] == per_reason.get((handoff, "time_out_of_order"), 0)
        assert row["late_synced"] == per_reason.get((handoff, "late_sync"), 0)
    assert (recon["matched"] + recon["missing_downstream"] == recon["upstream_count"]).all()
    unmatched = recon["missing_downstream"] + recon["missing_upstream"] + recon["duplicated"]
    share = unmatched / recon[["upstream_count", "downstream_count"]].max(axis=1).where(lambda s: s > 0)
    expected_status = (
        share.fillna(0)
        .gt(recon["tolerance"])
        .map({True: "error", False: None})
        .fillna((unmatched + recon["out_of_order"] + recon["late_synced"]).gt(0).map({True: "warn", False: "ok"}))
    )
    assert (recon["status"] == expected_status).all()


def test_the_gate_blocks_the_kpi_marts_at_1_percent(faults_1pct):
    run, _ = faults_1pct
    assert not run.result.success
    gates = _gate_results(run)
    stage_gates = {k: g for k, g in gates.items() if k.path[0] == "stages"}
    assert len(stage_gates) == 4
    assert all(not g.passed and g.severity == dg.AssetCheckSeverity.ERROR for g in stage_gates.values())
    assert not (_materialized(run) & KPI_MARTS), "KPI marts must not be built from unreconciled data"
    metadata = stage_gates[dg.AssetKey(["stages", "customer_success_entries"])].metadata
    error_months = run.query(
        "select strftime(month, '%Y-%m') as m from marts.reconciliation "
        "where status = 'error' and handoff = 'field_sales_to_customer_success'"
    )["m"]
    assert metadata["months_over_tolerance"].value == len(error_months) > 0
    worst = metadata["worst_months"].value
    assert "field_sales_to_customer_success" in worst and error_months.iloc[0] in worst


def test_the_gate_passes_at_0_1_percent_and_the_kpi_marts_are_built(faults_01pct):
    run, manifest = faults_01pct
    assert len(manifest) > 0
    gates = _gate_results(run)
    assert all(g.passed or g.severity == dg.AssetCheckSeverity.WARN for g in gates.values())
    assert any(not g.passed for g in gates.values()), "exceptions below the tolerance are a WARN"
    assert run.result.success and _materialized(run) >= KPI_MARTS
    assert run.query("select count(*) as n from marts.reconciliation where status = 'error'")["n"][0] == 0
