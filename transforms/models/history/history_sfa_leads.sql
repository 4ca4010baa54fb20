{#- Every SFA lead as it stood at each load, appended, never rebuilt (macros/history.sql). -#}
{{ history_versions(ref('stg_sfa__leads'), 'sfa_lead_id') }}
