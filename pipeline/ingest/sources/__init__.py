"""Bring-your-own-extract ingestion: mapping files, built-in adapters, CSV dialects, quarantine and the load log.

docs/sources.md explains the mapping file; pipeline/ingest/assets.py turns each contract entity into a Dagster asset
that loads every file the configured sources name for it.
"""
