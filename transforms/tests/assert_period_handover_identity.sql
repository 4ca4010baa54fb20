{{ config(severity='warn') }}
{#-
    THE MODEL's chain: in the period view, the goal of stage N and the base_handover of stage N+1 count
    the same hand-overs. A month where they differ has records missing or duplicated on one side of a
    system boundary (an MQL never synced, a converted lead without its opportunity, a won deal never
    onboarded). Warns with those months; reconciliation by id tells which records.
-#}
with kpis as (
    select * from {{ ref('funnel_kpi_monthly') }}
    where view = 'period'
)

select
    upstream.period_start,
    upstream.stage as upstream_stage,
    downstream.stage as downstream_stage,
    upstream.goal as upstream_goal,
    downstream.base_handover as downstream_base_handover
from kpis as upstream
inner join kpis as downstream
    on downstream.period_start = upstream.period_start
    and downstream.stage_order = upstream.stage_order + 1
where upstream.goal <> downstream.base_handover
