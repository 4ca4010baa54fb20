"""The forecast replayed at every past week start, published as marts.forecast_backtest.

A dbt-duckdb Python model because the backtest is sequential: each week's interval comes from the errors of the
weeks before it. The counting is done in SQL (int_forecast_snapshots, int_forecast_targets, small aggregated
tables); the computation is pipeline/analysis/tables.py, which the Spark run calls outside dbt with the same inputs.
"""

from pipeline.analysis.tables import forecast_backtest_rows


def model(dbt, session):
    return forecast_backtest_rows(
        session,
        dbt.ref("stg_reference__sales_pipeline_settings"),
        dbt.ref("int_forecast_snapshots"),
        dbt.ref("int_forecast_targets"),
    )
