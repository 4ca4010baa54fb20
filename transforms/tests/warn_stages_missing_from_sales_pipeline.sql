{{ config(severity='warn') }}
{#-
    Stage names opportunities were in while open that sales_pipeline.yml's `stages` does not list (a renamed
    stage, a new one, a typo in the file): such a stage has no position, so no move into or out of it counts as
    backwards and no deal in it is ever listed as stalled. Warns with each name and how many spells it has.
-#}
select
    stage_name,
    count(*) as spells
from {{ ref('opportunity_stage_durations') }}
where position is null
group by stage_name
