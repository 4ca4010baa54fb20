"""`make export`: the published marts as CSV files in UTF-8 with a BOM, which Japanese Excel opens correctly.

    python -m pipeline.serving.export [--out DIR]

Reads the published copy (marts.duckdb beside the warehouse), never the file the pipeline writes.
"""

import argparse
import shutil
import sys
from pathlib import Path

import duckdb

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import Settings
from pipeline.serving.paths import published_file, serving_dir

BOM = "\ufeff".encode("utf-8")


def export_marts(published: Path, out: Path) -> list[Path]:
    """One CSV per mart in `out`, each written beside its final name and renamed into place."""
    if not published.exists():
        raise SystemExit(f"{published} does not exist yet: run `make run` first")
    out.mkdir(parents=True, exist_ok=True)
    files = []
    with duckdb.connect(str(published), read_only=True) as con:
        tables = [t for (t,) in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        for table in tables:
            plain, final = out / f".{table}.csv.tmp", out / f"{table}.csv"
            con.execute(f"COPY (select * from main.{table}) TO '{plain}' (HEADER, DELIMITER ',')")
            with open(plain, "rb") as source, open(final.with_suffix(".csv.bom"), "wb") as target:
                target.write(BOM)
                shutil.copyfileobj(source, target)
            plain.unlink()
            final.with_suffix(".csv.bom").replace(final)
            files.append(final)
    return files


def main(argv: list[str] | None = None) -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None
    folder = serving_dir(settings.warehouse_path)
    parser = argparse.ArgumentParser(prog="python -m pipeline.serving.export", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=folder / "export", help=f"folder to write (default {folder}/export)"
    )
    args = parser.parse_args(argv)
    for path in export_marts(published_file(settings.warehouse_path), args.out):
        print(path)


if __name__ == "__main__":
    main()
