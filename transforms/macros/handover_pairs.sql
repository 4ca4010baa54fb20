{#-
    Pairs the records on both sides of one hand-over of the registry (funnel_handovers()) by id. upstream:
    the upstream stage's advanced entries (its goal), keyed by upstream_id; downstream: the next stage's
    `handover` entries, keyed by downstream_link, the same id as the downstream table carries it.
    pair_rank > 1 marks a second downstream record for one hand-over.
-#}
{% macro handover_pairs(handover) %}
    select
        '{{ handover.name }}' as handoff,
        {{ handover.order }} as handoff_order,
        upstream.{{ handover.upstream_id }} as upstream_id,
        upstream.advanced_at as upstream_at,
        downstream.{{ handover.downstream_id }} as downstream_id,
        downstream.received_at as downstream_received_at,
        coalesce(upstream.{{ handover.upstream_id }}, downstream.{{ handover.downstream_link }}) as link_id,
        row_number() over (
            partition by coalesce(
                upstream.{{ handover.upstream_id }},
                downstream.{{ handover.downstream_link }},
                downstream.{{ handover.downstream_id }}
            )
            order by downstream.received_at, downstream.{{ handover.downstream_id }}
        ) as pair_rank,
        {{ month_start('coalesce(upstream.advanced_at, downstream.entered_at)') }} as period_start
    from (
        select * from {{ ref(handover.upstream ~ '_entries') }} where outcome = 'advanced'
    ) as upstream
    full outer join (
        select * from {{ ref(handover.downstream ~ '_entries') }} where entry_type = 'handover'
    ) as downstream
        on downstream.{{ handover.downstream_link }} = upstream.{{ handover.upstream_id }}
{% endmacro %}
