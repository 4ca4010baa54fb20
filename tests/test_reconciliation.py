"""Reconciliation by id: injected sync faults are found exactly, and the gate blocks the KPI marts."""

import dagster as dg
import pandas as pd
import pytest

from pipeline.outcome import outcome_of

KPI_MARTS = {dg.AssetKey(["marts", "funnel_kpi_monthly"]), dg.AssetKey(["marts", "funnel_kpi_fiscal_quarterly"])}
REASONS = {"not_synced", "duplicate", "time_out_of_order", "late_sync"}


def _keys(frame: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(handoff, reason, id): the upstream id for records missing downstream, else the downstream id."""
    ids = frame["upstream_id"].where(frame["reason"] == "not_synced", frame["downstream_id"])
    return set(zip(frame["handoff"], frame["reason"], ids))


RECONCILIATION = dg.AssetKey(["marts", "reconciliation"])
#: The two dbt tests on marts.reconciliation (transforms/models/reconciliation/reconciliation.yml).
GATE, BELOW_TOLERANCE = "reconciliation_gate", "reconciliation_exceptions_below_tolerance"


def _checks(run) -> dict[str, dg.AssetCheckEvaluation]:
    """The gate's checks on marts/reconciliation, by name."""
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in run.result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.asset_key == RECONCILIATION
        and e.event_specific_data.check_name in (GATE, BELOW_TOLERANCE)
    }


def _months(run, status: str) -> int:
    return run.query(f"select count(*) as n from marts.reconciliation where status = '{status}'")["n"][0]


def _materialized(run) -> set[dg.AssetKey]:
    return {e.asset_key for e in run.result.get_asset_materialization_events()}


def test_clean_demo_data_reconciles_with_no_exception(demo_run):
    assert demo_run.query("select count(*) as n from marts.reconciliation_exceptions")["n"][0] == 0
    statuses = demo_run.query("select distinct status from marts.reconciliation")["status"]
    assert list(statuses) == ["ok"]
    checks = _checks(demo_run)
    assert set(checks) == {GATE, BELOW_TOLERANCE} and all(c.passed for c in checks.values())


def test_the_hand_made_duplicate_sfa_lead_is_the_only_exception_and_a_warning(edge_run):
    exceptions = edge_run.query("select handoff, reason, downstream_id from marts.reconciliation_exceptions")
    assert exceptions.values.tolist() == [["marketing_to_inside_sales", "duplicate", "00QEDGE0000002"]]
    checks = _checks(edge_run)
    assert checks[GATE].passed
    warning = checks[BELOW_TOLERANCE]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    # the failing rows are the months and hand-overs with exceptions: here the one month of the duplicate
    assert warning.metadata["dagster_dbt/failed_row_count"].value == _months(edge_run, "warn") == 1
    assert edge_run.result.success


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
    gate = _checks(run)[GATE]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    # the failing rows are the months and hand-overs over the tolerance
    failing = _months(run, "error")
    assert gate.metadata["dagster_dbt/failed_row_count"].value == failing > 0
    # and `make run` names the test that stopped the dbt build, not only dagster-dbt's "the dbt CLI process failed"
    said = f"test reconciliation_gate failed: Got {failing} result{'s' if failing > 1 else ''}, configured to fail"
    outcome = outcome_of(run.result)
    assert any(said in line for line in "\n".join(outcome.lines()).splitlines()), outcome
    assert not (_materialized(run) & KPI_MARTS), "KPI marts must not be built from unreconciled data"
    built = set(run.query("select table_name from duckdb_tables() where schema_name = 'marts'")["table_name"])
    assert not built & {key.path[-1] for key in KPI_MARTS}, "a KPI mart table was written"
    assert {"reconciliation", "reconciliation_exceptions"} <= built


def test_the_gate_passes_at_0_1_percent_and_the_kpi_marts_are_built(faults_01pct):
    run, manifest = faults_01pct
    assert len(manifest) > 0
    checks = _checks(run)
    assert checks[GATE].passed
    warning = checks[BELOW_TOLERANCE]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN, "exceptions below it are a WARN"
    assert warning.metadata["dagster_dbt/failed_row_count"].value == _months(run, "warn") > 0
    assert run.result.success and _materialized(run) >= KPI_MARTS
    assert _months(run, "error") == 0
