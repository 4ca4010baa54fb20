"""The goal and pipeline coverage statuses the alerts watch, read from the published copy of the marts.

It reads marts.duckdb, never the warehouse file: alerts are about what was published, and the warehouse
may be held by a run in progress.
"""

from pathlib import Path

import duckdb


def read_statuses(published: Path, months: int) -> list[dict]:
    """Period-view rows of the latest `months` months, with the month's bottleneck stage."""
    with duckdb.connect(str(published), read_only=True) as con:
        return (
            con.execute(
                """
            with latest as (
                select distinct period_start from main.funnel_kpi_monthly
                where view = 'period' order by period_start desc limit ?
            )
            select strftime(k.period_start, '%Y-%m') as month, k.stage, k.status, k.goal, k.target_goal,
                   k.goal_attainment, k.projected_goal, k.business_days, k.business_days_elapsed,
                   (select string_agg(b.stage, ', ') from main.funnel_bottleneck as b
                    where b.period_start = k.period_start and b.is_bottleneck) as bottleneck
            from main.funnel_kpi_monthly as k inner join latest using (period_start)
            where k.view = 'period'
            order by k.period_start, k.stage_order
            """,
                [months],
            )
            .df()
            .to_dict("records")
        )


def read_coverage(published: Path) -> list[dict]:
    """Every month row of marts.pipeline_coverage (the open month and the next coverage_months - 1); none when the
    published file predates the mart."""
    with duckdb.connect(str(published), read_only=True) as con:
        present = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = 'pipeline_coverage'"
        ).fetchone()[0]
        if not present:
            return []
        return (
            con.execute(
                """
            select strftime(month, '%Y-%m') as month, status, pipeline_count, pipeline_amount, won_count,
                   target_count, remaining_count, coverage_remaining_count, coverage_remaining_amount,
                   coverage_minimum, overdue_count, undated_count
            from main.pipeline_coverage
            order by month
            """
            )
            .df()
            .to_dict("records")
        )
