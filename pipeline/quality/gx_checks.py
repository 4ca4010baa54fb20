"""Great Expectations suites (expectations/*.json) run as Dagster asset checks, inside DuckDB.

Each suite file names its asset (`meta.asset`) and, optionally, the query its batch is read from
(`meta.query`, for expectations on derived or joined columns) and the other assets that query reads
(`meta.also_reads`). An expectation may name a value set (`meta.value_set`) instead of listing
one: it is filled in when the suite runs, from a maintained code list or the run's quality.yml (value_sets). GX 1.x
validates through SQLAlchemy, so every metric is a SQL query DuckDB answers over the whole table: nothing is loaded
into pandas, whatever the table's size. Suites cover the extracted layer only (dbt tests check
what dbt builds) and run in one check step, so GX starts once.
"""

import contextlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics sent from pipelines

import dagster as dg  # noqa: E402
import great_expectations as gx  # noqa: E402
from great_expectations.data_context import AbstractDataContext  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.datasource.fluent import SQLDatasource  # noqa: E402
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration  # noqa: E402

from pipeline.config.quality import load_currencies  # noqa: E402
from pipeline.config.settings import PROJECT_ROOT, WAREHOUSE_POOL, Settings  # noqa: E402
from pipeline.quality.gx_duckdb import LOCK_TIMEOUT_PARAMETER  # noqa: E402  registers the duckdb+isolated dialect
from pipeline.warehouse.resource import Warehouse  # noqa: E402

SUITES_DIR = PROJECT_ROOT / "expectations"
CHECK_NAME = "great_expectations"
SAMPLE_VALUES = 5


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    asset_key: dg.AssetKey
    query: str
    also_reads: list[dg.AssetKey]
    expectations: list[dict]


def load_suites(folder: Path = SUITES_DIR) -> list[Suite]:
    suites = []
    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        meta = document.get("meta") or {}
        schema, table = meta["asset"]
        suites.append(
            Suite(
                name=document["name"],
                path=path,
                asset_key=dg.AssetKey([schema, table]),
                query=meta.get("query") or f'select * from "{schema}"."{table}"',
                also_reads=[dg.AssetKey(k) for k in meta.get("also_reads", [])],
                expectations=document["expectations"],
            )
        )
    return suites


def value_sets(quality_config: Path) -> dict[str, list[str]]:
    """The value sets suites name in `meta.value_set`: `currencies` is every ISO 4217 code (iso4217 package), or
    quality.yml's `currencies` when it restricts them, rather than a list typed into the suite that goes stale."""
    return {"currencies": sorted(load_currencies(quality_config))}


def _completed(suite: Suite, sets: dict[str, list[str]]) -> list[dict]:
    """The suite's expectations with each named value set filled in as `kwargs.value_set`."""
    expectations = []
    for expectation in suite.expectations:
        name = (expectation.get("meta") or {}).get("value_set")
        if name is not None:
            if name not in sets:
                raise ValueError(f"{suite.path}: meta.value_set {name!r} is not one of {sorted(sets)}")
            expectation = {**expectation, "kwargs": {**expectation["kwargs"], "value_set": sets[name]}}
        expectations.append(expectation)
    return expectations


def _describe(config: dict) -> str:
    kwargs = config["kwargs"]
    columns = kwargs.get("column") or kwargs.get("column_list") or [kwargs.get("column_A"), kwargs.get("column_B")]
    target = columns if isinstance(columns, str) else ", ".join(c for c in columns if c)
    return f"{config['type']}({target})" if target else config["type"]


def _release(source) -> None:
    """Close GX's connections so the DuckDB file is free for the next writer (GX keeps one open for DuckDB)."""
    engine = source.get_execution_engine()
    if engine._connection is not None:  # GX has no public way to close its persisted connection
        engine._connection.close()
        engine._connection = None
    engine.close()
    source.get_engine().dispose()


@dataclass(frozen=True)
class WarehouseSource:
    """An ephemeral GX context and its one SQL datasource over the warehouse."""

    context: AbstractDataContext
    source: SQLDatasource


@contextlib.contextmanager
def warehouse_source(warehouse_path: str, lock_timeout: float = 0) -> Iterator[WarehouseSource]:
    """GX over the warehouse until the block ends, when its connection is closed: one per check step, so GX sets up
    and opens the DuckDB file once for all the step's suites rather than once per suite. Another process holding the
    file is waited for up to `lock_timeout` seconds."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_sql(
        name="warehouse",
        connection_string=f"duckdb+isolated:///{warehouse_path}?{LOCK_TIMEOUT_PARAMETER}={lock_timeout:g}",
    )
    try:
        yield WarehouseSource(context, source)
    finally:
        _release(source)


def validate(
    suite: Suite, warehouse_path: str, sets: dict[str, list[str]], lock_timeout: float = 0
) -> dg.AssetCheckResult:
    """Run one suite over the warehouse, with `sets` (value_sets()) filled in, and summarize it as an asset check
    result. Another process holding the file is waited for up to `lock_timeout` seconds."""
    with warehouse_source(warehouse_path, lock_timeout) as gx_warehouse:
        return validate_in(gx_warehouse, suite, sets)


def validate_in(gx_warehouse: WarehouseSource, suite: Suite, sets: dict[str, list[str]]) -> dg.AssetCheckResult:
    """validate() inside an open warehouse_source()."""
    started = time.perf_counter()
    expectations = [ExpectationConfiguration(**e).to_domain_obj() for e in _completed(suite, sets)]
    batch = (
        gx_warehouse.source.add_query_asset(name=suite.name.replace(".", "__"), query=suite.query)
        .add_batch_definition_whole_table("all")
        .get_batch()
    )
    gx_suite = gx_warehouse.context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations))
    result = batch.validate(
        gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES}
    )
    failed = []
    for outcome in result.results:  # GX orders results its own way; each carries its configuration
        if outcome.success:
            continue
        config = outcome.expectation_config.to_json_dict()
        details = outcome.result or {}
        error = next(
            (
                info.get("exception_message")
                for info in (outcome.exception_info or {}).values()
                if isinstance(info, dict) and info.get("exception_message")
            ),
            None,
        )
        failed.append(
            {
                "expectation": _describe(config),
                "unexpected_count": details.get("unexpected_count"),
                "unexpected_percent": round(details["unexpected_percent"], 4)
                if details.get("unexpected_percent")
                else None,
                "sample_values": [str(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_VALUES]],
                "observed_value": str(details["observed_value"]) if "observed_value" in details else None,
                "why": error or (config.get("meta") or {}).get("notes"),
            }
        )
    stats = result.statistics
    rows = ["| expectation | unexpected | % | sample values | why |", "|---|---|---|---|---|"]
    rows += [
        f"| {f['expectation']} | {f['unexpected_count'] if f['unexpected_count'] is not None else f['observed_value']}"
        f" | {f['unexpected_percent'] or ''} | {', '.join(f['sample_values'])} | {f['why'] or ''} |"
        for f in failed
    ]
    return dg.AssetCheckResult(
        asset_key=suite.asset_key,
        check_name=CHECK_NAME,
        passed=bool(result.success),
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{stats['unsuccessful_expectations']} of {stats['evaluated_expectations']} expectations failed"
        if failed
        else f"all {stats['evaluated_expectations']} expectations met",
        metadata={
            "suite": str(suite.path.relative_to(PROJECT_ROOT)),
            "expectations_run": stats["evaluated_expectations"],
            "expectations_failed": stats["unsuccessful_expectations"],
            "failed": dg.MetadataValue.md("\n".join(rows) if failed else "none"),
            "failed_details": dg.MetadataValue.json(failed),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )


def _layer_check(schema: str, suites: list[Suite]) -> dg.AssetChecksDefinition:
    by_key = {s.asset_key: s for s in suites}

    @dg.multi_asset_check(
        name=f"great_expectations_{schema}",
        specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=s.asset_key,
                additional_deps=s.also_reads,
                description=f"Great Expectations suite {s.path.name}",
            )
            for s in suites
        ],
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, settings: Settings
    ) -> Iterable[dg.AssetCheckResult]:
        sets = value_sets(Path(settings.quality_config))
        with warehouse_source(warehouse.path, warehouse.lock_timeout_seconds) as gx_warehouse:
            for key in context.selected_asset_check_keys:
                yield validate_in(gx_warehouse, by_key[key.asset_key], sets)

    return _check


def build_gx_checks(suites: list[Suite] | None = None) -> list[dg.AssetChecksDefinition]:
    suites = load_suites() if suites is None else suites
    layers: dict[str, list[Suite]] = {}
    for suite in suites:
        layers.setdefault(suite.asset_key.path[0], []).append(suite)
    return [_layer_check(schema, layer) for schema, layer in sorted(layers.items())]
