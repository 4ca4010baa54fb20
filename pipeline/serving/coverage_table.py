"""The coverage lines `make run` prints: the open and the next month of marts.pipeline_coverage.

A field-sales manager's first question (パイプラインカバレッジ) is whether the open pipeline dated into a month is
enough for what is still to win there; the mart answers it for coverage_months months, the run prints the two a
weekly meeting acts on. Kept apart from pipeline/run.py so the text is tested on a warehouse alone.
"""

from pipeline.config.settings import Settings
from pipeline.figures import number, times
from pipeline.warehouse.marts import marts_on
from pipeline.warehouse.resource import Warehouse

#: The months printed, counted from the open month (the mart has coverage_months of them).
MONTHS = 2


def coverage_table(settings: Settings) -> str:
    """The open and next month's pipeline coverage as a text table, or one line when the mart is empty."""
    currency = settings.reporting_currency
    with Warehouse.of(settings).connect(read_only=True) as con, marts_on(con, settings) as marts:
        rows = con.execute(
            f"""
            select month, pipeline_count, pipeline_amount, won_count, target_count, remaining_count,
                   coverage_remaining_count, coverage_remaining_amount, status, overdue_count, undated_count,
                   coverage_minimum
            from {marts}.pipeline_coverage where month_offset < ? order by month
            """,
            [MONTHS],
        ).fetchall()
    if not rows:
        return "marts.pipeline_coverage is empty"
    head = (
        f"{'month':<8} {'pipeline':>8} {'amount':>15} {'won':>5} {'target':>7} {'to win':>7}"
        f" {'coverage':>9} {'amount cov.':>12}  status"
    )
    lines = [
        f"Pipeline coverage: open new-business deals by expected close month ÷ the target still to win "
        f"(amounts in {currency}; minimum {rows[0][11]:g}x, sales_pipeline.yml).",
        head,
        "-" * len(head),
    ]
    for month, count, amount, won, target, remaining, coverage, amount_coverage, status, *_ in rows:
        lines.append(
            f"{month:%Y-%m} {count:>8,} {amount:>15,.0f} {won:>5,} {number(target):>7} {number(remaining):>7}"
            f" {times(coverage):>9} {times(amount_coverage):>12}  {status}"
        )
    overdue, undated = rows[0][9], rows[0][10]
    if overdue or undated:
        lines.append(
            f"Not dated into a month: {overdue:,} open deal(s) with a close date before {rows[0][0]:%Y-%m}, "
            f"{undated:,} without one (marts.pipeline_coverage)."
        )
    return "\n".join(lines)
