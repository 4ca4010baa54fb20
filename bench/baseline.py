"""The benchmark's baseline: bench/baseline.sql, section by section, in this one process.

    python bench/baseline.py LANDING FOLDER

Writes FOLDER/baseline.duckdb (the warehouse) and FOLDER/baseline-marts.duckdb (the published copy), both new,
and prints one JSON object: the seconds of each section of the script (ingest, transforms, publish) and the size
of the warehouse file. bench/run_bench.py runs it as a subprocess, so its process tree is measured the way the
product's is; tests/test_bench_baseline.py calls run() to check it counts what the product counts.
"""

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from bench.measure import file_bytes  # noqa: E402

SCRIPT = Path(__file__).with_name("baseline.sql")
SECTION = re.compile(r"^-- section: (\w+)\s*$", re.MULTILINE)


def sections(script: str) -> dict[str, str]:
    """The SQL of each `-- section: NAME` of the script, in order (the text before the first is comments)."""
    parts = SECTION.split(script)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def files(folder: Path) -> tuple[Path, Path]:
    """The baseline's warehouse and published file in `folder`."""
    return folder / "baseline.duckdb", folder / "baseline-marts.duckdb"


def run(landing: Path, folder: Path) -> dict:
    """Run the script over the extracts in `landing` into new files in `folder`; return seconds per section."""
    warehouse, published = files(folder)
    for path in (warehouse, published):
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    seconds = {}
    with duckdb.connect(str(warehouse)) as con:
        con.execute("set variable landing = ?", [str(landing)])
        con.execute("set variable published = ?", [str(published)])
        for name, sql in sections(SCRIPT.read_text(encoding="utf-8")).items():
            started = time.perf_counter()
            con.execute(sql)
            seconds[name] = round(time.perf_counter() - started, 3)
    return {"sections": seconds, "warehouse_bytes": file_bytes(warehouse), "published_bytes": file_bytes(published)}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))
