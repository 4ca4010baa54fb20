"""The project's table and view materializations (transforms/macros/materializations/) replace a relation in one
statement and stay atomic: a model whose select fails keeps its previous table or view, whole, with no leftovers.

It runs in a small dbt project of its own, with the project's materialization file copied in, so each case costs a
dbt start on a tiny warehouse rather than a pipeline run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from pipeline.transforms.project import DBT_COMMAND, DBT_PROJECT_DIR

MATERIALIZATIONS = DBT_PROJECT_DIR / "macros" / "materializations"


class Probe:
    """A dbt project with one model, `numbers` (a table unless it says otherwise), and the pipeline's materializations."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.warehouse = folder / "probe.duckdb"
        (folder / "models").mkdir(parents=True)
        shutil.copytree(MATERIALIZATIONS, folder / "macros" / "materializations")
        (folder / "dbt_project.yml").write_text(
            "name: probe\nversion: '1.0'\nprofile: probe\nmodels:\n  probe:\n    +materialized: table\n"
        )
        (folder / "profiles.yml").write_text(
            f"probe:\n  target: local\n  outputs:\n    local:\n      type: duckdb\n      path: '{self.warehouse}'\n"
        )

    def model(self, sql: str, name: str = "numbers") -> None:
        (self.folder / "models" / f"{name}.sql").write_text(sql)

    def build(self) -> tuple[int, str]:
        """`dbt build` as the pipeline starts dbt; its exit code and debug log (the SQL it ran)."""
        logs = self.folder / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")} | {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"
        }
        done = subprocess.run(
            [*DBT_COMMAND, "build", "--profiles-dir", str(self.folder), "--log-path", str(logs)],
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
        )
        return done.returncode, (logs / "dbt.log").read_text()

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def tables(self) -> list[tuple]:
        return self.query("select table_name, table_type from information_schema.tables order by table_name")


@pytest.fixture
def probe(tmp_path) -> Probe:
    return Probe(tmp_path / "probe")


def test_a_relation_is_replaced_in_one_statement_and_a_failed_build_keeps_the_old_one(probe):
    probe.model("select range as n from range(3)")
    probe.model("{{ config(materialized='view') }} select 1 as n", name="latest")
    assert probe.build()[0] == 0
    probe.model("select range as n from range(5)")
    probe.model("{{ config(materialized='view') }} select 2 as n", name="latest")
    code, log = probe.build()
    assert code == 0
    assert "create or replace table" in log and "create or replace view" in log
    assert "__dbt_backup" not in log and "__dbt_tmp" not in log
    assert probe.query("select count(*), sum(n) from main.numbers") == [(5, 10)]

    # the table's select fails at its fourth row (a cast); the view's select does not bind
    probe.model("select cast(case when range < 3 then '1' else 'x' end as integer) as n from range(5)")
    probe.model("{{ config(materialized='view') }} select n from no_such_table", name="latest")
    code, log = probe.build()
    assert code != 0 and "Could not convert string 'x'" in log and "no_such_table" in log
    assert probe.query("select count(*), sum(n) from main.numbers") == [(5, 10)]
    assert probe.query("select n from main.latest") == [(2,)]
    assert probe.tables() == [("latest", "VIEW"), ("numbers", "BASE TABLE")]


def test_what_the_plain_case_does_not_cover_goes_to_dbt_duckdb(probe):
    probe.model("{{ config(materialized='view') }} select 1 as n")
    assert probe.build()[0] == 0 and probe.tables() == [("numbers", "VIEW")]
    probe.model("select 2 as n")  # a view becoming a table: dbt-duckdb's rename-and-swap
    code, log = probe.build()
    assert code == 0 and "__dbt_backup" in log and "create or replace table" not in log
    assert probe.tables() == [("numbers", "BASE TABLE")] and probe.query("select n from main.numbers") == [(2,)]
