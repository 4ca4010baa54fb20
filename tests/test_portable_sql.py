"""The dbt models are written once for every engine (issue #16, item 2): no model calls a DuckDB-only function.

What DuckDB and Spark spell differently lives in transforms/macros/dialect/, one adapter.dispatch macro per
expression with a duckdb__ and a spark__ implementation. This test reads every model (SQL or Python), macro (but
the engine-specific implementations of dispatch macros and DuckDB's materializations) and data test as written (the
SQL and the SQL handed to macros in {{ ... }}; Jinja comments, SQL comments and Jinja statements left out) and fails
on a DuckDB-only construct, naming the file, line and construct. The patterns are tried on samples first, so a
pattern that cannot match fails here rather than passing silently. Contract types in the models' YAML must be ones
both engines name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.transforms.project import DBT_PROJECT_DIR

MODELS = DBT_PROJECT_DIR / "models"

#: DuckDB-only constructs (or spelled otherwise in Spark SQL), each with a sample it must catch. The dialect
#: macro that replaces each is named in transforms/macros/dialect/.
DUCKDB_ONLY: dict[str, tuple[str, str]] = {
    "arg_min / arg_max (value_at_min, value_at_max, value_or_null_at_*)": (
        r"\barg_(min|max)(_null)?\s*\(",
        "arg_min(contract_id, start_date)",
    ),
    "epoch (days_between, seconds_from)": (r"\bepoch(_ms|_us|_ns)?\s*\(", "epoch(b - a)"),
    "timezone (wall_time, instant_at; local_time, date_to_instant)": (r"\btimezone\s*\(", "timezone('UTC', t)"),
    "* exclude / * replace (name the columns)": (r"\*\s*(exclude|replace)\s*\(", "select t.* exclude (a)"),
    "qualify (filter a ranked subquery)": (r"\bqualify\b", "qualify row_number() over () = 1"),
    "generate_series / range (integer_series, period_spine)": (
        r"\b(generate_series|range)\s*\(",
        "cross join generate_series(0, 3) as s (i)",
    ),
    "list_* / unnest (distinct_values)": (
        r"\b(list_\w+|unnest|array_agg)\s*\(",
        "unnest(list_distinct([a, b]))",
    ),
    "strptime / try_strptime / strftime (year_month_text)": (
        r"\b(try_)?str[pf]time\s*\(",
        "strftime(d, '%Y-%m')",
    ),
    "quantile / quantile_cont / quantile_disc (continuous_quantile)": (
        r"\bquantile(_cont|_disc)?\s*\(",
        "quantile_cont(x, 0.9)",
    ),
    "datediff / date_diff with a unit (days_from, months_from)": (
        r"\bdate_?diff\s*\(\s*'",
        "datediff('day', a, b)",
    ),
    "date_trunc (first_of_month, first_of_quarter)": (r"\bdate_trunc\s*\(", "date_trunc('month', d)"),
    "isodow / dayofweek (iso_weekday)": (r"\b(isodow|dayofweek|isoyear)\s*\(", "isodow(d)"),
    "to_months / to_days / to_microseconds (add_months, add_days, add_seconds)": (
        r"\bto_(years|months|days|hours|minutes|seconds|milliseconds|microseconds)\s*\(",
        "d + to_months(h)",
    ),
    "regexp_matches (rlike in Spark; match in Jinja when the text is a setting)": (
        r"\bregexp_(matches|full_match)\s*\(",
        "regexp_matches(s, 'x$')",
    ),
    "error (raise_error)": (r"(?<![\w.])error\s*\(", "then error('no rate')"),
    "row(...) values (row_value)": (r"(?<![\w.])row\s*\(", "row(a, b) is distinct from lag(row(a, b))"),
    "last_value(... ignore nulls) (last_non_null)": (r"\bignore\s+nulls\s*\)", "last_value(x ignore nulls)"),
    "integer division // (int_div)": (r"//", "(day(d) - 1) // 7"),
    "timestamptz / varchar / hugeint types (instant_type, string)": (
        r"\b(timestamptz|varchar|hugeint|uhugeint)\b",
        "cast(null as varchar)",
    ),
    "'infinity' timestamps (instant_infinity)": (r"'-?infinity'", "cast('infinity' as timestamptz)"),
    ":: casts (cast(... as ...))": (r"::", "x::date"),
    "anti join / semi join / positional / asof joins (not exists / exists)": (
        r"\b(anti|semi|positional|asof)\s+join\b",
        "anti join changes on a.id = changes.id",
    ),
    "date_add / date_sub with a unit, a difference in DuckDB, a shift in Spark (days_from, add_days)": (
        r"\bdate_(add|sub)\s*\(\s*'",
        "date_sub('day', a, b)",
    ),
    "regexp_replace, first match in DuckDB, every match in Spark": (
        r"\bregexp_replace\s*\(",
        "regexp_replace(s, 'a', 'b')",
    ),
    "= not x, which Spark cannot parse (write = (not x))": (r"=\s*not\b", "(a is null) = not b"),
    "any_value, which Spark lets return NULL (any_non_null)": (r"\bany_value\s*\(", "any_value(stage_name)"),
    "parse_filename (file_name_of)": (r"\bparse_(filename|path|dirname)\s*\(", "parse_filename(f)"),
}

#: The implementation of an adapter.dispatch macro for one engine (duckdb__x, spark__x) is that engine's SQL.
ENGINE_MACRO = re.compile(r"\{%-?\s*macro\s+(duckdb|spark)__\w+\(.*?\{%-?\s*endmacro\s*-?%\}", re.DOTALL)
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
#: Jinja control statements (for, if, macro, ...) are not SQL; `{% set %}` often holds SQL text and is read.
JINJA_STATEMENT = re.compile(r"\{%(?!-?\s*set\b).*?%\}", re.DOTALL)
SQL_COMMENT = re.compile(r"--[^\n]*")


def sql_as_written(text: str) -> str:
    """The model's SQL and macro arguments, with comments, Jinja statements and the engine-specific implementations of
    dispatch macros blanked (line numbers kept)."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    for pattern in (ENGINE_MACRO, JINJA_COMMENT, JINJA_STATEMENT, SQL_COMMENT):
        text = pattern.sub(blank, text)
    return text


def duckdb_only_uses(text: str) -> list[tuple[int, str, str]]:
    """(line, construct, the line's text) for every DuckDB-only construct in a model's text; a construct may span
    lines (`date_diff(` on one, `'day'` on the next)."""
    blanked = sql_as_written(text)
    lines = blanked.splitlines()
    found = set()
    for construct, (pattern, _) in DUCKDB_ONLY.items():
        for match in re.finditer(pattern, blanked, re.IGNORECASE):
            number = blanked.count("\n", 0, match.start()) + 1
            found.add((number, construct, lines[number - 1].strip()))
    return sorted(found)


@pytest.mark.parametrize("construct", sorted(DUCKDB_ONLY))
def test_each_pattern_catches_its_sample(construct):
    pattern, sample = DUCKDB_ONLY[construct]
    assert duckdb_only_uses(f"select\n    {sample}\nfrom t\n"), construct
    assert re.search(pattern, sample, re.IGNORECASE)


def test_an_engine_implementation_of_a_dispatch_macro_is_left_out():
    text = (
        "{% macro duckdb__first(a) -%}\n    arg_min(a, b)\n{%- endmacro %}\n"
        "{% macro spark__first(a) -%}min_by(a, b){%- endmacro %}\n"
        "{% macro first(a) -%}\n    arg_min(a, b)\n{%- endmacro %}\n"
    )
    assert [line for line, _, _ in duckdb_only_uses(text)] == [6]


def test_a_construct_may_span_lines_and_sql_in_a_set_statement_is_read():
    assert [
        line for line, _, _ in duckdb_only_uses("select\n    date_diff(\n        'day', a, b\n    )\nfrom t\n")
    ] == [2]
    assert duckdb_only_uses('{%- set active = "qualify row_number() over () = 1" %}\nselect 1\n') != []


def test_comments_and_jinja_statements_are_not_sql():
    text = "{#- arg_min(x, y) -#}\nselect a -- qualify here\n{%- for i in range(3) %}{% endfor %}\nfrom t\n"
    assert duckdb_only_uses(text) == []
    assert duckdb_only_uses("select {{ value_at_min('arg_max(a, b)', 'c') }}\n") != []


def test_the_portable_spellings_pass():
    text = (
        "select {{ value_at_min('contract_id', ['start_date', 'contract_id']) }} as first_id,\n"
        "    {{ first_of_month('d') }} as month, cast(null as string) as owner_id\n"
        "from t cross join {{ integer_series('0', 'n - 1', 'offsets', 'month_offset') }}\n"
    )
    assert duckdb_only_uses(text) == []


#: transforms/macros/materializations: DuckDB's own materializations (`adapter="duckdb"`), engine-specific by design.
ENGINE_SPECIFIC = {"materializations"}


def model_files() -> list[Path]:
    macros = [
        path
        for path in (DBT_PROJECT_DIR / "macros").rglob("*.sql")
        if ENGINE_SPECIFIC.isdisjoint(path.relative_to(DBT_PROJECT_DIR / "macros").parts)
    ]
    # the Python models too: SQL they handed to DuckDB would be engine-specific (pipeline/analysis/tables.py runs it)
    return sorted([*MODELS.rglob("*.sql"), *MODELS.rglob("*.py"), *macros, *(DBT_PROJECT_DIR / "tests").rglob("*.sql")])


def test_there_are_models_to_read():
    files = model_files()
    assert len(files) > 70
    assert DBT_PROJECT_DIR / "macros" / "funnel_kpis.sql" in files
    assert DBT_PROJECT_DIR / "macros" / "dialect" / "dates.sql" in files
    assert MODELS / "analysis" / "forecast_rows.py" in files
    assert not any("materializations" in path.parts for path in files)


def test_no_model_calls_a_duckdb_only_function():
    found = [
        f"{path.relative_to(DBT_PROJECT_DIR)}:{line}: {construct}: {text}"
        for path in model_files()
        for line, construct, text in duckdb_only_uses(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "DuckDB-only SQL in models (use the macros of transforms/macros/dialect/):\n" + "\n".join(found)


#: Contract types both engines name alike; an instant's type differs (TIMESTAMPTZ, TIMESTAMP) and is written so.
PORTABLE_TYPES = re.compile(
    r"(bigint|integer|double|boolean|date|string|decimal\(\d+,\s*\d+\)"
    r"|\"\{\{ 'timestamptz' if target\.type == 'duckdb' else 'timestamp' \}\}\")"
)


def test_every_contract_type_is_portable():
    found = [
        f"{path.relative_to(DBT_PROJECT_DIR)}:{number}: {line.strip()}"
        for path in sorted(MODELS.rglob("*.yml"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if (match := re.match(r"\s*data_type:\s*(.+?)\s*$", line)) and not PORTABLE_TYPES.fullmatch(match.group(1))
    ]
    assert found == [], "contract types DuckDB or Spark does not know:\n" + "\n".join(found)
    assert not PORTABLE_TYPES.fullmatch("varchar") and not PORTABLE_TYPES.fullmatch("timestamp with time zone")
