"""The hypothesis_tests asset: hypotheses.yml tested against the stage tables, into analysis.hypothesis_tests.

Only the Dagster side lives here (reading the file, writing the table, the verdicts as metadata); the dbt
mart marts.hypothesis_results publishes the table.
"""

from pathlib import Path

import dagster as dg

from pipeline.analysis.counts import COLUMNS, hypothesis_rows
from pipeline.analysis.statistics import VERDICTS
from pipeline.config.hypotheses import load_hypotheses
from pipeline.config.registry import funnel
from pipeline.config.settings import WAREHOUSE_POOL, Settings
from pipeline.warehouse.layers import ANALYSIS
from pipeline.warehouse.resource import Warehouse
from pipeline.warehouse.tables import replace_table


@dg.asset(
    key=[ANALYSIS, "hypothesis_tests"],
    group_name="analysis",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "yaml"},
    deps=[dg.AssetKey(["stages", stage.table]) for stage in funnel().stages],
)
def hypothesis_tests(
    context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings
) -> dg.MaterializeResult:
    """The hypotheses of hypotheses.yml tested against the stage tables (published as marts.hypothesis_results)."""
    path = Path(settings.hypotheses)
    config = load_hypotheses(path)
    with warehouse.connect() as con:
        frame = hypothesis_rows(con, config, settings.reporting_tz)
        replace_table(con, ANALYSIS, "hypothesis_tests", frame, COLUMNS)
    if not config.hypotheses:
        context.log.info(f"{path}: no hypotheses recorded")
    summary = frame[["hypothesis_id", "before_rate", "after_rate", "difference", "p_value", "verdict"]]
    return dg.MaterializeResult(
        metadata={
            "hypotheses_file": str(path),
            "dagster/row_count": len(frame),
            **{f"verdict_{v}": int((frame["verdict"] == v).sum()) for v in VERDICTS},
            "results": dg.MetadataValue.md(summary.to_markdown(index=False, floatfmt=".4g") if len(frame) else "none"),
        }
    )
