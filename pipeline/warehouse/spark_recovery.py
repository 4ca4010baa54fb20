"""What a killed Spark write leaves in Spark's table folders, removed before the next dbt step on Spark.

Spark writes a table's files under `<table folder>/_temporary/` and moves them into the folder when the write
commits. A dbt process killed in the middle of a write (SIGKILL, OOM, a power cut) leaves that `_temporary` folder,
and when the table was being created the metastore never learnt of it: the next `create table` of the model then
fails with LOCATION_ALREADY_EXISTS, because Spark refuses a managed table whose folder is not empty, and every later
run fails the same way. Uncommitted output is never read (Spark skips paths starting with `_`), so once no Spark
process is writing, removing every `_temporary` folder of a table is safe: a table that was being created is left
an empty folder, which Spark accepts, and a table that was being appended to keeps what it had committed. No
process is writing when none has the Derby metastore open, which Derby marks with an OS lock on
`metastore_db/dbex.lck` for as long as it has it open (a `dbt build --target spark` run by hand, outside the
pipeline's pool, would); then nothing is removed, and the dbt step fails on Derby's lock, saying so.
"""

import fcntl
import shutil
from pathlib import Path


def metastore_in_use(spark_dir: str | Path) -> bool:
    """Whether a live process has the Derby metastore under `spark_dir` open (it holds a lock on dbex.lck)."""
    lock = Path(spark_dir) / "metastore_db" / "dbex.lck"
    if not lock.exists():
        return False
    with lock.open("a") as file:
        try:
            fcntl.lockf(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(file, fcntl.LOCK_UN)
    return False


def remove_interrupted_writes(spark_dir: str | Path) -> list[Path]:
    """Remove the `_temporary` folder of every table under `<spark_dir>/tables/` unless a process has the
    metastore open; the folders removed."""
    if metastore_in_use(spark_dir):
        return []
    removed = sorted((Path(spark_dir) / "tables").glob("*.db/*/_temporary"))
    for folder in removed:
        shutil.rmtree(folder)
    return removed
