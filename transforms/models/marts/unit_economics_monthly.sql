{#-
    Unit economics per month: what a new customer cost (CAC, blended and paid), how many months of its gross
    margin pay that back, LTV / CAC, the SaaS Quick Ratio and the magic number. Rows: every segment with
    channel 'all' (segment 'all' is the company) and every channel with segment 'all'.

    New customers are the MRR bridge's (customer_success_monthly: no MRR at the month's start, some at its
    end), each under the channel of its won deal's first touch (customer_success_entries.source). The months
    run from the funnel's first (funnel_kpi_monthly), first spend or first contract to the as-of. Spend comes
    from the spend extract (stg_ma__spend, in the reporting currency): a month with no spend row is a month
    whose spend is unknown, so every column that needs spend is NULL then (not 0); a month with rows has spend
    0 in a channel the extract names elsewhere but not in it. A channel the extract never names (sales-sourced
    deals, say) and a segment (spend is not split by segment) have NULL spend columns.
    The MRR movements and the Quick Ratio are customer_success_monthly's, so they agree with it exactly.
-#}

-- depends_on: {{ ref('reconciliation') }}  -- built only when reconciliation_gate passes
with as_of as (
    select
        as_of,
        {{ month_start('as_of') }} as as_of_month
    from {{ ref('int_as_of') }}
),

settings as (
    select gross_margin from {{ ref('stg_reference__improvement_settings') }}
),

paid_sources as (
    select distinct source from {{ ref('stg_reference__paid_sources') }}
),

spend as (
    {%- if has_system('ma') %}
    select
        spend.month as period_start,
        spend.cost_type,
        spend.source,
        spend.amount,
        paid_sources.source is not null as is_paid
    from {{ ref('stg_ma__spend') }} as spend
    cross join as_of
    left join paid_sources on spend.source = paid_sources.source
    where spend.month <= as_of.as_of_month
    {%- else %}
    -- no marketing-automation system (vars.funnel.systems), so no spend extract: spend is unknown throughout
    select
        cast(null as date) as period_start,
        cast(null as string) as cost_type,
        cast(null as string) as source,
        cast(null as decimal(18, 2)) as amount,
        false as is_paid
    where false
    {%- endif %}
),

bridge as (
    select * from {{ ref('customer_success_monthly') }}
),

funnel_months as (
    select distinct period_start from {{ ref('funnel_kpi_monthly') }}
),

new_accounts as (
    select
        account_months.period_start,
        account_months.segment,
        account_months.end_mrr as new_mrr,
        coalesce(entries.source, '(none)') as channel,
        paid_sources.source is not null as is_paid
    from {{ ref('int_account_mrr_monthly') }} as account_months
    left join {{ ref('customer_success_entries') }} as entries on account_months.account_id = entries.account_id
    left join paid_sources on entries.source = paid_sources.source
    where account_months.start_mrr = 0 and account_months.end_mrr > 0
),

months as (
    {{ period_spine(
        'select min(period_start) from (select period_start from funnel_months union all select period_start'
        ~ ' from spend union all select period_start from bridge)',
        'select as_of_month from as_of', 'interval 1 month') }}
),

spend_months as (
    select distinct period_start from spend
),

spend_by_channel as (
    select
        period_start,
        case when grouping(source) = 1 then 'all' else source end as channel,
        sum(case when cost_type = 'marketing' then amount else 0 end) as marketing_spend,
        sum(case when cost_type = 'sales' then amount else 0 end) as sales_spend,
        sum(amount) as spend,
        sum(case when is_paid then amount else 0 end) as paid_spend
    from spend
    group by grouping sets ((period_start), (period_start, source))  -- noqa: PRS
),

acquisitions as (
    select
        period_start,
        case when grouping(channel) = 1 then 'all' else channel end as channel,
        case when grouping(segment) = 1 then 'all' else segment end as segment,
        count(*) as new_customers,
        {{ count_where("is_paid") }} as paid_new_customers,
        sum(new_mrr) as new_mrr
    from new_accounts
    group by grouping sets ((period_start), (period_start, channel), (period_start, segment))  -- noqa: PRS
),

spend_channels as (
    select distinct source as channel
    from spend
    where source is not null
),

channels as (
    select channel from spend_channels
    union
    select channel from new_accounts
),

segments as (
    select segment from bridge
    union
    select 'all' as segment
),

grid as (
    select
        months.period_start,
        'all' as channel,
        segments.segment
    from months
    cross join segments
    union all
    select
        months.period_start,
        channels.channel,
        'all' as segment
    from months
    cross join channels
),

joined as (
    select
        grid.period_start,
        grid.channel,
        grid.segment,
        case when grid.channel <> 'all' then paid_sources.source is not null end as is_paid_channel,
        -- spend is known in a month with spend rows, for the company and each channel the extract names
        spend_months.period_start is not null
        and grid.segment = 'all'
        and (grid.channel = 'all' or spend_channels.channel is not null) as spend_known,
        spend_by_channel.marketing_spend as recorded_marketing_spend,
        spend_by_channel.sales_spend as recorded_sales_spend,
        spend_by_channel.spend as recorded_spend,
        spend_by_channel.paid_spend as recorded_paid_spend,
        coalesce(acquisitions.new_customers, 0) as new_customers,
        coalesce(acquisitions.paid_new_customers, 0) as paid_new_customers,
        coalesce(acquisitions.new_mrr, 0) as new_mrr,
        -- the MRR bridge is per segment, not per channel
        case when grid.channel = 'all' then coalesce(bridge.start_mrr, 0) end as start_mrr,
        case when grid.channel = 'all' then coalesce(bridge.new_mrr, 0) end as bridge_new_mrr,
        case when grid.channel = 'all' then coalesce(bridge.expansion_mrr, 0) end as expansion_mrr,
        case when grid.channel = 'all' then coalesce(bridge.contraction_mrr, 0) end as contraction_mrr,
        case when grid.channel = 'all' then coalesce(bridge.churned_mrr, 0) end as churned_mrr,
        case when grid.channel = 'all' then coalesce(bridge.end_mrr, 0) end as end_mrr,
        -- a channel's customers are valued at the company's LTV
        coalesce(bridge.ltv, company.ltv) as ltv
    from grid
    left join paid_sources on grid.channel = paid_sources.source
    left join spend_months on grid.period_start = spend_months.period_start
    left join spend_channels on grid.channel = spend_channels.channel
    left join spend_by_channel
        on grid.period_start = spend_by_channel.period_start and grid.channel = spend_by_channel.channel
    left join acquisitions
        on grid.period_start = acquisitions.period_start
        and grid.channel = acquisitions.channel
        and grid.segment = acquisitions.segment
    left join bridge
        on grid.period_start = bridge.period_start and grid.segment = bridge.segment and grid.channel = 'all'
    left join bridge as company
        on grid.period_start = company.period_start and company.segment = 'all' and grid.channel <> 'all'
),

spent as (
    select
        joined.*,
        case when joined.spend_known then coalesce(joined.recorded_marketing_spend, 0) end as marketing_spend,
        case when joined.spend_known then coalesce(joined.recorded_sales_spend, 0) end as sales_spend,
        case when joined.spend_known then coalesce(joined.recorded_spend, 0) end as spend,
        case when joined.spend_known then coalesce(joined.recorded_paid_spend, 0) end as paid_spend
    from joined
),

rated as (
    select
        spent.*,
        -- the month has ended by the as-of instant (the open month's numbers are so far)
        as_of.as_of >= {{ date_to_instant('spent.period_start + interval 1 month') }} - interval 1 microsecond
            as is_complete,
        spent.spend / nullif(spent.new_customers, 0) as cac,
        spent.paid_spend / nullif(spent.paid_new_customers, 0) as paid_cac,
        spent.new_mrr / nullif(spent.new_customers, 0) as new_mrr_per_customer,
        settings.gross_margin,
        -- the magic number over the three months ending with this one
        12 * (spent.end_mrr - lag(spent.end_mrr, 3) over by_month) as net_new_arr_3m,
        case
            when count(spent.spend) over three_months_before = 3 then sum(spent.spend) over three_months_before
        end as spend_3m_before
    from spent
    cross join settings
    cross join as_of
    window
        by_month as (partition by spent.channel, spent.segment order by spent.period_start),
        three_months_before as (
            partition by spent.channel, spent.segment order by spent.period_start
            rows between 5 preceding and 3 preceding
        )
)

select
    period_start,
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
    cast(paid_cac as double) as paid_cac,
    cast(cac / nullif(gross_margin * new_mrr_per_customer, 0) as double) as cac_payback_months,
    ltv,
    cast(ltv / nullif(cac, 0) as double) as ltv_to_cac,
    cast(start_mrr as decimal(18, 2)) as start_mrr,
    cast(expansion_mrr as decimal(18, 2)) as expansion_mrr,
    cast(contraction_mrr as decimal(18, 2)) as contraction_mrr,
    cast(churned_mrr as decimal(18, 2)) as churned_mrr,
    cast(end_mrr as decimal(18, 2)) as end_mrr,
    cast(12 * (end_mrr - start_mrr) as decimal(18, 2)) as net_new_arr,
    cast(bridge_new_mrr + expansion_mrr as double) / nullif(contraction_mrr + churned_mrr, 0) as quick_ratio,
    cast(net_new_arr_3m as double) / nullif(spend_3m_before, 0) as magic_number
from rated
order by period_start, channel, segment
