{#- The SFA opportunities as they stood at the as-of instant (macros/history.sql, records_as_of). -#}
{{ records_as_of(ref('history_sfa_opportunities'), ref('stg_sfa__opportunities'), 'opportunity_id') }}
