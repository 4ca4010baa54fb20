{#-
    unit_economics_monthly per fiscal quarter: the months' spend, new customers and MRR movements added up,
    the rates taken again over the quarter, and the magic number by its definition: net new ARR of the quarter
    ÷ sales and marketing spend of the quarter before. A quarter's spend is known only when every one of its
    months up to the as-of month is (a missing month would understate it), NULL otherwise.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with monthly as (
    select
        *,
        {{ fiscal_quarter_of('period_start') }} as quarter_start
    from {{ ref('unit_economics_monthly') }}
),

as_of as (
    select
        as_of,
        {{ month_start('as_of') }} as as_of_month
    from {{ ref('int_as_of') }}
),

settings as (
    select gross_margin from {{ ref('stg_reference__improvement_settings') }}
),

quarters as (
    select
        monthly.quarter_start as period_start,
        monthly.channel,
        monthly.segment,
        {{ any_non_null('monthly.is_paid_channel') }} as is_paid_channel,
        -- spend is known when every month of the quarter up to the as-of month has it
        {{ months_from(
            'monthly.quarter_start', 'least(' ~ add_months('monthly.quarter_start', 2) ~ ', as_of.as_of_month)'
        ) }} + 1 = count(monthly.spend) as spend_known,
        sum(monthly.marketing_spend) as recorded_marketing_spend,
        sum(monthly.sales_spend) as recorded_sales_spend,
        sum(monthly.spend) as recorded_spend,
        sum(monthly.paid_spend) as recorded_paid_spend,
        sum(monthly.new_customers) as new_customers,
        sum(monthly.paid_new_customers) as paid_new_customers,
        sum(monthly.new_mrr) as new_mrr,
        {{ value_or_null_at_min("monthly.start_mrr", "monthly.period_start") }} as start_mrr,
        sum(monthly.expansion_mrr) as expansion_mrr,
        sum(monthly.contraction_mrr) as contraction_mrr,
        sum(monthly.churned_mrr) as churned_mrr,
        {{ value_or_null_at_max("monthly.end_mrr", "monthly.period_start") }} as end_mrr,
        {{ value_or_null_at_max("monthly.ltv", "monthly.period_start") }} as ltv
    from monthly
    cross join as_of
    group by monthly.quarter_start, monthly.channel, monthly.segment, as_of.as_of_month
),

spent as (
    select
        quarters.*,
        case when quarters.spend_known then quarters.recorded_marketing_spend end as marketing_spend,
        case when quarters.spend_known then quarters.recorded_sales_spend end as sales_spend,
        case when quarters.spend_known then quarters.recorded_spend end as spend,
        case when quarters.spend_known then quarters.recorded_paid_spend end as paid_spend
    from quarters
),

rated as (
    select
        spent.*,
        settings.gross_margin,
        -- the quarter has ended by the as-of instant (the open quarter's numbers are so far)
        as_of.as_of >= {{ date_to_instant('spent.period_start + interval 3 month') }} - interval 1 microsecond
            as is_complete,
        spent.spend / nullif(spent.new_customers, 0) as cac,
        12 * (spent.end_mrr - spent.start_mrr) as net_new_arr,
        lag(spent.spend) over (
            partition by spent.channel, spent.segment order by spent.period_start
        ) as spend_quarter_before,
        lag(spent.period_start) over (
            partition by spent.channel, spent.segment order by spent.period_start
        ) as quarter_before
    from spent
    cross join settings
    cross join as_of
)

select
    {{ fiscal_year_and_quarter('period_start') }},
    period_start,
    cast(period_start + interval 3 month - interval 1 day as date) as period_end,
    channel,
    segment,
    is_complete,
    is_paid_channel,
    cast(marketing_spend as decimal(18, 2)) as marketing_spend,
    cast(sales_spend as decimal(18, 2)) as sales_spend,
    cast(spend as decimal(18, 2)) as spend,
    cast(paid_spend as decimal(18, 2)) as paid_spend,
    cast(new_customers as bigint) as new_customers,
    cast(paid_new_customers as bigint) as paid_new_customers,
    cast(new_mrr as decimal(18, 2)) as new_mrr,
    cast(cac as double) as cac,
    cast(paid_spend / nullif(paid_new_customers, 0) as double) as paid_cac,
    cast(cac / nullif(gross_margin * new_mrr / nullif(new_customers, 0), 0) as double) as cac_payback_months,
    ltv,
    cast(ltv / nullif(cac, 0) as double) as ltv_to_cac,
    cast(start_mrr as decimal(18, 2)) as start_mrr,
    cast(expansion_mrr as decimal(18, 2)) as expansion_mrr,
    cast(contraction_mrr as decimal(18, 2)) as contraction_mrr,
    cast(churned_mrr as decimal(18, 2)) as churned_mrr,
    cast(end_mrr as decimal(18, 2)) as end_mrr,
    cast(net_new_arr as decimal(18, 2)) as net_new_arr,
    cast(new_mrr + expansion_mrr as double) / nullif(contraction_mrr + churned_mrr, 0) as quick_ratio,
    case
        when quarter_before = cast(period_start - interval 3 month as date)
            then cast(net_new_arr as double) / nullif(spend_quarter_before, 0)
    end as magic_number
from rated
order by period_start, channel, segment
