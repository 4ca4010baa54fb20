{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'stg_reference__owner_targets'}}}) }}
{#-
    A person's own goal in targets.yml (`people`) is a goal of the stage of their role in the team list
    (sfa/users): inside_sales, field_sales or customer_success. Warns with the goals marts.owner_performance
    cannot place, so they count nowhere: a user id the team list lacks (a typo, or no team list at all), or a
    person of another role.
-#}
select
    targets.user_id,
    targets.month,
    users.role
from {{ ref('stg_reference__owner_targets') }} as targets
left join {{ ref('stg_sfa__users') }} as users on targets.user_id = users.user_id
where users.role is null or users.role not in ('inside_sales', 'field_sales', 'customer_success')
