"""dbt-project-evaluator's modeling and testing rules, checked over the parsed manifest (issue #11, item 6).

The evaluator is a dbt Hub package, which cannot be installed here. Of the Python linters on PyPI, dbt-bouncer
4.3 requires duckdb<2 (the project pins duckdb 2.0.1); dbt-score 0.19 would install (its one requirement is
click), but its built-in rules are documentation and declared-constraint rules, none of these: every rule below
would be a custom dbt-score rule all the same, behind its score thresholds, configuration and CLI output. So
the rules are plain assertions over target/manifest.json (ensure_manifest() parses it when stale), no new
dependency, each failure naming the models that break it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from pipeline.config.settings import PROJECT_ROOT
from pipeline.transforms.project import ensure_manifest

#: Layers by folder of models/, in build order: a model reads its own layer or earlier ones. The history reads the
#: staging views and int_as_of (its data time) and is read by the intermediate as-of models: it ranks with them.
#: An intermediate model built on stage tables prepares marts (int_handover_pairs for the reconciliation
#: marts): it ranks after the stages, so no stage table may read it; so does the Python model of models/analysis.
AFTER_STAGES = 2.5
LAYERS = {
    "staging": 0,
    "intermediate": 1,
    "history": 1,
    "stages": 2,
    "analysis": AFTER_STAGES,
    "marts": 3,
    "improvement": 3,
    "reconciliation": 3,
}


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest().read_text())


def models(manifest: dict) -> dict[str, dict]:
    return {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}


def layer(node: dict) -> str:
    """The folder under models/ the model's file is in."""
    return Path(node["original_file_path"]).parts[1]


def test_every_source_table_is_read_by_its_one_staging_model(manifest):
    """fct_source_fanout and fct_unused_sources: one staging model per source table renames and types it once."""
    readers = {uid: [] for uid in manifest["sources"]}
    for node in models(manifest).values():
        for parent in node["depends_on"]["nodes"]:
            if parent in readers:
                readers[parent].append(node)
    fanout = {
        uid: [n["name"] for n in nodes]
        for uid, nodes in readers.items()
        if len(nodes) != 1 or not nodes[0]["name"].startswith("stg_") or layer(nodes[0]) != "staging"
    }
    assert fanout == {}, "each source must be read by exactly one staging model (stg_*)"


def test_only_staging_models_read_sources(manifest):
    """fct_marts_or_intermediate_dependent_on_source, fct_direct_join_to_source."""
    on_sources = {
        node["name"]: [p for p in node["depends_on"]["nodes"] if p.startswith("source.")]
        for node in models(manifest).values()
        if layer(node) != "staging"
    }
    assert {name: sources for name, sources in on_sources.items() if sources} == {}


def primary_keys(manifest: dict) -> dict[str, set[str]]:
    """Per model id, what its tests make a primary key: a column with an error-severity, unfiltered `unique` and
    `not_null` (dbt's tests or the rules of the project's `column_rules` test), or an expression with a `unique`
    (the composite keys `a || '|' || b`, whose parts are not null or coalesced; a constant for a one-row model)."""
    unique, not_null = {}, {}
    for node in manifest["nodes"].values():
        test = node.get("test_metadata") or {}
        if (
            node["resource_type"] != "test"
            or node["config"]["severity"].lower() != "error"
            or node["config"].get("where")
        ):
            continue
        model, kwargs = node.get("attached_node"), test.get("kwargs", {})
        if test.get("name") in ("unique", "not_null"):
            tested = unique if test["name"] == "unique" else not_null
            tested.setdefault(model, set()).add(kwargs["column_name"])
        elif test.get("name") == "column_rules":
            unique.setdefault(model, set()).update(kwargs.get("unique", []))
            not_null.setdefault(model, set()).update(kwargs.get("not_null", []))
    return {
        model: {key for key in keys if key in not_null.get(model, ()) or not re.fullmatch(r"\w+", key)}
        for model, keys in unique.items()
    }


def test_every_model_has_a_primary_key_test(manifest):
    """fct_missing_primary_key_tests: the grain of every model is tested, so a fan-out in a join fails a test."""
    keys = primary_keys(manifest)
    lacking = sorted(node["name"] for uid, node in models(manifest).items() if not keys.get(uid))
    assert lacking == [], f"models without a primary-key test: {lacking}"


#: The one staging model other staging models may read: money is converted into the reporting currency where it is
#: staged (transforms/macros/currency.sql), so no later model can read an amount before it is converted.
EXCHANGE_RATES = "model.themodel.stg_sfa__exchange_rates"
#: Staging models that are tables, each for the reason its file gives (a view's work repeated by every reader).
STAGING_TABLES = {"stg_sfa__opportunity_history"}


def test_staging_models_are_views_named_for_their_source(manifest):
    """fct_model_naming_conventions, fct_model_directories and fct_staging_dependent_on_staging: a staging model is a
    view (or one of STAGING_TABLES) of one source table, stg_<source>__<table>, and only staging models are stg_*;
    besides its source, a staging model of amounts reads the exchange rates."""
    wrong = {}
    for node in models(manifest).values():
        if layer(node) != "staging":
            assert not node["name"].startswith("stg_"), f"{node['name']} is outside models/staging"
            continue
        parents = [p for p in node["depends_on"]["nodes"] if p != EXCHANGE_RATES]
        source = manifest["sources"].get(parents[0]) if len(parents) == 1 else None
        expected = f"stg_{source['source_name']}__{source['name']}" if source else "one source and nothing else"
        kind = "table" if node["name"] in STAGING_TABLES else "view"
        if node["config"]["materialized"] != kind or node["name"] != expected:
            wrong[node["name"]] = f"{node['config']['materialized']}, expected a {kind} named {expected}"
    assert wrong == {}


def test_no_model_reads_a_later_layer(manifest):
    """fct_staging_dependent_on_marts_or_intermediate, extended to every layer of LAYERS."""
    nodes = models(manifest)
    unknown = sorted(node["original_file_path"] for node in nodes.values() if layer(node) not in LAYERS)
    assert unknown == [], f"models outside the layer folders {sorted(LAYERS)}"

    @cache
    def on_stages(uid: str) -> bool:
        """Whether the model reads a stage table, directly or through other models."""
        parents = [p for p in nodes[uid]["depends_on"]["nodes"] if p in nodes]
        return any(layer(nodes[p]) == "stages" or on_stages(p) for p in parents)

    def rank(uid: str) -> float:
        if layer(nodes[uid]) == "intermediate" and on_stages(uid):
            return AFTER_STAGES
        return LAYERS[layer(nodes[uid])]

    backwards = [
        f"{node['name']} ({layer(node)}) reads {nodes[p]['name']} ({layer(nodes[p])})"
        for uid, node in nodes.items()
        for p in node["depends_on"]["nodes"]
        if p in nodes and rank(p) > rank(uid)
    ]
    assert backwards == []


def test_counts_of_a_condition_go_through_count_where(manifest):
    """count_if is NULL, not 0, for a group whose condition is NULL on every row (DuckDB 2.0): the models count
    with the count_where macro instead (transforms/macros/count_where.sql)."""
    offenders = [
        node["original_file_path"]
        for node in manifest["nodes"].values()
        if re.search(r"\bcount_if\s*\(", node.get("raw_code", ""), re.IGNORECASE)
    ]
    macros = [m["original_file_path"] for m in manifest["macros"].values() if m["package_name"] == "themodel"]
    offenders += [
        path for path in macros if re.search(r"\bcount_if\s*\(", (PROJECT_ROOT / "transforms" / path).read_text())
    ]
    assert not offenders, offenders


def test_the_hypothesis_model_reads_every_stage_table_of_the_registry(manifest):
    """A Python model declares its parents by literal dbt.ref() calls (transforms/models/analysis/hypothesis_tests.py):
    it refs intermediate.int_stage_tables, whose parents are every stage table of the registry, so no stage is read
    before dbt built it."""
    from pipeline.config.registry import funnel

    def parents(name: str) -> set[str]:
        return set(manifest["nodes"][f"model.themodel.{name}"]["depends_on"]["nodes"])

    assert parents("hypothesis_tests") == {"model.themodel.int_as_of", "model.themodel.int_stage_tables"}
    assert parents("int_stage_tables") == {f"model.themodel.{stage.table}" for stage in funnel().stages}


def test_every_kpi_mart_waits_for_the_reconciliation_gate(manifest):
    """`dbt build` skips the children of a model whose ERROR test fails: each model tagged kpi depends on
    marts.reconciliation (`-- depends_on`), whose test reconciliation_gate is the gate."""
    kpi = [node for node in models(manifest).values() if "kpi" in node["config"]["tags"]]
    assert len(kpi) >= 13
    ungated = [n["name"] for n in kpi if "model.themodel.reconciliation" not in n["depends_on"]["nodes"]]
    assert ungated == []
    gate = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "test" and n["name"] == "reconciliation_gate"
    ]
    assert [(n["attached_node"], n["config"]["severity"].lower()) for n in gate] == [
        ("model.themodel.reconciliation", "error")
    ]
