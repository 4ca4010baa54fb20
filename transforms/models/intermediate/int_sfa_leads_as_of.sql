{#- The SFA leads as they stood at the as-of instant (macros/history.sql, records_as_of). -#}
{{ records_as_of(ref('history_sfa_leads'), ref('stg_sfa__leads'), 'sfa_lead_id') }}
