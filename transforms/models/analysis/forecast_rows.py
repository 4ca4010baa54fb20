"""Published as marts.forecast: expected won deals and revenue of the open and the next months at the as-of instant, with an
interval from the backtest's errors and the open month's pacing (pipeline/analysis/forecast.py).

A dbt-duckdb Python model after analysis.forecast_backtest_rows, whose errors make its interval; the counting is done
in SQL (int_forecast_snapshots, int_forecast_targets).
"""

from pipeline.analysis.forecast import FORECAST_COLUMNS, forecast, pacing
from pipeline.warehouse.tables import typed_relation


def model(dbt, session):
    settings = dbt.ref("stg_reference__sales_pipeline_settings").df().iloc[0]
    as_of = dbt.ref("int_as_of").df().iloc[0]
    frame = forecast(
        dbt.ref("int_forecast_snapshots").df(),
        dbt.ref("int_forecast_targets").df(),
        dbt.ref("forecast_backtest_rows").df(),
        level=float(settings["forecast_interval"]),
        min_history=int(settings["forecast_min_history"]),
    )
    won_on = f"cast(timezone('{as_of['reporting_tz']}', advanced_at) as date)"
    wins = (
        dbt.ref("field_sales_entries")
        .filter("advanced_at is not null")
        .aggregate(f"{won_on} as won_on, count(*) as deals, sum(amount) as amount", won_on)
        .df()
    )
    pace = pacing(
        wins,
        dbt.ref("stg_reference__business_calendar").df(),
        as_of["as_of"].tz_convert(as_of["reporting_tz"]).date(),
    )
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
    return typed_relation(session, "forecast_rows", frame, FORECAST_COLUMNS).order("measure, horizon")
