{#-
    What if only leads with an MQL score at or above a threshold were handed over to inside sales?
    For each candidate threshold (every 5 points across the observed scores), from the history of MQLs
    handed over up to the as-of instant: how many would pass, their opportunity rate (converted ÷
    resolved, i.e. converted or dropped), the win rate of the opportunities they became (won ÷ closed),
    and the won deals to expect: passing × opportunity rate × win rate, in total and per month.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with inside_sales as (
    select * from {{ ref('inside_sales_entries') }}
    where entry_type = 'handover' and mql_score is not null
),

field_sales as (
    select * from {{ ref('field_sales_entries') }}
),

leads as (
    select
        inside_sales.mql_score,
        inside_sales.outcome as lead_outcome,
        field_sales.outcome as opportunity_outcome,
        inside_sales.entered_month
    from inside_sales
    left join field_sales on inside_sales.converted_opportunity_id = field_sales.opportunity_id
),

history as (
    select
        count(distinct entered_month) as months,
        count(*) as all_mqls
    from leads
),

score_range as (
    select
        cast(floor(min(mql_score) / 5) * 5 as bigint) as low,
        cast(max(mql_score) as bigint) as high
    from leads
),

thresholds as (
    select cast(steps.score as double) as threshold
    from score_range
    cross join {{ integer_series('score_range.low', 'score_range.high', 'steps', 'score', step=5) }}
),

outcomes as (
    select
        thresholds.threshold,
        count(leads.mql_score) as passing,
        {{ count_where("leads.lead_outcome = 'advanced'") }} as opportunities,
        {{ count_where("leads.lead_outcome in ('advanced', 'dropped')") }} as resolved_leads,
        {{ count_where("leads.opportunity_outcome = 'advanced'") }} as won,
        {{ count_where("leads.opportunity_outcome in ('advanced', 'dropped')") }} as closed_opportunities
    from thresholds
    left join leads on thresholds.threshold <= leads.mql_score
    group by all
),

rates as (
    select
        outcomes.*,
        cast(outcomes.opportunities as double) / nullif(outcomes.resolved_leads, 0) as opportunity_rate,
        cast(outcomes.won as double) / nullif(outcomes.closed_opportunities, 0) as win_rate,
        history.all_mqls,
        history.months
    from outcomes
    cross join history
)

select
    threshold,
    cast(passing as bigint) as passing_mqls,
    cast(passing as double) / nullif(all_mqls, 0) as passing_share,
    cast(passing as double) / nullif(months, 0) as passing_mqls_per_month,
    cast(resolved_leads as bigint) as resolved_leads,
    cast(opportunities as bigint) as opportunities,
    opportunity_rate,
    cast(closed_opportunities as bigint) as closed_opportunities,
    cast(won as bigint) as won_deals,
    win_rate,
    passing * opportunity_rate * win_rate as expected_won_deals,
    passing * opportunity_rate * win_rate / nullif(months, 0) as expected_won_deals_per_month
from rates
order by threshold
