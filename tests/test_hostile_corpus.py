"""The hostile corpus (tests/hostile/manifest.yml): every case's expected outcome, and no row lost or doubled."""

import csv
import gzip
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.ingest.contract import ENTITIES_BY_TABLE
from pipeline.ingest.sources.loader import IngestError, load_entity
from pipeline.ingest.sources.mapping import landing_layout, parse_mapping
from tests.staging_sql import newest

CORPUS = Path(__file__).parent / "hostile"
MANIFEST = yaml.safe_load((CORPUS / "manifest.yml").read_text(encoding="utf-8"))
CORPUS_THRESHOLD = 0.5
#: The corpus's files are small: without a floor the threshold alone decides, unless a case names one.
CORPUS_FLOOR = 0


def _open(case: dict):
    path = CORPUS / case["file"]
    opener = gzip.open if path.name.endswith(".gz") else open
    return opener(path, "rt", encoding=case.get("encoding", "utf-8-sig"), newline="")


def data_rows(case: dict) -> int:
    """Records after the header, counted by Python's csv module (blank lines are no records); Parquet rows."""
    if case["file"].endswith(".parquet"):
        return pq.read_metadata(CORPUS / case["file"]).num_rows
    with _open(case) as f:
        records = [r for r in csv.reader(f, delimiter=case.get("delimiter", ",")) if r]
    return len(records) - 1


def _load(case: dict, tmp_path: Path):
    landing = tmp_path / "landing"
    entity = ENTITIES_BY_TABLE[case.get("entity", "ma_leads")]
    threshold = case.get("threshold", CORPUS_THRESHOLD)
    if "mapping" in case:
        target = landing / "exports" / case["file"]
        raw = {"source": "corpus", **case["mapping"]}
        raw["entities"] = {t: {**e, "files": f"exports/{case['file']}"} for t, e in raw["entities"].items()}
        sources = [parse_mapping(raw, "manifest", landing, threshold)]
    else:
        target = landing / entity.system / entity.name / case["file"]
        sources = [landing_layout(landing, threshold)]
    sources = [replace(s, floor=case.get("floor", CORPUS_FLOOR)) for s in sources]
    target.parent.mkdir(parents=True)
    shutil.copyfile(CORPUS / case["file"], target)
    con = duckdb.connect()
    return con, entity, target, lambda: load_entity(con, entity, sources, landing, "Asia/Tokyo", "Asia/Tokyo")


def _shown(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, Decimal):
        return str(value)
    return value


def test_the_corpus_has_at_least_25_files_each_with_a_case():
    files = {p.name for p in CORPUS.iterdir() if p.name != "manifest.yml"}
    assert len(files) >= 25
    assert files == {case["file"] for case in MANIFEST.values()}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_hostile_case(name, tmp_path):
    case = MANIFEST[name]
    expect = case["expect"]
    con, entity, target, load = _load(case, tmp_path)
    if "error" in expect:
        with pytest.raises(IngestError) as error:
            load()
        assert expect["error"] in str(error.value)
        assert str(error.value).startswith(str(target))  # names the file
        tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
        assert tables == [], f"a failed load wrote {tables}"
        return

    result = load()
    (file,) = result.files
    assert (file.loaded, file.quarantined) == (expect["loaded"], expect["quarantined"])
    # nothing lost, nothing doubled: every data row is loaded, quarantined or excluded by the mapping's filter
    assert file.loaded + file.quarantined + file.excluded == data_rows(case) == file.data_rows
    landed = con.execute(f"SELECT count(*) FROM extracted.{entity.table}").fetchall()[0][0]
    raw = con.execute(f"SELECT count(*) FROM {newest(entity.table)}").fetchall()[0][0]
    assert landed == file.loaded and raw == file.loaded - expect.get("duplicates", 0) == result.rows
    quarantine = con.execute("SELECT line, reason, raw_line FROM extracted.quarantine ORDER BY line").fetchall()
    assert len(quarantine) == file.quarantined == len(expect.get("reasons", []))
    for (line, reason, raw_line), (want_line, want_reason) in zip(quarantine, expect.get("reasons", [])):
        assert line == want_line and want_reason in reason, (line, reason)
        # the line's text is kept, so nothing is lost
        if case["file"].endswith(".parquet"):
            assert raw_line == ",".join(
                v or "" for v in pq.read_table(CORPUS / case["file"]).slice(line - 1, 1).to_pylist()[0].values()
            )
        else:
            with _open(case) as f:
                assert raw_line in f.read()
    if "rows" in case:
        columns = list(case["rows"][0])
        got = con.execute(
            f"SELECT {', '.join(columns)} FROM {newest(entity.table)} ORDER BY {', '.join(entity.key)}"
        ).fetchall()
        assert [dict(zip(columns, map(_shown, r))) for r in got] == case["rows"]
    for key, lengths in case.get("lengths", {}).items():
        for column, length in lengths.items():
            got = con.execute(f"SELECT length({column}) FROM {newest(entity.table)} WHERE {entity.key[0]} = ?", [key])
            assert got.fetchall() == [(length,)]
