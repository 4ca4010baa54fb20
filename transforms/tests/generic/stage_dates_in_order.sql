{#-
    A stage table's entries leave the stage no earlier than they entered it, and have spent no negative time
    in it. Warns: an upstream system can stamp an event before the record it belongs to was created.
-#}
{% test stage_dates_in_order(model) %}
{{ config(severity='warn') }}
select entry_id, entered_at, advanced_at, dropped_at, days_in_stage
from {{ model }}
where advanced_at < entered_at or dropped_at < entered_at or days_in_stage < 0
{% endtest %}
