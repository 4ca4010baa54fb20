"""Data-quality gates: reconciliation of every hand-over by id, as blocking Dagster asset checks.

marts.reconciliation (dbt) counts, per month and hand-over, the records on both sides of each system
boundary that match by id. The gate fails with ERROR severity when any month's unmatched share exceeds
the hand-over's tolerance (quality.yml): the check on the stage tables then keeps the KPI marts from
being built in that run, and the check on the KPI marts keeps anything downstream of them from using them.
Below the tolerance, any exception is a WARN. The metadata names the worst months and hand-overs.
"""

from collections.abc import Iterable

import dagster as dg

from pipeline.config.registry import funnel
from pipeline.config.settings import WAREHOUSE_POOL
from pipeline.warehouse.resource import Warehouse

RECONCILIATION = dg.AssetKey(["marts", "reconciliation"])
GATE = "reconciliation_gate"
#: Each stage table and the hand-overs of the registry it takes part in.
STAGE_HANDOFFS = {stage.table: list(funnel().handovers_of(stage.name)) for stage in funnel().stages}
KPI_MARTS = ["funnel_kpi_monthly", "funnel_kpi_fiscal_quarterly"]
ALL_HANDOFFS = list(funnel().handover_names)
WORST = 10


def gate_result(warehouse: Warehouse, asset_key: dg.AssetKey, handoffs: list[str]) -> dg.AssetCheckResult:
    """Evaluate the reconciliation of `handoffs` for the check on `asset_key`."""
    placeholders = ", ".join("?" for _ in handoffs)
    with warehouse.connect() as con:
        months = con.execute(
            f"""
            select strftime(month, '%Y-%m') as month, handoff, upstream_count, downstream_count, missing_downstream,
                   missing_upstream, duplicated, out_of_order, late_synced, round(unmatched_share, 5) as unmatched_share,
                   tolerance, status
            from marts.reconciliation
            where handoff in ({placeholders}) and status <> 'ok'
            order by status = 'error' desc, unmatched_share desc, month desc, handoff_order
            """,
            handoffs,
        ).df()
        totals = con.execute(
            f"select status, count(*) from marts.reconciliation where handoff in ({placeholders}) group by status",
            handoffs,
        ).fetchall()
    by_status = {status: count for status, count in totals}
    errors, warnings = by_status.get("error", 0), by_status.get("warn", 0)
    worst = months.head(WORST)
    summary = (
        "; ".join(
            f"{r.month} {r.handoff}: {r.unmatched_share:.2%} unmatched (missing downstream "
            f"{r.missing_downstream}, missing upstream {r.missing_upstream}, duplicated {r.duplicated})"
            for r in worst.itertuples()
            if r.status == "error"
        )
        or "no month over tolerance"
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=GATE,
        passed=errors == 0 and warnings == 0,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=summary,
        metadata={
            "handoffs": dg.MetadataValue.json(handoffs),
            "months_over_tolerance": errors,
            "months_with_exceptions": errors + warnings,
            "months_checked": sum(by_status.values()),
            "worst_months": dg.MetadataValue.md(worst.to_markdown(index=False) if len(worst) else "none"),
            "details": dg.MetadataValue.md(
                "Records: `select * from marts.reconciliation_exceptions where handoff = '...' and month = '...'`"
            ),
        },
    )


def _specs(assets: dict[str, list[str]], schema: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            GATE,
            asset=dg.AssetKey([schema, name]),
            blocking=True,
            additional_deps=[RECONCILIATION],
            description="Hand-overs touching this table reconcile by id within the tolerance of quality.yml; "
            "ERROR (blocking) above it, WARN for any exception below it.",
        )
        for name in assets
    ]


@dg.multi_asset_check(specs=_specs(STAGE_HANDOFFS, "stages"), can_subset=True, pool=WAREHOUSE_POOL)
def stage_reconciliation_gate(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterable[dg.AssetCheckResult]:
    """The reconciliation gate on the stage tables; an ERROR keeps the KPI marts from being built."""
    for key in context.selected_asset_check_keys:
        yield gate_result(warehouse, key.asset_key, STAGE_HANDOFFS[key.asset_key.path[-1]])


@dg.multi_asset_check(specs=_specs(dict.fromkeys(KPI_MARTS), "marts"), can_subset=True, pool=WAREHOUSE_POOL)
def kpi_reconciliation_gate(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> Iterable[dg.AssetCheckResult]:
    """The reconciliation gate on the KPI marts: anything built from them waits for it."""
    for key in context.selected_asset_check_keys:
        yield gate_result(warehouse, key.asset_key, ALL_HANDOFFS)


quality_checks = [stage_reconciliation_gate, kpi_reconciliation_gate]
