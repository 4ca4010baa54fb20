{#-
    Every hand-over of the registry (macros/registry.sql) paired by id across the system boundary, with
    the reason when a pair does not reconcile. The basis of marts.reconciliation and its exceptions.
-#}

with rules as (
    select * from {{ ref('stg_reference__reconciliation_rules') }}
),

pairs as (
    {%- for handover in funnel_handovers() %}
    {{ handover_pairs(handover) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    pairs.*,
    rules.grace_period_hours,
    case
        when pairs.upstream_id is null then 'orphan_downstream'
        when pairs.downstream_id is null then 'not_synced'
        when pairs.pair_rank > 1 then 'duplicate'
        when pairs.downstream_received_at < pairs.upstream_at then 'time_out_of_order'
        when pairs.downstream_received_at
            > {{ add_seconds('pairs.upstream_at', 'rules.grace_period_hours * 3600') }}
            then 'late_sync'
    end as reason
from pairs
inner join rules on rules.handoff = pairs.handoff
