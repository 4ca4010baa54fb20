{{ config(enabled=has_system('ma')) }}

{#- The staging itself is macros/staging.sql, shared with the incremental models' updates. -#}

{{ staged_ma_mql_events(source('ma', 'mql_events')) }}
