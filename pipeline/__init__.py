"""THE MODEL funnel pipeline: MA, SFA and CRM extracts -> DuckDB -> stage tables and KPI marts."""
