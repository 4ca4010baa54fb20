"""The funnel report renders offline in headless Chromium with every chart drawn."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
        pytest.skip("chromium is not installed (`make test` installs it)")
    return found


def test_the_report_is_self_contained(demo_run):
    report = Path(demo_run.settings.warehouse_path).parent / "report" / "index.html"
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""<script[^>]+src=["']https?:""", page), "no script may come from the network"
    assert "Plotly.newPlot" in page and page.count('class="chart"') == 9
    # every hypothesis of hypotheses.yml with its verdict
    for h in demo_run.query("select hypothesis_id, verdict from marts.hypothesis_results").itertuples():
        assert re.search(rf"<td>{re.escape(h.hypothesis_id)}</td>.*?<b>{h.verdict}</b>", page)
    # the forecast table: every target month of marts.forecast with its expected won deals
    for f in demo_run.query(
        "select target_month, forecast from marts.forecast where measure = 'won_deals'"
    ).itertuples():
        assert re.search(rf"<td>{f.target_month:%Y-%m}</td><td>won deals</td>.*?<b>{f.forecast:,.1f}</b>", page)


def test_the_report_draws_its_charts_in_headless_chromium(demo_run, tmp_path):
    report = Path(demo_run.settings.warehouse_path).parent / "report" / "index.html"
    dom = subprocess.run(
        [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count('class="plot-container plotly"') == 9, "nine charts"
    assert dom.count('class="main-svg"') >= 8, "each chart drew its SVG layers"
    assert "Funnel, 2026-10" in dom and "Reconciliation by id" in dom and "Bottleneck: won deals" in dom
    assert "Unit economics" in dom and "Magic number per fiscal quarter" in dom
    assert "Pipeline waterfall: deals due to close in" in dom and "Time in stage: median days" in dom
    assert "Pipeline coverage: open deals by expected close month" in dom
    assert re.search(r'class="point"', dom), "bars were drawn"


def test_the_report_metadata_shows_the_funnel_in_the_ui(demo_run):
    event = next(
        e
        for e in demo_run.result.get_asset_materialization_events()
        if e.asset_key.path == ["serving", "funnel_report"]
    )
    table = event.materialization.metadata["funnel"].value
    latest = demo_run.query(
        "select stage, base from marts.funnel_kpi_monthly where view = 'period' "
        "and period_start = (select max(period_start) from marts.funnel_kpi_monthly)"
    )
    for row in latest.itertuples():
        assert f"| {row.stage} | {row.base:,} |" in table
