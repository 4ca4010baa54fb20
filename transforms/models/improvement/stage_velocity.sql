{#-
    How long entries stay in each stage, per month of entry: mean, median and 90th percentile days in
    stage (to the exit, or to the as-of instant while still open), and the open entries with their age.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with stage_rows as (
    {{ union_stage_tables('entered_month, outcome, days_in_stage') }}
)

select
    entered_month as period_start,
    stage,
    stage_order,
    cast(count(*) as bigint) as entries,
    cast({{ count_where("outcome <> 'open'") }} as bigint) as exited,
    avg(days_in_stage) as mean_days_in_stage,
    median(days_in_stage) as median_days_in_stage,
    {{ continuous_quantile('days_in_stage', 0.9) }} as p90_days_in_stage,
    cast({{ count_where("outcome = 'open'") }} as bigint) as still_open,
    avg(case when outcome = 'open' then days_in_stage end) as mean_open_age_days
from stage_rows
group by all
order by period_start, stage_order
