"""A Spark write killed half-way must not stop every later run (pipeline/warehouse/spark_recovery.py).

The folders are laid out as Spark leaves them (seen after a `kill -9` of a Spark run in the middle of a table's
`create table ... as select`): the killed table holds only `_temporary/0/_temporary/attempt_*/part-*.parquet`.
"""

from pathlib import Path

from pipeline.warehouse.spark_recovery import metastore_in_use, remove_interrupted_writes
from tests.holders import held


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1")
    return path


def test_only_the_uncommitted_output_of_killed_writes_is_removed(tmp_path):
    tables = tmp_path / "tables"
    attempt = "_temporary/0/_temporary/attempt_202612011731_0027_m_000000_24/part-00000-c000.snappy.parquet"
    created = _file(tables / "staging.db" / "stg_sfa__opportunity_history" / attempt).parents[4]
    committed = [
        _file(tables / "marts.db" / "funnel_kpi_monthly" / "part-00000-c000.snappy.parquet"),
        _file(tables / "marts.db" / "funnel_kpi_monthly" / "_SUCCESS"),
        _file(tables / "history.db" / "history_sfa_leads" / "part-00000-c000.snappy.parquet"),
    ]
    _file(tables / "history.db" / "history_sfa_leads" / attempt)  # an append killed half-way

    removed = remove_interrupted_writes(tmp_path)

    assert removed == [
        tables / "history.db" / "history_sfa_leads" / "_temporary",
        tables / "staging.db" / "stg_sfa__opportunity_history" / "_temporary",
    ]
    assert created.is_dir() and list(created.iterdir()) == []  # empty: Spark creates the table there again
    assert all(path.is_file() for path in committed)
    assert sorted(p.name for p in (tables / "history.db" / "history_sfa_leads").iterdir()) == [
        "part-00000-c000.snappy.parquet"
    ]
    assert remove_interrupted_writes(tmp_path) == []


def test_a_spark_folder_not_made_yet_is_nothing_to_remove(tmp_path):
    assert remove_interrupted_writes(tmp_path / "spark") == []


def test_nothing_is_removed_while_a_process_has_the_metastore_open(tmp_path):
    """Derby holds an OS lock on metastore_db/dbex.lck while a Spark process has the metastore open (seen with a
    live Spark session); another process holding it the same way stands in for it here."""
    leftover = _file(tmp_path / "tables" / "marts.db" / "funnel_kpi_monthly" / "_temporary" / "0" / "part.parquet")
    lock = _file(tmp_path / "metastore_db" / "dbex.lck")
    with held(lock, "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.lockf(f, fcntl.LOCK_EX)"):
        assert metastore_in_use(tmp_path)
        assert remove_interrupted_writes(tmp_path) == [] and leftover.is_file()
    assert not metastore_in_use(tmp_path)  # the lock goes with the process: a killed Spark leaves it free
    assert remove_interrupted_writes(tmp_path) == [leftover.parents[1]]
