"""What a mapping file would load, before anything is written: `make check-source MAPPING=path/to/mapping.yml`.

    python -m pipeline.ingest.sources.check MAPPING [--landing DIR] [--samples 3]

For each entity the mapping fills: the files its globs match, and per file the encoding and delimiter found,
the data rows, how many would load, be quarantined (with the first reasons) or be excluded by its filter, the
mapped source columns found and missing, and sample values as they would land in the extracted layer. The files are read into
an in-memory DuckDB; the warehouse is not opened. Exits 1 when a file would fail to load.
"""

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import duckdb

from pipeline.config.files import EXIT_CONFIG_ERROR, ConfigError
from pipeline.config.settings import Settings
from pipeline.ingest.sources.loader import FIRST_BAD_LINES, IngestError, prepare_file, stage_lookups
from pipeline.ingest.sources.mapping import MappingError, SourceMapping, load_mapping, matched_files
from pipeline.ingest.sources.reader import ReadError, stage, unstage


def _columns_report(con, source: SourceMapping, table: str, path: Path, work_dir: Path) -> list[str]:
    mapping = source.entities[table]
    try:
        staged = stage(con, path, source.dialect, work_dir, table="_check_header")
    except ReadError as exc:
        return [f"    cannot read: {exc}"]
    header = {h.lower() for h in staged.header}
    unstage(con, "_check_header")
    found, missing = [], []
    optional = {c.lower() for c in mapping.optional_columns}
    for name, spec in mapping.columns.items():
        if not spec.column:
            found.append(f"{name} <- {'sql' if spec.sql else 'constant'}")
        elif spec.column.lower() in header:
            found.append(f"{name} <- {spec.column}")
        elif spec.column.lower() in optional:
            found.append(f"{name} <- {spec.column} (optional, absent: empty)")
        else:
            missing.append(f"{name} <- {spec.column}")
    unmapped = [c for c in mapping.entity.column_names if c not in mapping.columns]
    lines = [
        f"    encoding {staged.encoding}, delimiter {staged.delimiter!r}" if staged.delimiter else "    Parquet",
        f"    columns mapped: {', '.join(found) or 'none'}",
    ]
    if missing:
        lines.append(f"    MISSING in the file: {', '.join(missing)}")
    if unmapped:
        lines.append(f"    not mapped (will be empty): {', '.join(unmapped)}")
    return lines


def report(
    source: SourceMapping, landing_dir: Path, source_tz: str, reporting_tz: str, samples: int
) -> tuple[list[str], bool]:
    """The report's lines, and whether every file would load within its threshold."""
    lines = [f"source {source.name} ({source.path}), files under {source.files_dir}"]
    ok = True
    preview = dataclasses.replace(source, threshold=1.0)  # report every file in full, judge the threshold here
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="funnel-check-") as work:
        for table, mapping in source.entities.items():
            files = matched_files(source, mapping)
            absent = "" if files or not mapping.entity.optional else " (an optional entity: it would load as empty)"
            lines.append(f"\n{table}: {len(files)} file(s) match {', '.join(mapping.files)}{absent}")
            ok &= bool(files) or mapping.entity.optional
            for lookup in mapping.lookups:
                lines.append(
                    f"  lookup {lookup.name}: {len(matched_files(source, lookup))} file(s) match "
                    f"{', '.join(lookup.files) or '(none given: empty)'}"
                )
            try:
                stage_lookups(con, preview, mapping, Path(work))
            except IngestError as exc:
                lines.append(f"    WOULD FAIL: {exc}")
                ok = False
                continue
            for path in files:
                lines.append(f"  {path}")
                lines += _columns_report(con, source, table, path, Path(work))
                try:
                    prepared = prepare_file(
                        con, preview, mapping, path, landing_dir, source_tz, reporting_tz, Path(work), "_check"
                    )
                except IngestError as exc:
                    lines.append(f"    WOULD FAIL: {exc}")
                    ok = False
                    continue
                f = prepared.file
                share = f.quarantined / f.data_rows if f.data_rows else 0.0
                lines.append(
                    f"    data rows {f.data_rows}: would load {f.loaded}, quarantine {f.quarantined} "
                    f"({share:.1%}), exclude {f.excluded} by the mapping's filter"
                )
                for q in prepared.quarantine[:FIRST_BAD_LINES]:
                    lines.append(f"      line {q['line']}: {q['column_name'] or ''} {q['reason']}")
                if share > source.threshold:
                    lines.append(f"    WOULD FAIL: over the bad-row threshold of {source.threshold:.1%}")
                    ok = False
                names = mapping.entity.column_names
                rows = con.execute(
                    f"SELECT {', '.join(names)} FROM {prepared.rows} WHERE _keep AND _bad_column IS NULL "
                    f"ORDER BY _source_row LIMIT {samples}"
                ).fetchall()
                for row in rows:
                    lines.append("    sample: " + ", ".join(f"{n}={v}" for n, v in zip(names, row) if v is not None))
                con.execute("DROP TABLE _check")
                con.execute("DROP TABLE IF EXISTS _check_skips")
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()  # the defaults of --landing and --source-tz
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG_ERROR
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mapping", type=Path)
    parser.add_argument(
        "--landing",
        type=Path,
        default=Path(settings.landing_dir),
        help="folder the mapping's file globs are relative to (default FUNNEL_LANDING_DIR)",
    )
    parser.add_argument("--source-tz", default=settings.source_tz, help="default FUNNEL_SOURCE_TZ")
    parser.add_argument(
        "--reporting-tz",
        default=settings.reporting_tz,
        help="zone a date alone in a timestamp column is read in (default FUNNEL_REPORTING_TZ)",
    )
    parser.add_argument("--samples", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        source = load_mapping(args.mapping.resolve(), args.landing.resolve())
    except MappingError as exc:
        print(f"mapping error: {exc}", file=sys.stderr)
        return 1
    lines, ok = report(source, args.landing.resolve(), args.source_tz, args.reporting_tz, args.samples)
    print("\n".join(lines))
    print("\nOK: every file would load" if ok else "\nNOT OK: see WOULD FAIL above", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
