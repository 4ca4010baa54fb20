with source as (
    select * from {{ source('reference', 'sales_pipeline_settings') }}
)

select
    week_start,
    coverage_minimum,
    coverage_months,
    forecast_interval,
    forecast_min_history
from source
