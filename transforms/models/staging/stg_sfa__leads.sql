{#- The staging itself is macros/staging.sql, shared with the incremental models' updates. -#}

{{ staged_sfa_leads(source('sfa', 'leads')) }}
