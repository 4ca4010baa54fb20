{#-
    Every hand-over between two stages paired by id across the system boundary, with the reason
    when a pair does not reconcile. The basis of marts.reconciliation and its exceptions.
-#}

with pairs as (
    {{ handover_pairs('marketing_to_inside_sales', 1,
        'stage_marketing', 'mql_event_id', 'mql_event_id',
        'stage_inside_sales', 'sfa_lead_id', 'mql_event_id') }}
    union all
    {{ handover_pairs('inside_sales_to_field_sales', 2,
        'stage_inside_sales', 'sfa_lead_id', 'sfa_lead_id',
        'stage_field_sales', 'opportunity_id', 'sfa_lead_id') }}
    union all
    {{ handover_pairs('field_sales_to_customer_success', 3,
        'stage_field_sales', 'opportunity_id', 'opportunity_id',
        'stage_customer_success', 'account_id', 'won_opportunity_id') }}
)

select
    *,
    case
        when upstream_id is null then 'orphan_downstream'
        when downstream_id is null then 'not_synced'
        when pair_rank > 1 then 'duplicate'
        when downstream_received_at < upstream_at then 'time_out_of_order'
        when downstream_received_at > upstream_at + to_microseconds(cast(grace_period_hours * 3600e6 as bigint))
            then 'late_sync'
    end as reason
from pairs
