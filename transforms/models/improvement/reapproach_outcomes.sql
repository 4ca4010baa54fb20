{#-
    How past re-approaches went, per kind (lost opportunity, recycled lead, disqualified lead) and reason:
    how many were lost, how many were approached again, how many of those became won deals, and how long
    after the loss the re-approach came. The evidence for tuning the waits in improvement.yml.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with reapproaches as (
    select * from {{ ref('reapproach_list') }}
)

select
    kind,
    reason,
    cast(count(*) as bigint) as lost,
    cast({{ count_where("status = 'eligible'") }} as bigint) as eligible_now,
    cast({{ count_where("status = 'reapproached'") }} as bigint) as reapproached,
    cast({{ count_where("reapproach_won") }} as bigint) as reapproach_won,
    cast({{ count_where("reapproach_won") }} as double)
    / nullif({{ count_where("status = 'reapproached'") }}, 0) as reapproach_win_rate,
    median({{ days_between('lost_at', 'reapproached_at') }}) as median_days_to_reapproach,
    max(wait_days) as wait_days
from reapproaches
group by all
order by kind, reason
