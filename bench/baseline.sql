-- The benchmark's baseline (bench/baseline.py runs it): the job of `make run` written as one plain DuckDB script,
-- in one process, for the comparison the benchmark draws (issue #13). It reads, with explicit types, every extract
-- the product ingests (the six the KPI table needs, and the opportunities' change history, the team list, the
-- marketing spend and the exchange rates, which the product's other marts need), builds the four stage tables and
-- the monthly KPI table in both views (../shared/DOMAIN.md;
-- transforms/models/stages and marts/funnel_kpi_monthly), and publishes the KPI table to a second DuckDB file.
-- tests/test_bench_baseline.py checks that it counts what marts.funnel_kpi_monthly counts.
--
-- Variables (SET VARIABLE, set by bench/baseline.py): landing, the folder of extracts in the canonical layout;
-- published, the DuckDB file to publish to. Times are read and months cut in Asia/Tokyo (the defaults of
-- FUNNEL_SOURCE_TZ and FUNNEL_REPORTING_TZ); marketing entries age out after 180 days (FUNNEL_MARKETING_AGING_DAYS).
--
-- What the product does and this script leaves out, so the ratios are read with it in mind:
--   ingest: the layout and formats are known in advance (the demo generator's: one CSV dialect per system, the
--     timestamp formats named here, no exchange-rate file: the demo deals in yen, so the rates table is created
--     empty, as the product creates it for an optional extract no source has), where the product reads any mapped
--     source, tries every date format and Excel serials, checks UTF-8, quarantines rows that break the contract,
--     records every file in the load log (hash, rows) and keeps every row of every file with its file and row
--     number (versions of records);
--   transforms: no newest-version resolution (staging's newest_records), no redaction of erased people, no
--     explicit as-of instant (FUNNEL_AS_OF: always the latest event), no targets, pace or status in the KPI table,
--     none of the other marts (quarterly, slices, velocity, reconciliation, retention, hypotheses ...);
--   checks: none (the product runs dbt tests, Great Expectations suites and reconciliation gates);
--   publish: only the monthly KPI table, no Parquet copies and no atomic rename (the product publishes 15 marts).
--
-- Sections: a line `-- section: NAME` starts each; baseline.py times them one by one.

-- section: ingest
create table ma_leads as
select *
from read_csv(
    getvariable('landing') || '/ma/leads/*.csv', header = true, auto_detect = false,
    columns = {
        'lead_id': 'VARCHAR', 'email': 'VARCHAR', 'company': 'VARCHAR', 'created_at': 'TIMESTAMPTZ',
        'source': 'VARCHAR', 'campaign_id': 'VARCHAR'
    }
);

create table ma_mql_events as
select *
from read_csv(
    getvariable('landing') || '/ma/mql_events/*.csv', header = true, auto_detect = false,
    columns = {'lead_id': 'VARCHAR', 'mql_at': 'TIMESTAMPTZ', 'score': 'DOUBLE', 'sfa_lead_id': 'VARCHAR'}
);

-- The SFA and the CRM write local times without an offset (2024/11/14 14:54:34): read in Asia/Tokyo.
create table sfa_leads as
select * replace (
    timezone('Asia/Tokyo', created_at) as created_at,
    timezone('Asia/Tokyo', first_contact_at) as first_contact_at,
    timezone('Asia/Tokyo', converted_at) as converted_at,
    timezone('Asia/Tokyo', disqualified_at) as disqualified_at
)
from read_csv(
    getvariable('landing') || '/sfa/leads/*.csv', header = true, auto_detect = false,
    timestampformat = '%Y/%m/%d %H:%M:%S',
    columns = {
        'lead_id': 'VARCHAR', 'ma_lead_id': 'VARCHAR', 'created_at': 'TIMESTAMP', 'owner_id': 'VARCHAR',
        'status': 'VARCHAR', 'first_contact_at': 'TIMESTAMP', 'converted_at': 'TIMESTAMP',
        'converted_opportunity_id': 'VARCHAR', 'disqualified_at': 'TIMESTAMP', 'disqualified_reason': 'VARCHAR'
    }
);

create table sfa_opportunities as
select * replace (
    timezone('Asia/Tokyo', created_at) as created_at,
    timezone('Asia/Tokyo', closed_at) as closed_at
)
from read_csv(
    getvariable('landing') || '/sfa/opportunities/*.csv', header = true, auto_detect = false,
    timestampformat = '%Y/%m/%d %H:%M:%S', dateformat = '%Y/%m/%d',
    columns = {
        'opportunity_id': 'VARCHAR', 'lead_id': 'VARCHAR', 'account_id': 'VARCHAR', 'owner_id': 'VARCHAR',
        'type': 'VARCHAR', 'created_at': 'TIMESTAMP', 'stage_name': 'VARCHAR', 'is_closed': 'BOOLEAN',
        'is_won': 'BOOLEAN', 'closed_at': 'TIMESTAMP', 'amount': 'DECIMAL(18, 2)', 'currency': 'VARCHAR',
        'lost_reason': 'VARCHAR', 'close_date': 'DATE', 'probability': 'DOUBLE', 'forecast_category': 'VARCHAR'
    }
);

create table crm_customers as
select * replace (timezone('Asia/Tokyo', onboarded_at) as onboarded_at)
from read_csv(
    getvariable('landing') || '/crm/customers/*.csv', header = true, auto_detect = false,
    timestampformat = '%Y/%m/%d %H:%M:%S',
    columns = {
        'account_id': 'VARCHAR', 'won_opportunity_id': 'VARCHAR', 'onboarded_at': 'TIMESTAMP',
        'segment': 'VARCHAR', 'industry': 'VARCHAR', 'owner_id': 'VARCHAR'
    }
);

create table crm_contracts as
select * replace (timezone('Asia/Tokyo', churned_at) as churned_at)
from read_csv(
    getvariable('landing') || '/crm/contracts/*.csv', header = true, auto_detect = false,
    dateformat = '%Y/%m/%d', timestampformat = '%Y/%m/%d %H:%M:%S',
    columns = {
        'contract_id': 'VARCHAR', 'account_id': 'VARCHAR', 'start_date': 'DATE', 'end_date': 'DATE',
        'mrr': 'DECIMAL(18, 2)', 'renewal_of_contract_id': 'VARCHAR', 'churned_at': 'TIMESTAMP',
        'churn_reason': 'VARCHAR'
    }
);

-- The opportunities' change history, the team list and the spend: read like the rest, though the KPI table does
-- not use them (the product's other marts do).
create table sfa_opportunity_history as
select * replace (timezone('Asia/Tokyo', changed_at) as changed_at)
from read_csv(
    getvariable('landing') || '/sfa/opportunity_history/*.csv', header = true, auto_detect = false,
    timestampformat = '%Y/%m/%d %H:%M:%S', dateformat = '%Y/%m/%d',
    columns = {
        'opportunity_id': 'VARCHAR', 'changed_at': 'TIMESTAMP', 'stage_name': 'VARCHAR', 'amount': 'DECIMAL(18, 2)',
        'currency': 'VARCHAR', 'close_date': 'DATE', 'probability': 'DOUBLE', 'forecast_category': 'VARCHAR'
    }
);

create table sfa_users as
select *
from read_csv(
    getvariable('landing') || '/sfa/users/*.csv', header = true, auto_detect = false, dateformat = '%Y/%m/%d',
    columns = {
        'user_id': 'VARCHAR', 'name': 'VARCHAR', 'role': 'VARCHAR', 'team': 'VARCHAR', 'started_on': 'DATE',
        'ended_on': 'DATE'
    }
);

create table ma_spend as
select *
from read_csv(
    getvariable('landing') || '/ma/spend/*.csv', header = true, auto_detect = false,
    columns = {
        'month': 'DATE', 'cost_type': 'VARCHAR', 'source': 'VARCHAR', 'campaign_id': 'VARCHAR',
        'amount': 'DECIMAL(18, 2)', 'currency': 'VARCHAR'
    }
);

-- The exchange rates: none in the demo's yen-only extracts (read_csv's allow_empty would drop the declared columns).
create table sfa_exchange_rates (month DATE, currency VARCHAR, rate DOUBLE);

-- section: transforms
-- An entry has advanced when its forward hand-over happened by the as-of instant, has dropped when it left the
-- funnel by then without advancing, and is open otherwise (the product's macro stage_outcome).
create macro outcome(advanced_at, dropped_at, as_of) as
    case when advanced_at <= as_of then 'advanced' when dropped_at <= as_of then 'dropped' else 'open' end;

create macro month_of(ts) as cast(date_trunc('month', timezone('Asia/Tokyo', ts)) as date);

-- The as-of instant: the latest event in the data.
create table as_of as
select max(event_at) as as_of
from (
    select max(created_at) as event_at from ma_leads
    union all select max(mql_at) from ma_mql_events
    union all select max(greatest(created_at, first_contact_at, converted_at, disqualified_at)) from sfa_leads
    union all select max(greatest(created_at, closed_at)) from sfa_opportunities
    union all select max(onboarded_at) from crm_customers
    union all select max(churned_at) from crm_contracts
);

create table mql_events as
select
    lead_id || '#' || row_number() over (partition by lead_id order by mql_at, sfa_lead_id) as mql_event_id,
    lead_id as ma_lead_id,
    mql_at,
    score,
    sfa_lead_id
from ma_mql_events;

-- Each SFA lead's MQL: the one whose sync id names it (the earliest), else its MA lead's latest MQL before the SFA
-- lead was created.
create table handovers as
with by_sync_id as (
    select sfa_lead_id, arg_min(mql_event_id, mql_at) as mql_event_id, min(mql_at) as mql_at
    from mql_events
    where sfa_lead_id is not null
    group by sfa_lead_id
),

by_ma_lead as (
    select sfa.lead_id as sfa_lead_id, arg_max(e.mql_event_id, e.mql_at) as mql_event_id, max(e.mql_at) as mql_at
    from sfa_leads as sfa
    inner join mql_events as e on e.ma_lead_id = sfa.ma_lead_id and e.mql_at <= sfa.created_at
    where sfa.lead_id not in (select sfa_lead_id from by_sync_id)
    group by sfa.lead_id
)

select
    sfa.lead_id as sfa_lead_id,
    coalesce(sfa.ma_lead_id, e.ma_lead_id) as ma_lead_id,
    e.mql_event_id,
    e.mql_at,
    e.score as mql_score,
    coalesce(sfa.ma_lead_id, e.ma_lead_id) is not null as is_from_marketing,
    lower(ma.source) as source,
    ma.campaign_id
from sfa_leads as sfa
left join by_sync_id as s on s.sfa_lead_id = sfa.lead_id
left join by_ma_lead as m on m.sfa_lead_id = sfa.lead_id
left join mql_events as e on e.mql_event_id = coalesce(s.mql_event_id, m.mql_event_id)
left join ma_leads as ma on ma.lead_id = coalesce(sfa.ma_lead_id, e.ma_lead_id);

-- Stage 1: every entry of a lead into marketing (its creation, each return after a recycle); it advances with the
-- first MQL before its next entry and drops 180 days after entering without one.
create table marketing_entries as
with entries as (
    select lead_id as ma_lead_id, 'direct' as entry_type, created_at as entered_at, null::varchar as recycled_from
    from ma_leads
    union all
    select sfa.ma_lead_id, 'recycled', sfa.disqualified_at, sfa.lead_id
    from sfa_leads as sfa
    where lower(sfa.status) = 'recycled' and sfa.disqualified_at is not null
        and sfa.ma_lead_id in (select lead_id from ma_leads)
),

cycles as (
    select
        *,
        row_number() over (partition by ma_lead_id order by entered_at, entry_type, recycled_from) as entry_seq,
        lead(entered_at) over (partition by ma_lead_id order by entered_at, entry_type, recycled_from) as next_at
    from entries
),

first_mql as (
    select c.ma_lead_id, c.entry_seq, min(e.mql_at) as mql_at, arg_min(e.mql_event_id, e.mql_at) as mql_event_id
    from cycles as c
    inner join mql_events as e
        on e.ma_lead_id = c.ma_lead_id
        and (c.entered_at <= e.mql_at or c.entry_seq = 1)
        and (c.next_at is null or c.next_at > e.mql_at)
    group by all
),

candidates as (
    select c.*, f.mql_at, f.mql_event_id, c.entered_at + interval 180 day as aged_out_at, ma.source, ma.campaign_id,
        a.as_of
    from cycles as c
    cross join as_of as a
    inner join ma_leads as ma on ma.lead_id = c.ma_lead_id
    left join first_mql as f on f.ma_lead_id = c.ma_lead_id and f.entry_seq = c.entry_seq
    where c.entered_at <= a.as_of
)

select
    ma_lead_id || '#' || entry_seq as entry_id,
    ma_lead_id,
    entry_seq,
    'marketing' as stage,
    entry_type,
    entered_at,
    outcome(mql_at, aged_out_at, as_of) as outcome,
    case when mql_at <= as_of then mql_at end as advanced_at,
    case when outcome(mql_at, aged_out_at, as_of) = 'dropped' then aged_out_at end as dropped_at,
    case when mql_at <= as_of then mql_event_id end as mql_event_id,
    lower(source) as source,
    campaign_id
from candidates;

-- Stage 2: one entry per SFA lead, when its MQL happened (or when created in the SFA); it advances when converted
-- to an opportunity and drops when disqualified or recycled.
create table inside_sales_entries as
with candidates as (
    select sfa.*, h.ma_lead_id as marketing_lead_id, h.mql_event_id, h.mql_score, h.source, h.campaign_id,
        h.is_from_marketing, coalesce(h.mql_at, sfa.created_at) as entry_at, a.as_of
    from sfa_leads as sfa
    cross join as_of as a
    inner join handovers as h on h.sfa_lead_id = sfa.lead_id
    where coalesce(h.mql_at, sfa.created_at) <= a.as_of
)

select
    lead_id as entry_id,
    marketing_lead_id as ma_lead_id,
    mql_event_id,
    'inside_sales' as stage,
    case when is_from_marketing then 'handover' else 'direct' end as entry_type,
    entry_at as entered_at,
    outcome(converted_at, disqualified_at, as_of) as outcome,
    case when converted_at <= as_of then converted_at end as advanced_at,
    case when outcome(converted_at, disqualified_at, as_of) = 'dropped' then disqualified_at end as dropped_at,
    coalesce(disqualified_reason, lower(status)) as disqualified_reason,
    mql_score,
    source,
    campaign_id,
    owner_id
from candidates;

-- Stage 3: one entry per new-business opportunity, when its lead converted (or when created, if sales-sourced);
-- it advances when won and drops when lost.
create table field_sales_entries as
with candidates as (
    select
        o.*,
        case when o.lead_id is not null then coalesce(l.converted_at, o.created_at) else o.created_at end as entry_at,
        case when o.is_won then o.closed_at end as won_at,
        case when o.is_closed and not coalesce(o.is_won, false) then o.closed_at end as lost_at,
        case when o.lead_id is null then 'sales_sourced' else h.source end as lead_source,
        h.campaign_id,
        lower(c.segment) as segment,
        lower(c.industry) as industry,
        a.as_of
    from sfa_opportunities as o
    cross join as_of as a
    left join sfa_leads as l on l.lead_id = o.lead_id
    left join handovers as h on h.sfa_lead_id = o.lead_id
    left join crm_customers as c on c.account_id = o.account_id
    where lower(o.type) = 'new_business'
)

select
    opportunity_id as entry_id,
    lead_id as sfa_lead_id,
    account_id,
    'field_sales' as stage,
    case when lead_id is not null then 'handover' else 'direct' end as entry_type,
    entry_at as entered_at,
    outcome(won_at, lost_at, as_of) as outcome,
    case when won_at <= as_of then won_at end as advanced_at,
    case when outcome(won_at, lost_at, as_of) = 'dropped' then lost_at end as dropped_at,
    amount,
    lead_source as source,
    campaign_id,
    owner_id,
    segment,
    industry
from candidates
where entry_at <= as_of;

-- Stage 4: one entry per customer, when its deal was won (or at onboarding, without one); it advances at the first
-- renewal of its first contract and drops when that contract churns.
create table customer_success_entries as
with first_contracts as (
    select account_id, arg_min(contract_id, (start_date, contract_id)) as contract_id
    from crm_contracts
    where renewal_of_contract_id is null
    group by account_id
),

renewals as (
    select renewal_of_contract_id, min(start_date) as renewal_start_date
    from crm_contracts
    where renewal_of_contract_id is not null
    group by renewal_of_contract_id
),

first_terms as (
    select
        f.account_id,
        k.mrr as first_mrr,
        timezone('Asia/Tokyo', cast(r.renewal_start_date as timestamp)) as renewed_at,
        k.churned_at
    from first_contracts as f
    inner join crm_contracts as k on k.contract_id = f.contract_id
    left join renewals as r on r.renewal_of_contract_id = f.contract_id
),

candidates as (
    select
        c.account_id,
        c.won_opportunity_id,
        coalesce(case when o.is_won then o.closed_at end, c.onboarded_at) as entry_at,
        t.first_mrr,
        t.renewed_at,
        t.churned_at,
        case
            when c.won_opportunity_id is null then 'existing_customer'
            when o.lead_id is null then 'sales_sourced'
            else h.source
        end as source,
        h.campaign_id,
        lower(c.segment) as segment,
        lower(c.industry) as industry,
        a.as_of
    from crm_customers as c
    cross join as_of as a
    left join sfa_opportunities as o on o.opportunity_id = c.won_opportunity_id
    left join handovers as h on h.sfa_lead_id = o.lead_id
    left join first_terms as t on t.account_id = c.account_id
)

select
    account_id as entry_id,
    won_opportunity_id,
    'customer_success' as stage,
    case when won_opportunity_id is not null then 'handover' else 'direct' end as entry_type,
    entry_at as entered_at,
    outcome(renewed_at, churned_at, as_of) as outcome,
    case when renewed_at <= as_of then renewed_at end as advanced_at,
    case when outcome(renewed_at, churned_at, as_of) = 'dropped' then churned_at end as dropped_at,
    first_mrr,
    source,
    campaign_id,
    segment,
    industry
from candidates
where entry_at <= as_of;

-- The monthly KPI table, both views: base = entries in the month (handed over + direct); period goal = forward
-- hand-overs dated in the month; cohort goal = the month's entries that advanced by the as-of instant.
create table funnel_kpi_monthly as
with stage_rows as (
    select stage, entry_type, outcome, entered_at, advanced_at, dropped_at from marketing_entries
    union all
    select stage, entry_type, outcome, entered_at, advanced_at, dropped_at from inside_sales_entries
    union all
    select stage, entry_type, outcome, entered_at, advanced_at, dropped_at from field_sales_entries
    union all
    select stage, entry_type, outcome, entered_at, advanced_at, dropped_at from customer_success_entries
),

months as (
    select
        stage,
        entry_type,
        outcome,
        month_of(entered_at) as entered_month,
        month_of(advanced_at) as advanced_month,
        month_of(dropped_at) as dropped_month
    from stage_rows
),

stages (stage, stage_order) as (
    values ('marketing', 1), ('inside_sales', 2), ('field_sales', 3), ('customer_success', 4)
),

periods as (
    select cast(m.period_start as date) as period_start
    from (select min(entered_month) as first_month from months) as f
    cross join as_of as a
    cross join generate_series(
        cast(f.first_month as timestamp), cast(month_of(a.as_of) as timestamp), interval 1 month
    ) as m (period_start)
),

entries as (
    select
        stage,
        entered_month as period_start,
        count(*) as base,
        count(case when entry_type = 'handover' then 1 end) as base_handover,
        count(case when outcome = 'advanced' then 1 end) as cohort_goal,
        count(case when outcome = 'dropped' then 1 end) as cohort_dropped
    from months
    group by all
),

advances as (
    select stage, advanced_month as period_start, count(*) as period_goal
    from months where advanced_month is not null group by all
),

drops as (
    select stage, dropped_month as period_start, count(*) as period_dropped
    from months where dropped_month is not null group by all
),

grid as (
    select
        p.period_start,
        s.stage,
        s.stage_order,
        coalesce(e.base, 0) as base,
        coalesce(e.base_handover, 0) as base_handover,
        coalesce(e.cohort_goal, 0) as cohort_goal,
        coalesce(e.cohort_dropped, 0) as cohort_dropped,
        coalesce(v.period_goal, 0) as period_goal,
        coalesce(d.period_dropped, 0) as period_dropped
    from periods as p
    cross join stages as s
    left join entries as e on e.stage = s.stage and e.period_start = p.period_start
    left join advances as v on v.stage = s.stage and v.period_start = p.period_start
    left join drops as d on d.stage = s.stage and d.period_start = p.period_start
),

views as (
    select 'period' as view, *, period_goal as goal, period_dropped as dropped from grid
    union all
    select 'cohort' as view, *, cohort_goal as goal, cohort_dropped as dropped from grid
)

select
    v.view,
    v.period_start,
    v.stage,
    v.stage_order,
    v.base,
    v.base_handover,
    v.base - v.base_handover as base_direct,
    v.goal,
    cast(v.goal as double) / nullif(v.base, 0) as conversion_rate,
    v.dropped,
    a.as_of,
    datediff('day', v.period_start, cast(timezone('Asia/Tokyo', a.as_of) as date)) as period_age_days
from views as v
cross join as_of as a
order by v.view, v.period_start, v.stage_order;

-- section: publish
attach getvariable('published') as published;
create table published.main.funnel_kpi_monthly as select * from funnel_kpi_monthly;
checkpoint published;
detach published;
