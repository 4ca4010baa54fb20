"""Where readers find what a run publishes, beside the warehouse file: the one place these paths are computed."""

from pathlib import Path

#: The published copy of the marts that BI tools open (never the warehouse file itself).
PUBLISHED_FILE = "marts.duckdb"


def serving_dir(warehouse_path: str | Path) -> Path:
    """The folder of the warehouse file, where the published files live."""
    return Path(warehouse_path).parent


def published_file(warehouse_path: str | Path) -> Path:
    return serving_dir(warehouse_path) / PUBLISHED_FILE


def parquet_dir(warehouse_path: str | Path) -> Path:
    """One Parquet file per published mart."""
    return serving_dir(warehouse_path) / "parquet"


def report_dir(warehouse_path: str | Path) -> Path:
    """The HTML funnel report (index.html)."""
    return serving_dir(warehouse_path) / "report"
