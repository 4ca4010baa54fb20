{#-
    Per person, month and stage, each person in their own stage: inside sales (SFA lead owners), field sales
    (opportunity owners) and customer success (the CRM customer's owner_id). Entries, hand-overs and drop-outs
    count as the period view of funnel_kpi_monthly does (period_counts), so a stage's rows add up to its funnel
    row, the entries without an owner included (owner_id NULL). Owners are the ones on record now.

    Against a target: a person's own goal from targets.yml (`people`, stg_reference__owner_targets) when given;
    otherwise a share of the team's stage target for the month (stg_reference__funnel_targets.target_goal), less the
    goals given to people of that stage in the month, split among the others of the stage's role (stg_sfa__users)
    pro rata to the days of the month each was active (started_on to ended_on, inclusive).
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with as_of as (
    select
        {{ month_start('as_of') }} as as_of_month,
        cast({{ local_time('as_of') }} as date) as as_of_date
    from {{ ref('int_as_of') }}
),

customers as (
    select
        account_id,
        owner_id
    from {{ ref('stg_crm__customers') }}
),

users as (
    select
        user_id,
        role,
        team,
        started_on,
        ended_on
    from {{ ref('stg_sfa__users') }}
),

stage_rows as (
    select
        'inside_sales' as stage,
        owner_id,
        entry_type,
        outcome,
        entered_month as entered_period,
        {{ month_start('advanced_at') }} as advanced_period,
        {{ month_start('dropped_at') }} as dropped_period,
        cast(null as double) as amount,
        days_in_stage
    from {{ ref('inside_sales_entries') }}
    union all
    select
        'field_sales' as stage,
        owner_id,
        entry_type,
        outcome,
        entered_month as entered_period,
        {{ month_start('advanced_at') }} as advanced_period,
        {{ month_start('dropped_at') }} as dropped_period,
        cast(amount as double) as amount,
        days_in_stage
    from {{ ref('field_sales_entries') }}
    union all
    select
        'customer_success' as stage,
        customers.owner_id,
        entries.entry_type,
        entries.outcome,
        entries.entered_month as entered_period,
        {{ month_start('entries.advanced_at') }} as advanced_period,
        {{ month_start('entries.dropped_at') }} as dropped_period,
        cast(null as double) as amount,
        entries.days_in_stage
    from {{ ref('customer_success_entries') }} as entries
    left join customers on entries.account_id = customers.account_id
),

{{ period_counts('stage_rows', 'stage, owner_id') }},

wins as (
    select
        owner_id,
        advanced_period as period_start,
        sum(amount) as won_amount,
        avg(amount) as average_deal_size,
        median(days_in_stage) as median_sales_cycle_days
    from stage_rows
    where stage = 'field_sales' and advanced_period is not null
    group by all
),

speed as (
    select
        owner_id,
        period_start,
        median_hours_to_first_contact,
        sla_breach_rate
    from {{ ref('speed_to_lead') }}
),

book as (
    {#- the customers a customer-success owner holds at each month's end and those lost in the month (MRR bridge) -#}
    select
        customers.owner_id,
        account_months.period_start,
        {{ count_where("account_months.end_mrr > 0") }} as customers_owned,
        {{ count_where("account_months.start_mrr > 0 and account_months.end_mrr = 0") }} as churned_customers
    from {{ ref('int_account_mrr_monthly') }} as account_months
    left join customers on account_months.account_id = customers.account_id
    where account_months.start_mrr > 0 or account_months.end_mrr > 0
    group by all
),

contracts as (
    select * from {{ ref('int_contracts_as_of') }}
),

successors as (
    select distinct renewal_of_contract_id as contract_id
    from contracts
    where renewal_of_contract_id is not null
),

renewals as (
    {#- contracts that ended in the month by the as-of date, renewed when a later contract renews them -#}
    select
        customers.owner_id,
        {{ first_of_month('contracts.end_date') }} as period_start,
        count(*) as contracts_due,
        {{ count_where("successors.contract_id is not null") }} as contracts_renewed
    from contracts
    cross join as_of
    left join successors on contracts.contract_id = successors.contract_id
    left join customers on contracts.account_id = customers.account_id
    where contracts.end_date <= as_of.as_of_date
    group by all
),

months as (
    {{ period_spine('select min(entered_period) from stage_rows', 'select as_of_month from as_of',
                    'interval 1 month') }}
),

active as (
    {#- the people of each stage's role active in each month, with the number of days they were -#}
    select
        months.period_start,
        users.role as stage,
        users.user_id as owner_id,
        cast(
            {{ days_from(
                'greatest(months.period_start, users.started_on)',
                'least(last_day(months.period_start), users.ended_on)'
            ) }} + 1 as integer
        ) as active_days
    from months
    inner join users
        on
        users.role in ('inside_sales', 'field_sales', 'customer_success')
        and coalesce(users.started_on, months.period_start) <= last_day(months.period_start)
        and coalesce(users.ended_on, months.period_start) >= months.period_start
),

person_targets as (
    select
        targets.month as period_start,
        users.role as stage,
        targets.user_id as owner_id,
        targets.target_goal
    from {{ ref('stg_reference__owner_targets') }} as targets
    inner join users on targets.user_id = users.user_id
    where users.role in ('inside_sales', 'field_sales', 'customer_success')
),

team_targets as (
    select
        team.month as period_start,
        team.stage,
        greatest(team.target_goal - coalesce(sum(person_targets.target_goal), 0), 0) as unassigned_goal
    from {{ ref('stg_reference__funnel_targets') }} as team
    left join person_targets on team.month = person_targets.period_start and team.stage = person_targets.stage
    where team.target_goal is not null  -- a stage the plan sets no goal for in the month (its lag moved it)
    group by team.month, team.stage, team.target_goal
),

shares as (
    select
        active.period_start,
        active.stage,
        active.owner_id,
        team_targets.unassigned_goal * active.active_days
        / sum(active.active_days) over (partition by active.period_start, active.stage) as target_goal
    from active
    inner join team_targets on active.period_start = team_targets.period_start and active.stage = team_targets.stage
    left join person_targets
        on
        active.period_start = person_targets.period_start
        and active.stage = person_targets.stage
        and active.owner_id = person_targets.owner_id
    where person_targets.owner_id is null
),

keys as (
    select
        stage,
        owner_id,
        period_start
    from entries
    union
    select
        stage,
        owner_id,
        period_start
    from advances
    union
    select
        stage,
        owner_id,
        period_start
    from drops
    union
    select
        'inside_sales' as stage,
        owner_id,
        period_start
    from speed
    union
    select
        'customer_success' as stage,
        owner_id,
        period_start
    from book
    union
    select
        'customer_success' as stage,
        owner_id,
        period_start
    from renewals
    union
    select
        stage,
        owner_id,
        period_start
    from active
    union
    select
        person_targets.stage,
        person_targets.owner_id,
        person_targets.period_start
    from person_targets
    inner join months on person_targets.period_start = months.period_start
),

measured as (
    select
        keys.period_start,
        keys.stage,
        keys.owner_id,
        users.role,
        users.team,
        active.active_days,
        coalesce(entries.base, 0) as entries,
        coalesce(advances.period_goal, 0) as handovers,
        coalesce(drops.period_dropped, 0) as dropped,
        speed.median_hours_to_first_contact,
        speed.sla_breach_rate,
        wins.won_amount,
        wins.average_deal_size,
        wins.median_sales_cycle_days,
        book.customers_owned,
        book.churned_customers,
        renewals.contracts_due,
        renewals.contracts_renewed,
        coalesce(person_targets.target_goal, shares.target_goal) as target_goal,
        case
            when person_targets.target_goal is not null then 'person'
            when shares.target_goal is not null then 'team_share'
        end as target_source
    from keys
    left join users on keys.owner_id = users.user_id
    left join active
        on keys.period_start = active.period_start and keys.stage = active.stage and keys.owner_id = active.owner_id
    left join entries
        on
        keys.period_start = entries.period_start
        and keys.stage = entries.stage
        and keys.owner_id is not distinct from entries.owner_id
    left join advances
        on
        keys.period_start = advances.period_start
        and keys.stage = advances.stage
        and keys.owner_id is not distinct from advances.owner_id
    left join drops
        on
        keys.period_start = drops.period_start
        and keys.stage = drops.stage
        and keys.owner_id is not distinct from drops.owner_id
    left join speed
        on
        keys.stage = 'inside_sales'
        and keys.period_start = speed.period_start
        and keys.owner_id is not distinct from speed.owner_id
    left join wins
        on
        keys.stage = 'field_sales'
        and keys.period_start = wins.period_start
        and keys.owner_id is not distinct from wins.owner_id
    left join book
        on
        keys.stage = 'customer_success'
        and keys.period_start = book.period_start
        and keys.owner_id is not distinct from book.owner_id
    left join renewals
        on
        keys.stage = 'customer_success'
        and keys.period_start = renewals.period_start
        and keys.owner_id is not distinct from renewals.owner_id
    left join person_targets
        on
        keys.period_start = person_targets.period_start
        and keys.stage = person_targets.stage
        and keys.owner_id = person_targets.owner_id
    left join shares
        on keys.period_start = shares.period_start and keys.stage = shares.stage and keys.owner_id = shares.owner_id
)

select
    period_start,
    stage,
    owner_id,
    role,
    team,
    active_days,
    cast(entries as bigint) as entries,
    cast(handovers as bigint) as handovers,
    cast(dropped as bigint) as dropped,
    cast(handovers as double) / nullif(entries, 0) as conversion_rate,
    median_hours_to_first_contact,
    sla_breach_rate,
    case when stage = 'field_sales' then cast(handovers as double) / nullif(handovers + dropped, 0) end as win_rate,
    case when stage = 'field_sales' then cast(coalesce(won_amount, 0) as decimal(18, 2)) end as won_amount,
    average_deal_size,
    median_sales_cycle_days,
    case when stage = 'customer_success' then cast(coalesce(customers_owned, 0) as bigint) end as customers_owned,
    case when stage = 'customer_success' then cast(coalesce(contracts_due, 0) as bigint) end as contracts_due,
    case when stage = 'customer_success' then cast(coalesce(contracts_renewed, 0) as bigint) end as contracts_renewed,
    cast(contracts_renewed as double) / nullif(contracts_due, 0) as renewal_rate,
    case when stage = 'customer_success' then cast(coalesce(churned_customers, 0) as bigint) end as churned_customers,
    cast(target_goal as double) as target_goal,
    target_source,
    cast(handovers as double) / nullif(target_goal, 0) as goal_attainment
from measured
order by period_start, stage, owner_id nulls last
