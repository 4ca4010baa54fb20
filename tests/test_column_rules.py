"""The project's `column_rules` dbt test (transforms/tests/generic/column_rules.sql) asserts what dbt's not_null,
unique, accepted_values and expression_is_true tests asserted, one test per model instead of one per column and rule.

Its SQL is rendered from the file as dbt renders a generic test's body (Jinja with `do`, `config`, `model` and the project's macros)
and run on a small table, clean and then broken in each way a rule forbids; the failures it reports are compared
with counts of the broken rows computed directly. That every model declares its rules is in the manifest
(tests/test_dbt_project_rules.py: every model's key is not null and unique).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import jinja2
import pytest

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "transforms"

RULES = {
    "not_null": ["id", "status"],
    "unique": ["id", "region || '|' || id"],
    "accepted_values": {"status": ["open", "won"]},
    "expressions": ["amount >= 0", "status = 'won' or won_at is null"],
}


def column_rules_sql(model: str, **rules) -> str:
    source = (DBT_PROJECT_DIR / "tests" / "generic" / "column_rules.sql").read_text()
    source = (DBT_PROJECT_DIR / "macros" / "count_where.sql").read_text() + source  # the project macro it calls
    source = re.sub(r"{%\s*test\s+", "{% macro ", source).replace("endtest", "endmacro")
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    template = environment.from_string(source, globals={"config": lambda **_: ""})
    return str(template.module.column_rules(model, **rules))


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute(
        "create table deals as select * from (values (1, 'eu', 'open', 10, null), (2, 'eu', 'won', 5, "
        "timestamp '2026-01-02'), (3, 'us', 'open', 0, null)) as t(id, region, status, amount, won_at)"
    )
    yield con
    con.close()


def failures(con, **rules) -> dict[str, int]:
    return dict(con.execute(column_rules_sql("deals", **rules)).fetchall())


def test_a_table_that_keeps_every_rule_passes(con):
    assert failures(con, **RULES) == {}


def test_each_broken_rule_is_named_with_its_count(con):
    con.execute("insert into deals values (null, 'us', 'open', 1, null), (2, 'us', 'lost', -3, null)")
    con.execute("insert into deals values (1, 'eu', null, 2, timestamp '2026-01-03')")
    expected = {
        "id is null": con.execute("select count(*) from deals where id is null").fetchone()[0],
        "status is null": 1,
        "id repeats": con.execute(  # rows beyond the first of each repeated id
            "select sum(n - 1) from (select count(*) as n from deals where id is not null group by id)"
        ).fetchone()[0],
        "region || '|' || id repeats": 1,  # eu|1 twice; us|2 and eu|2 differ
        "status not in ('open', 'won')": 1,  # lost; a null status is not_null's to report
        "not (amount >= 0)": 1,
        "not (status = 'won' or won_at is null)": 1,  # null status with won_at: null counts as false
    }
    assert failures(con, **RULES) == expected
    assert expected["id is null"] == 1 and expected["id repeats"] == 2


def test_rules_left_out_are_not_checked(con):
    con.execute("insert into deals values (4, 'us', 'lost', -1, null)")
    assert failures(con, unique=["id"]) == {}
    assert failures(con, not_null=["id"], accepted_values={"status": ["open", "won", "lost"]}) == {}
