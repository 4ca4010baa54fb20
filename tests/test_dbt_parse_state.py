"""A new warehouse folder reuses dbt's parsed project, and only where that is sound (pipeline/transforms/dbt_main.py).

dbt hashes its profile, the warehouse `path` included, into the check of its partial-parse state. The pipeline's
dbt leaves the folder out of that hash, so a fresh warehouse elsewhere (a bench or test warehouse) does not parse the
whole project again. That is sound only when the parse does not depend on the folder: a project parsed afresh for
the new folder must equal the reused one. Another file name is another database name, which every node carries: it
must still parse afresh, and the nodes must carry the new name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from pipeline.transforms.project import DBT_COMMAND, DBT_PROJECT_DIR

#: Fields that differ between two parses of the same project: when and in which invocation each was made.
VOLATILE = {"created_at", "generated_at", "invocation_id", "invocation_started_at", "run_started_at"}


def parse(warehouse: Path, target: Path, *flags: str) -> str:
    """`dbt parse` as the pipeline starts dbt, for `warehouse`, in the target folder `target`; its debug log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")} | {"FUNNEL_WAREHOUSE": str(warehouse)}
    done = subprocess.run(
        [*DBT_COMMAND, "parse", *flags, "--target-path", str(target), "--log-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        env=env | {"DBT_PROFILES_DIR": str(DBT_PROJECT_DIR), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return (target / "dbt.log").read_text()


def stable(value):
    """The manifest without VOLATILE fields, at any depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def manifest(target: Path) -> dict:
    return stable(json.loads((target / "manifest.json").read_text()))


def reused_state_from(source: Path, target: Path) -> Path:
    target.mkdir()
    shutil.copyfile(source / "partial_parse.msgpack", target / "partial_parse.msgpack")
    return target


def test_a_new_warehouse_folder_reuses_the_parse_and_another_file_name_does_not(tmp_path):
    first = tmp_path / "first"
    parse(tmp_path / "a" / "themodel.duckdb", first)

    moved = reused_state_from(first, tmp_path / "moved")
    log = parse(tmp_path / "b" / "themodel.duckdb", moved)
    assert "Unable to do partial parsing" not in log and "Partial parsing enabled" in log, log[-3000:]

    afresh = tmp_path / "afresh"
    parse(tmp_path / "b" / "themodel.duckdb", afresh, "--no-partial-parse")
    assert manifest(moved) == manifest(afresh), "the project parsed for the new folder differs from the reused parse"

    renamed = reused_state_from(first, tmp_path / "renamed")
    log = parse(tmp_path / "a" / "elsewhere.duckdb", renamed)
    assert "Unable to do partial parsing because profile has changed" in log, log[-3000:]
    databases = {node["database"] for node in json.loads((renamed / "manifest.json").read_text())["nodes"].values()}
    assert databases == {"elsewhere"}


def test_nothing_in_the_dbt_project_reads_the_warehouse_path():
    """The folder is left out of the hash because no model, macro, test or project file renders `target.path`: one
    that did would be parsed with the folder of whichever warehouse parsed it last."""
    readers = [
        str(path.relative_to(DBT_PROJECT_DIR))
        for path in DBT_PROJECT_DIR.rglob("*")
        if path.is_file()
        and path.suffix in {".sql", ".yml", ".yaml", ".py", ".md"}
        and "target" not in path.relative_to(DBT_PROJECT_DIR).parts[:1]
        and "target.path" in path.read_text(errors="replace")
    ]
    assert readers == []
