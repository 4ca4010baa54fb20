"""Analysis in Python: hypothesis verification with statsmodels, run by the dbt Python model analysis.hypothesis_tests."""
