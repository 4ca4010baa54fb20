"""Another process holding a file open, for the tests of what a busy warehouse or metastore does to the pipeline.

The holder runs Python given as text with the file's path as `sys.argv[1]`, prints `held` once it has the file, and
keeps it for `seconds` or until the test's block ends, when it is killed: the OS lets go of what it held.
"""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Python that opens a DuckDB file as a DuckDB CLI or a notebook would: read-write, or read-only.
DUCKDB = "import duckdb, sys; c = duckdb.connect(sys.argv[1])"
DUCKDB_READ_ONLY = "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True)"


@contextmanager
def held(path: Path, opens: str = DUCKDB, seconds: float = 60) -> Iterator[subprocess.Popen]:
    """A process that has run `opens` on `path` and holds what it opened for `seconds`, killed when the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"{opens}; import time; print('held', flush=True); time.sleep(float(sys.argv[2]))",
            str(path),
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
