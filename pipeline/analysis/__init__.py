"""Analysis in Python: hypothesis verification with statsmodels."""
