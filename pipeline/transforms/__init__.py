"""Transforms: the dbt project (transforms/) as Dagster assets."""
