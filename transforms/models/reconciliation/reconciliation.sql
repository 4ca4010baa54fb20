{#-
    Per month and hand-over, how the two sides of the boundary reconcile by id. status: `error` when the
    unmatched share exceeds the hand-over's tolerance (quality.yml), `warn` when anything does not
    reconcile (including out-of-order or late records), `ok` otherwise.
-#}

with pairs as (
    select * from {{ ref('int_handover_pairs') }}
),

as_of as (
    select {{ month_start('as_of') }} as as_of_month from {{ ref('int_as_of') }}
),

handoffs as (
    select
        rules.handoff,
        rules.handoff_order,
        rules.tolerance
    from {{ ref('stg_reference__reconciliation_rules') }} as rules
),

months as (
    {{ period_spine('select min(period_start) from pairs', 'select as_of_month from as_of', 'interval 1 month') }}
),

counts as (
    select
        period_start as month,
        handoff,
        count(distinct upstream_id) as upstream_count,
        count(downstream_id) as downstream_count,
        count(distinct case when downstream_id is not null then upstream_id end) as matched,
        {{ count_where("reason = 'not_synced'") }} as missing_downstream,
        {{ count_where("reason = 'orphan_downstream'") }} as missing_upstream,
        {{ count_where("reason = 'duplicate'") }} as duplicated,
        {{ count_where("reason = 'time_out_of_order'") }} as out_of_order,
        {{ count_where("reason = 'late_sync'") }} as late_synced
    from pairs
    group by all
),

grid as (
    select
        months.period_start as month,
        handoffs.handoff,
        handoffs.handoff_order,
        handoffs.tolerance,
        coalesce(counts.upstream_count, 0) as upstream_count,
        coalesce(counts.downstream_count, 0) as downstream_count,
        coalesce(counts.matched, 0) as matched,
        coalesce(counts.missing_downstream, 0) as missing_downstream,
        coalesce(counts.missing_upstream, 0) as missing_upstream,
        coalesce(counts.duplicated, 0) as duplicated,
        coalesce(counts.out_of_order, 0) as out_of_order,
        coalesce(counts.late_synced, 0) as late_synced
    from months
    cross join handoffs
    left join counts on months.period_start = counts.month and handoffs.handoff = counts.handoff
),

shares as (
    select
        *,
        missing_downstream + missing_upstream + duplicated as unmatched,
        cast(missing_downstream + missing_upstream + duplicated as double)
        / nullif(greatest(upstream_count, downstream_count), 0) as unmatched_share
    from grid
)

select
    month,
    handoff,
    handoff_order,
    cast(upstream_count as bigint) as upstream_count,
    cast(downstream_count as bigint) as downstream_count,
    cast(matched as bigint) as matched,
    cast(missing_downstream as bigint) as missing_downstream,
    cast(missing_upstream as bigint) as missing_upstream,
    cast(duplicated as bigint) as duplicated,
    cast(out_of_order as bigint) as out_of_order,
    cast(late_synced as bigint) as late_synced,
    coalesce(unmatched_share, 0) as unmatched_share,
    cast(tolerance as double) as tolerance,
    case
        when coalesce(unmatched_share, 0) > tolerance then 'error'
        when unmatched + out_of_order + late_synced > 0 then 'warn'
        else 'ok'
    end as status
from shares
order by month, handoff_order
