"""The forecast replayed at every past week start (pipeline/analysis/forecast.py), published as
marts.forecast_backtest.

A dbt-duckdb Python model because the backtest is sequential: each week's interval comes from the errors of the
weeks before it. The counting is done in SQL (int_forecast_snapshots, int_forecast_targets, small aggregated
tables); this model only loads them, loops over the weeks and types the result.
"""

from pipeline.analysis.forecast import BACKTEST_COLUMNS, backtest
from pipeline.warehouse.tables import typed_relation


def model(dbt, session):
    settings = dbt.ref("stg_reference__sales_pipeline_settings").df().iloc[0]
    frame = backtest(
        dbt.ref("int_forecast_snapshots").df(),
        dbt.ref("int_forecast_targets").df(),
        level=float(settings["forecast_interval"]),
        min_history=int(settings["forecast_min_history"]),
    )
    return typed_relation(session, "forecast_backtest_rows", frame, BACKTEST_COLUMNS).order(
        "measure, forecast_at, horizon"
    )
