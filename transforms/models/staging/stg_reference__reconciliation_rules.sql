{#- The hand-overs of the registry in funnel order, with their tolerance and grace period from quality.yml. -#}

-- Generated per stage or hand-over of the registry: Jinja, not sqlfluff, lays out what the loops write.
-- noqa: disable=LT02
with source as (
    select * from {{ source('reference', 'reconciliation_rules') }}
),

handovers as (
    select * from (values
        {%- for handover in funnel_handovers() %}
        ('{{ handover.name }}', {{ handover.order }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as handover_list (handoff, handoff_order)  -- noqa: AL05
)

select
    handovers.handoff,
    handovers.handoff_order,
    source.tolerance,
    source.grace_period_hours
from handovers
inner join source on source.handoff = handovers.handoff
