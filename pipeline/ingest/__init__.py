"""Ingest: the input contract and one asset per entity that loads the configured sources' extracts."""
