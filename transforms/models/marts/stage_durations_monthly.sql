{#-
    Per sales stage and month of exit (reporting time zone): the spells of opportunity_stage_durations that ended
    in the month, their median and 90th-percentile days in stage (quantile_cont: linear interpolation between the
    two nearest ranks, as pandas' default quantile) and the moves backwards among them.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with exited as (
    select
        {{ month_start('exited_at') }} as period_start,
        stage_name,
        position,
        days_in_stage,
        moved_backwards
    from {{ ref('opportunity_stage_durations') }}
    where exited_at is not null
)

select
    exited.period_start,
    exited.stage_name,
    exited.position,
    -- the month has ended by the as-of instant (a date's as-of is its last microsecond)
    as_of.as_of >= {{ date_to_instant('exited.period_start + interval 1 month') }} - interval 1 microsecond
        as is_complete,
    cast(count(*) as bigint) as spells,
    {{ continuous_quantile('exited.days_in_stage', 0.5) }} as median_days,
    {{ continuous_quantile('exited.days_in_stage', 0.9) }} as p90_days,
    cast({{ count_where('exited.moved_backwards') }} as bigint) as backward_moves
from exited
cross join {{ ref('int_as_of') }} as as_of
group by exited.period_start, exited.stage_name, exited.position, as_of.as_of
order by exited.period_start, exited.position nulls last, exited.stage_name
