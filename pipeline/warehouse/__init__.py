"""The DuckDB warehouse file: its resource, the schemas of its layers and the migration of older layouts."""
