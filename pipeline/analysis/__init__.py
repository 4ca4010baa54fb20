"""Analysis in Python: hypothesis verification with statsmodels and the forecast, computed by tables.py for the dbt
Python models of transforms/models/analysis (on DuckDB) and for the analysis step (on Spark, assets.py)."""
