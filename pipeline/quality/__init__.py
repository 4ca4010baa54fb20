"""Data quality: the reconciliation gates and Great Expectations suites of the extracted layer."""
