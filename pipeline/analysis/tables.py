"""The three analysis tables (the forecast's backtest, the forecast, the hypothesis tests) from their inputs.

One implementation for both engines. On DuckDB the dbt Python models of transforms/models/analysis call these
functions with dbt's relations, inside the `dbt build`. dbt-spark runs Python models on Databricks only, so on Spark
the pipeline's analysis step (pipeline/analysis/assets.py) calls them with DuckDB views over Spark's tables and
the lake, between two dbt steps. The counting is done in SQL upstream (int_forecast_snapshots,
int_forecast_targets, the stage tables); these functions load the small results, compute, and return a relation
typed as the mart's contract types it.
"""

from pathlib import Path

import duckdb

from pipeline.analysis.counts import COLUMNS, hypothesis_rows
from pipeline.analysis.forecast import BACKTEST_COLUMNS, FORECAST_COLUMNS, backtest, forecast, pacing
from pipeline.config.hypotheses import load_hypotheses
from pipeline.warehouse.tables import typed_relation

Relation = duckdb.DuckDBPyRelation


def forecast_backtest_rows(
    con: duckdb.DuckDBPyConnection, settings: Relation, snapshots: Relation, targets: Relation
) -> Relation:
    """The forecast replayed at every past week start (pipeline/analysis/forecast.py, `backtest`)."""
    row = settings.df().iloc[0]
    frame = backtest(
        snapshots.df(),
        targets.df(),
        level=float(row["forecast_interval"]),
        min_history=int(row["forecast_min_history"]),
    )
    return typed_relation(con, "forecast_backtest_rows", frame, BACKTEST_COLUMNS).order("measure, forecast_at, horizon")


def forecast_rows(
    con: duckdb.DuckDBPyConnection,
    settings: Relation,
    as_of: Relation,
    snapshots: Relation,
    targets: Relation,
    backtest_rows: Relation,
    field_sales_entries: Relation,
    calendar: Relation,
) -> Relation:
    """The open and the next months' forecast at the as-of instant, its interval from the backtest's errors, and
    the open month's pacing from the wins so far against the business calendar."""
    row, instant = settings.df().iloc[0], as_of.df().iloc[0]
    frame = forecast(
        snapshots.df(),
        targets.df(),
        backtest_rows.df(),
        level=float(row["forecast_interval"]),
        min_history=int(row["forecast_min_history"]),
    )
    won_on = f"cast(timezone('{instant['reporting_tz']}', advanced_at) as date)"
    wins = (
        field_sales_entries.filter("advanced_at is not null")
        .aggregate(f"{won_on} as won_on, count(*) as deals, sum(amount) as amount", won_on)
        .df()
    )
    pace = pacing(wins, calendar.df(), instant["as_of"].tz_convert(instant["reporting_tz"]).date())
    open_month = frame["horizon"] == 0
    share = frame["measure"].map({"won_deals": pace["won_deals"], "revenue": pace["revenue"]})
    frame = frame.assign(
        business_day=pace["business_day"],
        business_days_in_month=pace["business_days_in_month"],
        usual_share_by_business_day=share,
        pacing_forecast=frame["already_won"] / share,
    )
    for column in ("business_day", "business_days_in_month", "usual_share_by_business_day", "pacing_forecast"):
        frame[column] = frame[column].where(open_month)
    return typed_relation(con, "forecast_rows", frame, FORECAST_COLUMNS).order("measure, horizon")


def hypothesis_tests(con: duckdb.DuckDBPyConnection, hypotheses: Path, reporting_tz: str) -> Relation:
    """Each hypothesis of the file tested on the stage tables, which `con` reads as `stages.<stage>_entries` and
    the as-of instant as `intermediate.int_as_of` (pipeline/analysis/counts.py)."""
    frame = hypothesis_rows(con, load_hypotheses(hypotheses), reporting_tz)
    return typed_relation(con, "hypothesis_rows", frame, COLUMNS)
