"""Whether the warehouse's folder can hold it, asked once before a run writes anything.

Every step opens the warehouse, and the publish step writes the published marts beside it, so a missing or
read-only folder would fail them one by one with DuckDB's error for each. A run asks first and reports the folder
once, as what it is. A missing folder is not created: a mistyped FUNNEL_WAREHOUSE would otherwise start a new,
empty warehouse somewhere unexpected. os.access answers for this process's user, and for root too on a read-only
file system.
"""

import os
from pathlib import Path


def location_problem(warehouse_path: str | Path) -> str | None:
    """Why the warehouse at `warehouse_path` cannot be written, or None when it can."""
    path = Path(warehouse_path)
    folder = path.parent
    try:
        folder.stat()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"{folder} cannot be reached ({exc.strerror}): FUNNEL_WAREHOUSE={path}"
    if not folder.exists():
        return f"{folder} does not exist: create it, or point FUNNEL_WAREHOUSE at a file in an existing folder"
    if not folder.is_dir():
        return f"{folder} is not a folder (FUNNEL_WAREHOUSE={path})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return (
            f"{folder} is read-only: the warehouse {path.name}, its write-ahead log and the published marts are "
            "written there (FUNNEL_WAREHOUSE)"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is read-only (FUNNEL_WAREHOUSE)"
    return None
