"""The forecast replayed at every past week start (pipeline/analysis/forecast.py), published as
marts.forecast_backtest.

A dbt-duckdb Python model because the backtest is sequential: each week's interval comes from the errors of the
weeks before it. The counting is done in SQL (int_forecast_snapshots, int_forecast_targets, small aggregated
tables); this model only loads them, loops over the weeks and types the result.
"""

from pipeline.analysis.forecast import BACKTEST_COLUMNS, backtest


def model(dbt, session):
    settings = dbt.ref("stg_reference__sales_pipeline_settings").df().iloc[0]
    frame = backtest(
        dbt.ref("int_forecast_snapshots").df(),
        dbt.ref("int_forecast_targets").df(),
        level=float(settings["forecast_interval"]),
        min_history=int(settings["forecast_min_history"]),
    )
    session.register("forecast_backtest_rows", frame[list(BACKTEST_COLUMNS)])
    typed = ", ".join(f"cast({name} as {kind}) as {name}" for name, kind in BACKTEST_COLUMNS.items())
    return session.sql(f"select {typed} from forecast_backtest_rows order by measure, forecast_at, horizon")
