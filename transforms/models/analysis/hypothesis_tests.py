"""hypotheses.yml tested against the stage tables (statsmodels), as a dbt-duckdb Python model.

A Python model runs inside the dbt process on dbt's own DuckDB connection, so the statistics are built in the
same `dbt build` as the SQL models around them (one dbt invocation per run). The counting and the statistics
live in pipeline/analysis (tables.py, which the Spark run calls outside dbt); this file only wires them to dbt.
The file's path and the reporting time zone come from the dbt vars `hypotheses` and `reporting_tz`
(FUNNEL_HYPOTHESES, FUNNEL_REPORTING_TZ), as every setting reaches dbt.

dbt reads a Python model's dependencies from literal dbt.ref() calls only, so the stage tables are not named
here: intermediate.int_stage_tables, generated from the funnel's registry, depends on every one of them, and
this model refs it.
"""

from pathlib import Path

from pipeline.analysis.tables import hypothesis_tests


def model(dbt, session):
    # lazy relations, referenced for the build order only: hypothesis_tests reads the tables by name
    dbt.ref("int_as_of")
    dbt.ref("int_stage_tables")
    return hypothesis_tests(session, Path(dbt.config.get("hypotheses")), dbt.config.get("reporting_tz"))
