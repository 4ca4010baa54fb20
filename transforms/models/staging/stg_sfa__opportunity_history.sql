{#-
    One row per change of an opportunity, the values right after it, as the extract gives them: an empty value is
    "not in this row" (the states model carries the previous row's value forward). No currency conversion here:
    int_opportunity_states converts a deal's amounts at one rate. A row that changes nothing (every value it gives
    equals the one carried forward from the rows before it) is left out: a history-mode table (Fivetran) writes a
    version whenever any field changes, a viewed date included, and such a row is no change of the pipeline.

    A table, unlike the other staging models: carrying six values forward sorts every change, and the states model,
    the as-of instant and this model's tests each read it (a view would sort again for each of them).
-#}
{{ config(materialized='table') }}

with source as (
    {{ newest_records(source('sfa', 'opportunity_history'), ['opportunity_id', 'changed_at']) }}
),

renamed as (
    select
        opportunity_id,
        changed_at,
        stage_name,
        amount as amount_original,
        upper(trim(currency)) as currency,
        close_date,
        probability,
        {{ forecast_category('forecast_category') }} as forecast_category
    from source
),

carried as (
    select
        *,
        {{ last_non_null("stage_name") }} over earlier as previous_stage_name,
        {{ last_non_null("amount_original") }} over earlier as previous_amount_original,
        {{ last_non_null("currency") }} over earlier as previous_currency,
        {{ last_non_null("close_date") }} over earlier as previous_close_date,
        {{ last_non_null("probability") }} over earlier as previous_probability,
        {{ last_non_null("forecast_category") }} over earlier as previous_forecast_category
    from renamed
    window earlier as (
        partition by opportunity_id order by changed_at rows between unbounded preceding and 1 preceding
    )
)

select
    opportunity_id,
    changed_at,
    stage_name,
    amount_original,
    currency,
    close_date,
    probability,
    forecast_category
from carried
where
    stage_name is not null and stage_name is distinct from previous_stage_name
    or amount_original is not null and amount_original is distinct from previous_amount_original
    or currency is not null and currency is distinct from previous_currency
    or close_date is not null and close_date is distinct from previous_close_date
    or probability is not null and probability is distinct from previous_probability
    or forecast_category is not null and forecast_category is distinct from previous_forecast_category
