"""What a killed Spark write leaves in Spark's table folders, removed before the next dbt step on Spark.

Spark writes a table's files under `<table folder>/_temporary/` and moves them into the folder when the write
commits. A dbt process killed in the middle of a write (SIGKILL, OOM, a power cut) leaves that `_temporary` folder,
and when the table was being created the metastore never learnt of it: the next `create table` of the model then
fails with LOCATION_ALREADY_EXISTS, because Spark refuses a managed table whose folder is not empty, and every later
run fails the same way. Uncommitted output is never read (Spark skips paths starting with `_`) and no other Spark
process can be writing (the dbt step holds the warehouse pool, and Derby admits one process), so removing every
`_temporary` folder of a table is safe: a table that was being created is left an empty folder, which Spark accepts,
and a table that was being appended to keeps what it had committed.
"""

import shutil
from pathlib import Path


def remove_interrupted_writes(spark_dir: str | Path) -> list[Path]:
    """Remove the `_temporary` folder of every table under `<spark_dir>/tables/`; the folders removed."""
    removed = sorted((Path(spark_dir) / "tables").glob("*.db/*/_temporary"))
    for folder in removed:
        shutil.rmtree(folder)
    return removed
