"""The validation command reports what a mapping would load, and writes nothing."""

import shutil
from pathlib import Path

from pipeline.ingest.sources.check import main

HOSTILE = Path(__file__).parent / "hostile"
MAPPING = """
source: acme_excel
dialect: {encoding: cp932, delimiter: ";"}
entities:
  ma_leads:
    files: exports/*.csv
    columns:
      lead_id: リードID
      created_at: 作成日
      company: 会社名
      source: {column: 流入元, values: {ウェブ: web_form}}
      campaign_id: %s
"""


def _setup(tmp_path: Path, campaign_column: str) -> Path:
    landing = tmp_path / "landing"
    (landing / "exports").mkdir(parents=True)
    shutil.copyfile(HOSTILE / "excel_japanese_semicolon_cp932.csv", landing / "exports" / "leads.csv")
    mapping = tmp_path / "acme.yml"
    mapping.write_text(MAPPING % campaign_column, encoding="utf-8")
    return mapping


def test_the_report_names_files_columns_counts_and_samples(tmp_path, capsys):
    mapping = _setup(tmp_path, "キャンペーン")
    assert main([str(mapping), "--landing", str(tmp_path / "landing"), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "ma_leads: 1 file(s) match exports/*.csv" in out
    assert "encoding cp932, delimiter ';'" in out
    assert "data rows 3: would load 3, quarantine 0 (0.0%), exclude 0" in out
    assert "not mapped (will be empty): email" in out
    assert "sample: lead_id=0001, company=株式会社あいう" in out and "source=web_form" in out
    assert out.count("sample:") == 2 and out.rstrip().endswith("OK: every file would load")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acme.yml", "landing"]  # nothing written


def test_a_column_the_file_lacks_is_reported_and_fails(tmp_path, capsys):
    mapping = _setup(tmp_path, "Campaign")
    assert main([str(mapping), "--landing", str(tmp_path / "landing")]) == 1
    out = capsys.readouterr().out
    assert "MISSING in the file: campaign_id <- Campaign" in out
    assert "WOULD FAIL" in out and "missing required column(s) Campaign" in out


def test_a_malformed_mapping_names_the_file_and_key(tmp_path, capsys):
    mapping = tmp_path / "bad.yml"
    mapping.write_text(
        "source: acme\nentities:\n  ma_leads:\n    files: x.csv\n    columns: {lead_id: id, created: c}\n"
    )
    assert main([str(mapping), "--landing", str(tmp_path)]) == 1
    assert f"{mapping}: entities.ma_leads.columns.created: not a column of ma_leads" in capsys.readouterr().err


def test_a_bad_byte_under_a_declared_utf8_encoding_is_reported_not_a_crash(tmp_path, capsys):
    """The header is read from its own bytes: a bad byte in a data row is that row's quarantine, one in the
    header a failure naming the file."""
    landing = tmp_path / "landing"
    (landing / "exports").mkdir(parents=True)
    rows = "".join(f"{i:04d},株式会社{i},2024-04-01\n" for i in range(1, 120)).encode("utf-8")
    (landing / "exports" / "a.csv").write_bytes(b"id,name,created\n" + rows + b"0120,Ren\xe9e,2024-04-01\n")
    (landing / "exports" / "b.csv").write_bytes(b"id,n\xe9m,created\n0001,A,2024-04-01\n")
    mapping = tmp_path / "m.yml"
    mapping.write_text(
        "source: s\ndialect: {encoding: utf-8}\nentities:\n  ma_leads:\n    files: exports/*.csv\n"
        "    columns: {lead_id: id, created_at: created}\n",
        encoding="utf-8",
    )
    assert main([str(mapping), "--landing", str(landing)]) == 1
    out = capsys.readouterr().out
    assert "data rows 120: would load 119, quarantine 1 (0.8%)" in out and "line 121:" in out
    assert f"{landing / 'exports' / 'b.csv'}: the header line is not valid UTF-8 (byte 4)" in out
