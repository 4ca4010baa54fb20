"""The demo extracts a benchmark reads: generated once per (leads, months, seed), reused while they are intact.

Generating 10,000,000 leads takes most of a minute, and every benchmark at that scale reads the same files, so
the folder keeps a manifest of what it was generated with and of every file's size. A later benchmark with the
same arguments and the same generator code reuses the folder when each file is still there at its size and no
other file joined them; otherwise it generates the folder anew (a changed generator writes other files).
"""

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from demo import generator as demo

MANIFEST = "bench-extracts.json"  # beside the extracts (the ingest reads only the system folders)


@dataclass(frozen=True)
class Extracts:
    folder: Path
    rows: dict[str, int] | None  # rows per entity when known (generated now or recorded in the manifest)
    generated_seconds: float | None  # None when reused or given


def _generator_digest() -> str:
    """SHA-256 of the demo generator's source files: extracts of other code are other extracts."""
    digest = hashlib.sha256()
    for path in sorted(Path(demo.__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _files(folder: Path) -> dict[str, int]:
    return {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


def _intact(folder: Path, wanted: dict) -> dict | None:
    """The manifest of `folder` when it was generated with `wanted` and its files are as it recorded them."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("arguments") != wanted or manifest.get("files") != _files(folder):
        return None
    return manifest


def demo_extracts(folder: Path, leads: int, months: int, seed: int, by_month: bool = False) -> Extracts:
    """Demo extracts of `leads` over `months` with `seed` in `folder` (as monthly exports when `by_month`,
    demo/months.py): the ones there if intact, else new ones."""
    wanted = {"leads": leads, "months": months, "seed": seed, "generator": _generator_digest()}
    wanted |= {"by_month": True} if by_month else {}
    if manifest := _intact(folder, wanted):
        return Extracts(folder, manifest["rows"], None)
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rows = demo.generate(leads, months, seed, folder, by_month=by_month)
    seconds = round(time.perf_counter() - started, 2)
    manifest = {"arguments": wanted, "rows": rows, "files": _files(folder)}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return Extracts(folder, rows, seconds)
