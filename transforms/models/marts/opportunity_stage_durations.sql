{#-
    Time in each sales stage (商談フェーズ): one row per new-business opportunity and stage spell, from the
    timeline int_opportunity_states. A spell is a run of consecutive versions with the same stage_name: a version
    that changes only the amount or the close date does not end it. A spell ends when the next one begins, or
    when the opportunity closes (closing comes from the opportunity record, not from a stage name); versions from
    the closing on are not spells. Days are fractional days to the exit, or to the as-of instant while current.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with as_of as (
    select as_of from {{ ref('int_as_of') }}
),

opportunities as (
    select
        opportunities.opportunity_id,
        opportunities.owner_id,
        opportunities.stage_name as record_stage_name,
        case
            when opportunities.is_closed and opportunities.closed_at <= as_of.as_of then opportunities.closed_at
        end as closed_at
    from {{ ref('int_opportunities_as_of') }} as opportunities
    cross join as_of
    where
        opportunities.opportunity_type = 'new_business'
        and opportunities.created_at <= as_of.as_of
),

open_versions as (
    select
        states.opportunity_id,
        states.version,
        states.valid_from,
        states.stage_name,
        states.history_source,
        lag(states.version) over (partition by states.opportunity_id order by states.version) as previous_version,
        lag(states.stage_name) over (
            partition by states.opportunity_id order by states.version
        ) as previous_stage_name
    from {{ ref('int_opportunity_states') }} as states
    inner join opportunities on states.opportunity_id = opportunities.opportunity_id
    where opportunities.closed_at is null or states.valid_from < opportunities.closed_at
),

-- A spell starts at the opportunity's first open version and wherever the stage changes; its other versions follow
-- it in order, so the spell is its first version's stage, entry and source (one source per opportunity).
spell_starts as (
    select
        opportunity_id,
        version,
        stage_name,
        valid_from as entered_at,
        history_source
    from open_versions
    where previous_version is null or stage_name is distinct from previous_stage_name
),

sequenced as (
    select
        *,
        row_number() over spells_in_order as spell_number,
        lead(entered_at) over spells_in_order as next_entered_at,
        lead(stage_name) over spells_in_order as next_spell_stage_name
    from spell_starts
    window spells_in_order as (partition by opportunity_id order by version)
)

select
    sequenced.opportunity_id,
    opportunities.owner_id,
    sequenced.stage_name,
    stages.position,
    cast(sequenced.spell_number as integer) as spell_number,
    sequenced.entered_at,
    coalesce(sequenced.next_entered_at, opportunities.closed_at) as exited_at,
    {{ days_between(
        'sequenced.entered_at',
        'coalesce(sequenced.next_entered_at, opportunities.closed_at, as_of.as_of)'
    ) }} as days_in_stage,
    sequenced.next_entered_at is null and opportunities.closed_at is null as is_current,
    case
        when sequenced.next_entered_at is not null then sequenced.next_spell_stage_name
        when opportunities.closed_at is not null then opportunities.record_stage_name
    end as next_stage_name,
    sequenced.next_entered_at is not null and coalesce(next_stages.position < stages.position, false)
        as moved_backwards,
    sequenced.history_source
from sequenced
inner join opportunities on sequenced.opportunity_id = opportunities.opportunity_id
cross join as_of
left join {{ ref('stg_reference__sales_stages') }} as stages on sequenced.stage_name = stages.stage_name
left join {{ ref('stg_reference__sales_stages') }} as next_stages
    on sequenced.next_spell_stage_name = next_stages.stage_name
order by sequenced.opportunity_id, sequenced.spell_number
