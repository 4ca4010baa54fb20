-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
{{ funnel_kpis('month') }}
order by view, period_start, stage_order  -- noqa: RF02
