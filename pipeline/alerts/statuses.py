"""The goal statuses the alerts watch, read from the published copy of the marts.

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
