"""The ingest paths of docs/sources.md compared over the same records (`make bench-ingest`).

ingest_canonical loads the demo extracts in the canonical layout, ingest_mapping the same records re-exported as
Japanese Excel CSVs (CP932, 2024年4月1日 dates, ￥ amounts) through docs/examples/excel_ja.yml, ingest_mapping_utf8
the same export saved as UTF-8; each into a fresh warehouse, all six entities in this one process, with the wall
time and the peak memory of this process. The mapping path may take at most MAPPING_INGEST_MAX_RATIO times the
canonical one.
"""

import dataclasses
import os
import time
from pathlib import Path

import duckdb

from bench.measure import PeakMemory
from demo import excel as demo_excel
from pipeline.config.settings import PROJECT_ROOT
from pipeline.ingest.contract import ENTITIES
from pipeline.ingest.sources.loader import load_entity
from pipeline.ingest.sources.mapping import landing_layout, load_mapping

MAPPING_INGEST_MAX_RATIO = 1.2  # the mapping path may take at most 20 % longer than the canonical one
EXCEL_MAPPING = PROJECT_ROOT / "docs" / "examples" / "excel_ja.yml"


def ingest_all(sources: list, landing: Path, warehouse: Path) -> int:
    """Load every contract entity into a fresh warehouse; return the records loaded."""
    warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        return sum(load_entity(con, e, sources, landing, "Asia/Tokyo", "Asia/Tokyo").rows for e in ENTITIES)


def compare_ingest(work: Path, landing: Path) -> dict:
    """Time the canonical and the mapping ingest paths over the same records; with mapping / canonical.

    The mapping path reads the CP932 export; the same export in UTF-8 through the same mapping shows what the
    transcoding costs (DuckDB cannot read CP932 without its encodings extension, so Python transcodes it)."""
    excel, utf8 = work / "excel-landing", work / "excel-utf8-landing"
    demo_excel.export(landing, excel / "excel")
    demo_excel.export(landing, utf8 / "excel", encoding="utf-8")
    mapping = load_mapping(EXCEL_MAPPING, excel)
    as_utf8 = dataclasses.replace(
        load_mapping(EXCEL_MAPPING, utf8), dialect=dataclasses.replace(mapping.dialect, encoding="utf-8")
    )
    phases = []
    for name, sources, base in (
        ("ingest_canonical", [landing_layout(landing)], landing),
        ("ingest_mapping", [mapping], excel),
        ("ingest_mapping_utf8", [as_utf8], utf8),
    ):
        started = time.perf_counter()
        with PeakMemory(os.getpid()) as memory:
            rows = ingest_all(sources, base, work / f"{name}.duckdb")
        seconds = time.perf_counter() - started
        phases.append({"phase": name, "seconds": round(seconds, 2), "rows": rows, "peak_rss_bytes": memory.peak})
        print(f"  {name:<19} {seconds:8.1f} s  {rows:>12,} rows  {memory.peak / 2**20:>7,.0f} MB peak", flush=True)
    if len({p["rows"] for p in phases}) != 1:
        raise SystemExit(f"the paths loaded different row counts: {phases}")
    ratio = phases[1]["seconds"] / phases[0]["seconds"]
    verdict = "within" if ratio <= MAPPING_INGEST_MAX_RATIO else "MISSED"
    print(f"  mapping ingest / canonical ingest: {ratio:.2f} (target at most {MAPPING_INGEST_MAX_RATIO}: {verdict})")
    return {"phases": phases, "mapping_ingest_ratio": round(ratio, 3), "target": MAPPING_INGEST_MAX_RATIO}
