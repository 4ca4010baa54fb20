{#-
    Pairs the records on both sides of one hand-over by id. upstream: the stage's advanced entries
    (its goal), keyed by link; downstream: the next stage's `handover` entries, keyed by the same link.
    Each pair gets a reason when it does not reconcile: not_synced (no downstream record),
    orphan_downstream (no upstream record), duplicate (a second downstream record for one hand-over),
    time_out_of_order (received before the hand-over happened) or late_sync (received after the
    hand-over's grace period, var('reconciliation')[handoff].grace_period_hours).
-#}
{% macro handover_pairs(handoff, handoff_order, upstream_model, upstream_id, upstream_link,
                        downstream_model, downstream_id, downstream_link) %}
{%- set grace_hours = var('reconciliation')[handoff]['grace_period_hours'] -%}
    select
        '{{ handoff }}' as handoff,
        {{ handoff_order }} as handoff_order,
        upstream.{{ upstream_id }} as upstream_id,
        upstream.advanced_at as upstream_at,
        downstream.{{ downstream_id }} as downstream_id,
        downstream.received_at as downstream_received_at,
        coalesce(upstream.{{ upstream_link }}, downstream.{{ downstream_link }}) as link_id,
        row_number() over (
            partition by coalesce(upstream.{{ upstream_link }}, downstream.{{ downstream_link }}, downstream.{{ downstream_id }})
            order by downstream.received_at, downstream.{{ downstream_id }}
        ) as pair_rank,
        {{ month_start('coalesce(upstream.advanced_at, downstream.entered_at)') }} as period_start,
        {{ grace_hours }} as grace_period_hours
    from (select * from {{ ref(upstream_model) }} where outcome = 'advanced') as upstream
    full outer join (select * from {{ ref(downstream_model) }} where entry_type = 'handover') as downstream
        on downstream.{{ downstream_link }} = upstream.{{ upstream_link }}
{% endmacro %}
