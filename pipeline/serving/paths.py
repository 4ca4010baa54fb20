"""The files beside the warehouse file: what a run publishes for readers, and the alert ledger. The one place these
paths are computed."""

from pathlib import Path

#: The published copy of the marts that BI tools open (never the warehouse file itself).
PUBLISHED_FILE = "marts.duckdb"
#: The alert ledger (pipeline/alerts/ledger.py): SQLite, which several processes can share.
ALERT_LEDGER_FILE = "alert_ledger.sqlite"


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


def alert_ledger_file(warehouse_path: str | Path) -> Path:
    """Every alert raised and its delivery; back it up with the warehouse file."""
    return serving_dir(warehouse_path) / ALERT_LEDGER_FILE
