"""The funnel report: a static HTML page (report/index.html beside the warehouse) that works offline.

Built with Plotly from the published marts (marts.duckdb), with plotly.js embedded once, so it opens
without a network: the funnel of a chosen month, the monthly trend per stage (with targets when a
targets are set), a month x stage heat map (goal attainment against targets, or conversion rate
while no targets are configured), the reconciliation status per month and hand-over, the
improvement loop: the won deals each stage's shortfall cost per month, and the hypotheses' verdicts, the
unit economics (CAC, payback, LTV / CAC, Quick Ratio, magic number), the team: each person's numbers in
their own stage for the last closed month, against their target, the campaign table (campaign_table.py):
what each campaign's leads became, against its spend, the pipeline timeline (timeline_charts.py): the waterfall
of the deals due to close in the open month, and the median days in each sales stage, and the forecast table
(forecast_table.py): expected won deals and revenue of the open and next months with their interval and pace, and
how the backtest's intervals did, and the pipeline coverage of the open and next months.
"""

import html
import math
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from pipeline.config.registry import funnel
from pipeline.config.settings import Settings
from pipeline.serving.campaign_table import campaign_table
from pipeline.serving.forecast_table import forecast_table
from pipeline.serving.paths import PUBLISHED_FILE, published_file, report_dir
from pipeline.serving.timeline_charts import stage_time_figure, waterfall_figure
from pipeline.warehouse.resource import Warehouse

STATUS_LEVEL = {"ok": 0, "warn": 1, "error": 2}
#: The trend charts are laid out this many per row, in as many rows as the registry has stages for.
TREND_COLUMNS = 2


def _funnel(monthly: pd.DataFrame) -> go.Figure:
    """Base and goal per stage for one month; a menu chooses the month (the latest by default)."""
    period = monthly[monthly["view"] == "period"]
    months = sorted(period["period_start"].unique(), reverse=True)
    figure = go.Figure()
    for i, month in enumerate(months):
        rows = period[period["period_start"] == month].sort_values("stage_order")
        rates = [f"{r:.1%}" if pd.notna(r) else "–" for r in rows["conversion_rate"]]
        figure.add_bar(name="base (母数)", x=rows["stage"], y=rows["base"], visible=i == 0, marker_color="#8fb3d9")
        figure.add_bar(
            name="goal (ゴール)",
            x=rows["stage"],
            y=rows["goal"],
            visible=i == 0,
            marker_color="#1f5fa8",
            text=rates,
            textposition="outside",
        )
    buttons = [
        dict(
            label=f"{m:%Y-%m}",
            method="update",
            args=[
                {"visible": [j // 2 == i for j in range(2 * len(months))]},
                {"title.text": f"Funnel, {m:%Y-%m} (period view; labels: conversion)"},
            ],
        )
        for i, m in enumerate(months)
    ]
    figure.update_layout(
        title=f"Funnel, {months[0]:%Y-%m} (period view; labels: conversion)",
        barmode="group",
        updatemenus=[dict(buttons=buttons, direction="down", x=1.0, xanchor="right", y=1.15, yanchor="top")],
        yaxis_type="log",
        yaxis_title="entries (log scale)",
        height=420,
    )
    return figure


def _trends(monthly: pd.DataFrame, with_targets: bool) -> go.Figure:
    period = monthly[monthly["view"] == "period"]
    stages = funnel().stages
    grid_rows = math.ceil(len(stages) / TREND_COLUMNS)
    figure = make_subplots(
        rows=grid_rows, cols=TREND_COLUMNS, subplot_titles=[s.label for s in stages], shared_xaxes=True
    )
    for i, stage in enumerate(s.name for s in stages):
        rows = period[period["stage"] == stage].sort_values("period_start")
        cell = dict(row=i // TREND_COLUMNS + 1, col=i % TREND_COLUMNS + 1)
        figure.add_scatter(
            x=rows["period_start"], y=rows["base"], name="base", line_color="#8fb3d9", showlegend=i == 0, **cell
        )
        figure.add_scatter(
            x=rows["period_start"], y=rows["goal"], name="goal", line_color="#1f5fa8", showlegend=i == 0, **cell
        )
        if with_targets:
            figure.add_scatter(
                x=rows["period_start"],
                y=rows["target_goal"],
                name="target goal",
                line=dict(color="#d9822b", dash="dash"),
                showlegend=i == 0,
                **cell,
            )
    figure.update_layout(title="Monthly trend per stage (period view)", height=280 * grid_rows)
    return figure


def _heatmap(monthly: pd.DataFrame, with_targets: bool) -> go.Figure:
    period = monthly[monthly["view"] == "period"].copy()
    if with_targets:
        period["value"] = period["goal_attainment"]
        title, scale = "Goal attainment: goal / target goal", "RdYlGn"
    else:
        period["value"] = period["conversion_rate"]
        title, scale = "Conversion rate (no targets configured yet)", "Blues"
    grid = period.pivot(index="stage", columns="period_start", values="value").reindex(list(funnel().stage_names))
    figure = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=[f"{c:%Y-%m}" for c in grid.columns],
            y=grid.index,
            colorscale=scale,
            text=[[f"{v:.0%}" if pd.notna(v) else "" for v in row] for row in grid.values],
            texttemplate="%{text}",
        )
    )
    figure.update_layout(title=f"Month × stage: {title}", height=120 + 60 * len(grid), yaxis_autorange="reversed")
    return figure


def _reconciliation(reconciliation: pd.DataFrame) -> go.Figure:
    grid = reconciliation.pivot(index="handoff", columns="month", values="status")
    share = reconciliation.pivot(index="handoff", columns="month", values="unmatched_share")
    figure = go.Figure(
        go.Heatmap(
            z=grid.replace(STATUS_LEVEL).astype(float).values,
            x=[f"{c:%Y-%m}" for c in grid.columns],
            y=grid.index,
            zmin=0,
            zmax=2,
            colorscale=[[0, "#4caf50"], [0.5, "#ffc107"], [1, "#e53935"]],
            showscale=False,
            text=[[f"{s}<br>{u:.1%}" for s, u in zip(srow, urow)] for srow, urow in zip(grid.values, share.values)],
            texttemplate="%{text}",
        )
    )
    figure.update_layout(title="Reconciliation by id: status and unmatched share", height=300)
    return figure


def _bottleneck(bottleneck: pd.DataFrame) -> go.Figure:
    """Won deals each stage's shortfall against plan cost, per month of the last 12 (stacked)."""
    months = sorted(bottleneck["period_start"].unique())[-12:]
    rows = bottleneck[bottleneck["period_start"].isin(months)]
    figure = go.Figure()
    for stage in (s.name for s in funnel().up_to_win):
        cells = rows[rows["stage"] == stage].sort_values("period_start")
        figure.add_bar(name=stage, x=cells["period_start"], y=cells["won_deals_shortfall"].fillna(0))
    figure.update_layout(
        title="Bottleneck: won deals lost to each stage's shortfall against plan",
        barmode="stack",
        yaxis_title="won deals",
        height=360,
    )
    return figure


def _unit_economics(monthly: pd.DataFrame, quarterly: pd.DataFrame | None) -> go.Figure:
    """The company's unit economics per month: blended and paid CAC, CAC payback, LTV / CAC and the SaaS Quick
    Ratio against their usual bars (3 and 4), and the magic number per fiscal quarter (the open one marked "so far").
    Months without spend data have no CAC point rather than a zero."""
    company = monthly[(monthly["channel"] == "all") & (monthly["segment"] == "all")].sort_values("period_start")
    figure = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=[
            "CAC, blended and paid",
            "CAC payback (months of gross margin)",
            "LTV / CAC and SaaS Quick Ratio",
            "Magic number per fiscal quarter",
        ],
    )
    x = company["period_start"]
    figure.add_bar(x=x, y=company["cac"], name="CAC (blended)", marker_color="#1f5fa8", row=1, col=1)
    figure.add_bar(x=x, y=company["paid_cac"], name="CAC (paid sources)", marker_color="#8fb3d9", row=1, col=1)
    figure.add_scatter(x=x, y=company["cac_payback_months"], name="payback", line_color="#d9822b", row=1, col=2)
    figure.add_scatter(x=x, y=company["ltv_to_cac"], name="LTV / CAC", line_color="#4caf50", row=2, col=1)
    figure.add_scatter(x=x, y=company["quick_ratio"], name="Quick Ratio", line_color="#7b1fa2", row=2, col=1)
    for level, color in ((3, "#4caf50"), (4, "#7b1fa2")):
        figure.add_hline(y=level, line=dict(dash="dot", color=color, width=1), row=2, col=1)
    if quarterly is not None:
        quarters = quarterly[(quarterly["channel"] == "all") & (quarterly["segment"] == "all")]
        quarters = quarters.sort_values("period_start")
        labels = [
            f"FY{y} Q{q}{'' if complete else ' (so far)'}"
            for y, q, complete in zip(quarters["fiscal_year"], quarters["fiscal_quarter"], quarters["is_complete"])
        ]
        figure.add_bar(x=labels, y=quarters["magic_number"], name="magic number", marker_color="#00838f", row=2, col=2)
    known = company["spend"].notna()
    note = "" if known.all() else f" (no spend data for {(~known).sum()} of {len(company)} months: no CAC there)"
    figure.update_layout(title=f"Unit economics{note}", barmode="group", height=620)
    return figure


def _coverage(coverage: pd.DataFrame) -> go.Figure:
    """Per month from the open one: the open deals dated into it and the won deals still to win (bars), their ratio
    against the configured minimum (line, right axis), each month labelled with its status."""
    rows = coverage.sort_values("month")
    months = [f"{m:%Y-%m}" for m in rows["month"]]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=months, y=rows["pipeline_count"], name="open pipeline (deals)", marker_color="#1f5fa8")
    figure.add_bar(x=months, y=rows["remaining_count"], name="still to win (deals)", marker_color="#d9822b")
    figure.add_scatter(
        x=months,
        y=rows["coverage_remaining_count"],
        name="coverage",
        mode="lines+markers+text",
        text=list(rows["status"]),
        textposition="top center",
        line_color="#333",
        secondary_y=True,
    )
    figure.add_scatter(
        x=months,
        y=rows["coverage_minimum"],
        name="minimum",
        mode="lines",
        line=dict(color="#e53935", dash="dash"),
        secondary_y=True,
    )
    figure.update_layout(title="Pipeline coverage: open deals by expected close month ÷ deals still to win", height=380)
    figure.update_yaxes(title_text="deals", secondary_y=False)
    figure.update_yaxes(title_text="coverage (×)", rangemode="tozero", secondary_y=True)
    return figure


def _hypotheses_table(hypotheses: pd.DataFrame) -> str:
    """The verdict of every hypothesis of hypotheses.yml, as an HTML table."""

    def pct(value: float) -> str:
        return f"{value:+.1%}" if pd.notna(value) else "–"

    rows = "".join(
        f"<tr><td>{html.escape(h.hypothesis_id)}</td><td>{html.escape(h.statement or '')}</td>"
        f"<td>{html.escape(h.slice or '')}</td><td>{h.effective_date:%Y-%m-%d}</td>"
        f"<td>{pct(h.before_rate).lstrip('+')} → {pct(h.after_rate).lstrip('+')}</td>"
        f"<td>{pct(h.difference)} [{pct(h.ci_low)}, {pct(h.ci_high)}]</td>"
        f"<td>{f'{h.p_value:.3g}' if pd.notna(h.p_value) else '–'}</td><td><b>{html.escape(h.verdict)}</b></td></tr>"
        for h in hypotheses.itertuples()
    )
    return (
        '<h2>Hypotheses (仮説検証)</h2><table class="hypotheses"><tr><th>id</th><th>statement</th><th>slice</th>'
        "<th>from</th><th>rate before → after</th><th>difference [interval]</th><th>p</th><th>verdict</th></tr>"
        f"{rows}</table>"
    )


#: Per stage, the owner_performance columns the team table shows beside entries, hand-overs and the target.
OWNER_MEASURES = {
    "inside_sales": [("median hours to first contact", "median_hours_to_first_contact", "{:.1f}")],
    "field_sales": [
        ("win rate", "win_rate", "{:.0%}"),
        ("受注単価", "average_deal_size", "{:,.0f}"),
        ("sales cycle (median days)", "median_sales_cycle_days", "{:.0f}"),
    ],
    "customer_success": [
        ("customers", "customers_owned", "{:,}"),
        ("renewal rate", "renewal_rate", "{:.0%}"),
        ("churned", "churned_customers", "{:,}"),
    ],
}


def _owners_table(owners: pd.DataFrame, as_of_month: pd.Timestamp) -> str:
    """Each person's row in their own stage for the last closed month (the one before the as-of month), per stage;
    empty when the mart has no row for that month."""
    month = as_of_month - pd.DateOffset(months=1)
    rows = owners[owners["period_start"] == month]
    if rows.empty:
        return ""

    def cell(value: object, pattern: str) -> str:
        return pattern.format(value) if pd.notna(value) else "–"

    sections = []
    for stage, measures in OWNER_MEASURES.items():
        people = rows[rows["stage"] == stage].sort_values(["team", "owner_id"], na_position="last")
        if people.empty:
            continue
        head = "".join(f"<th>{html.escape(label)}</th>" for label, _, _ in measures)
        body = "".join(
            f"<tr><td>{html.escape(p.owner_id if isinstance(p.owner_id, str) else '(no owner)')}</td>"
            f"<td>{html.escape(p.team if isinstance(p.team, str) else '')}</td>"
            f"<td>{p.entries:,}</td><td>{p.handovers:,}</td><td>{cell(p.conversion_rate, '{:.0%}')}</td>"
            + "".join(f"<td>{cell(getattr(p, column), pattern)}</td>" for _, column, pattern in measures)
            + f"<td>{cell(p.target_goal, '{:.1f}')}</td><td>{cell(p.goal_attainment, '{:.0%}')}</td></tr>"
            for p in people.itertuples()
        )
        sections.append(
            f'<h3>{html.escape(stage)}</h3><table class="owners"><tr><th>owner</th><th>team</th><th>entries</th>'
            f"<th>hand-overs</th><th>conversion</th>{head}<th>target</th><th>attainment</th></tr>{body}</table>"
        )
    return (
        f"<h2>Team performance, {pd.Timestamp(month):%Y-%m} (marts.owner_performance)</h2>"
        "<p>Each person in their own stage; the target is their own goal in targets.yml or their share of the "
        "team's target, pro rata to the days they were active.</p>" + "".join(sections)
    )


def _read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame | None:
    exists = con.execute("select count(*) from duckdb_tables() where table_name = ?", [table]).fetchall()[0][0]
    return con.execute(f"select * from main.{table}").df() if exists else None


REPORTED_MARTS = (
    "funnel_kpi_monthly",
    "reconciliation",
    "funnel_bottleneck",
    "hypothesis_results",
    "unit_economics_monthly",
    "unit_economics_fiscal_quarterly",
    "owner_performance",
    "campaign_performance",
    "pipeline_waterfall",
    "stage_durations_monthly",
    "forecast",
    "forecast_backtest",
    "pipeline_coverage",
)


def load_marts(published: Path) -> dict[str, pd.DataFrame | None]:
    """The marts the report draws (None when absent) from the published file, by name."""
    with duckdb.connect(str(published), read_only=True) as con:
        marts = {name: _read(con, name) for name in REPORTED_MARTS}
    if marts["funnel_kpi_monthly"] is None or marts["funnel_kpi_monthly"].empty:
        raise ValueError(f"{published} has no funnel_kpi_monthly rows to report")
    for frame in marts.values():
        for column in ("period_start", "month", "effective_date", "close_month"):
            if frame is not None and column in frame:
                frame[column] = pd.to_datetime(frame[column])
    return marts


def build_report(marts: dict[str, pd.DataFrame | None], out_dir: Path, reporting_tz: str) -> Path:
    """Write out_dir/index.html from the marts of load_marts; return its path."""
    monthly, reconciliation = marts["funnel_kpi_monthly"], marts.get("reconciliation")
    bottleneck, hypotheses = marts.get("funnel_bottleneck"), marts.get("hypothesis_results")
    owners = marts.get("owner_performance")
    with_targets = bool(monthly["target_goal"].notna().any())
    figures = [_funnel(monthly), _trends(monthly, with_targets), _heatmap(monthly, with_targets)]
    if reconciliation is not None and not reconciliation.empty:
        figures.append(_reconciliation(reconciliation))
    if bottleneck is not None and bottleneck["won_deals_shortfall"].notna().any():
        figures.append(_bottleneck(bottleneck))
    unit_economics = marts.get("unit_economics_monthly")
    if unit_economics is not None and not unit_economics.empty:
        figures.append(_unit_economics(unit_economics, marts.get("unit_economics_fiscal_quarterly")))
    for mart, draw in (("pipeline_waterfall", waterfall_figure), ("stage_durations_monthly", stage_time_figure)):
        if marts.get(mart) is not None and (figure := draw(marts[mart])) is not None:
            figures.append(figure)
    coverage = marts.get("pipeline_coverage")
    if coverage is not None and not coverage.empty:
        figures.append(_coverage(coverage))
    as_of = pd.Timestamp(monthly["as_of"].max()).tz_convert(reporting_tz)
    charts = "\n".join(
        f'<section class="chart">{figure.to_html(full_html=False, include_plotlyjs=i == 0)}</section>'
        for i, figure in enumerate(figures)
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>THE MODEL funnel report</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}}
.chart{{margin:1.5em 0}} table.hypotheses{{border-collapse:collapse;font-size:0.9em}}
table.hypotheses td,table.hypotheses th{{border-bottom:1px solid #ddd;padding:0.3em 0.6em;text-align:left}}
table.owners{{border-collapse:collapse;font-size:0.9em}}
table.owners td,table.owners th{{border-bottom:1px solid #ddd;padding:0.3em 0.6em;text-align:right}}</style></head>
<body><h1>THE MODEL funnel</h1>
<p>As of {html.escape(f"{as_of:%Y-%m-%d %H:%M}")} {html.escape(reporting_tz)}. Base (母数) = entries into a stage; goal (ゴール) = hand-overs
to the next stage; one stage's goal is the next stage's base. Built from {PUBLISHED_FILE}.</p>
{charts}
{_hypotheses_table(hypotheses) if hypotheses is not None and not hypotheses.empty else ""}
{_owners_table(owners, monthly["period_start"].max()) if owners is not None else ""}
{campaign_table(marts.get("campaign_performance"))}
{forecast_table(marts.get("forecast"), marts.get("forecast_backtest"))}
</body></html>
"""
    out_dir.mkdir(parents=True, exist_ok=True)
    partial, final = out_dir / ".index.html.tmp", out_dir / "index.html"
    partial.write_text(page, encoding="utf-8")
    partial.replace(final)
    return final


def funnel_markdown(monthly: pd.DataFrame) -> str:
    """The latest month's funnel as a markdown table with bars, for the asset's metadata in the UI."""
    period = monthly[monthly["view"] == "period"]
    rows = period[period["period_start"] == period["period_start"].max()].sort_values("stage_order")
    top = max(rows["base"].max(), 1)
    lines = [
        f"**{rows['period_start'].iloc[0]:%Y-%m}** (period view)",
        "",
        "| stage | base | goal | conversion | base |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.stage} | {r.base:,} | {r.goal:,} | "
        f"{f'{r.conversion_rate:.1%}' if pd.notna(r.conversion_rate) else '–'} | "
        f"{'█' * max(1, round(20 * r.base / top)) if r.base else ''} |"
        for r in rows.itertuples()
    ]
    return "\n".join(lines)


@dg.asset(
    key=["serving", "funnel_report"],
    group_name="serving",
    deps=[dg.AssetKey(["serving", "published_marts"])],
    kinds={"html", "plotly"},
)
def funnel_report(context: dg.AssetExecutionContext, warehouse: Warehouse, settings: Settings) -> dg.MaterializeResult:
    """report/index.html beside the warehouse, from the published marts (it never opens the warehouse file)."""
    started = time.perf_counter()
    marts = load_marts(published_file(warehouse.path))
    path = build_report(marts, report_dir(warehouse.path), settings.reporting_tz)
    context.log.info(f"report: {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "funnel": dg.MetadataValue.md(funnel_markdown(marts["funnel_kpi_monthly"])),
            "bytes": path.stat().st_size,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
