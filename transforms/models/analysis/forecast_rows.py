"""Published as marts.forecast: expected won deals and revenue of the open and the next months at the as-of instant,
with an interval from the backtest's errors and the open month's pacing.

A dbt-duckdb Python model after analysis.forecast_backtest_rows, whose errors make its interval; the counting is done
in SQL (int_forecast_snapshots, int_forecast_targets); the computation is pipeline/analysis/tables.py, which the
Spark run calls outside dbt with the same inputs.
"""

from pipeline.analysis.tables import forecast_rows


def model(dbt, session):
    return forecast_rows(
        session,
        dbt.ref("stg_reference__sales_pipeline_settings"),
        dbt.ref("int_as_of"),
        dbt.ref("int_forecast_snapshots"),
        dbt.ref("int_forecast_targets"),
        dbt.ref("forecast_backtest_rows"),
        dbt.ref("field_sales_entries"),
        dbt.ref("stg_reference__business_calendar"),
    )
