{#-
    Expected new-business won deals and revenue of the open and the next months at the as-of instant, with an
    interval and the open month's pacing (docs/marts.md, "Forecast"), computed by the dbt Python model
    analysis.forecast_rows (pipeline/analysis/tables.py; on Spark by the analysis step with the same code, read from
    the lake: macros/lake.sql, analysis_rows); published here under a contract.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with computed as (
    select * from {{ analysis_rows('forecast_rows') }}
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
    open_pipeline,
    open_pipeline_in_month,
    business_day,
    business_days_in_month,
    usual_share_by_business_day,
    pacing_forecast
from computed
