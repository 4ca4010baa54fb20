{#-
    The forecast replayed at every past week start against what then happened (docs/marts.md, "Forecast"),
    computed by the dbt Python model analysis.forecast_backtest_rows (pipeline/analysis/tables.py) from
    intermediate.int_forecast_snapshots and int_forecast_targets (on Spark by the analysis step with the same code,
    read from the lake: macros/lake.sql, analysis_rows); published here under a contract.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with computed as (
    select * from {{ analysis_rows('forecast_backtest_rows') }}
)

select
    forecast_at,
    forecast_date,
    horizon,
    target_month,
    measure,
    already_won,
    from_pipeline,
    from_not_yet_created,
    forecast,
    interval_level,
    lower,
    upper,
    interval_method,
    past_errors,
    win_rate_observations,
    backed_off_share,
    actual,
    error,
    absolute_error,
    hit,
    horizon_points,
    horizon_coverage,
    horizon_mean_absolute_error,
    horizon_mean_error
from computed
