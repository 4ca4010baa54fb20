{{ config(enabled=has_system('ma')) }}

{#- The staging itself is macros/staging.sql, shared with the incremental models' updates. -#}

{{ staged_ma_leads(source('ma', 'leads')) }}
