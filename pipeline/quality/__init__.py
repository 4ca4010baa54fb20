"""Data quality: the Great Expectations suites of the extracted layer (the reconciliation gate is a dbt test)."""
