{#- Every SFA opportunity as it stood at each load, appended, never rebuilt (macros/history.sql). -#}
{{ history_versions(ref('stg_sfa__opportunities'), 'opportunity_id') }}
