"""The report's pipeline-timeline charts: the waterfall of the pipeline due to close in the open month over the
latest complete week and month (marts.pipeline_waterfall), and the median days deals spend in each sales stage per
month (marts.stage_durations_monthly). Kept apart from report.py so the report module stays a list of sections."""

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: The waterfall's steps: (label, column, sign); the first is the start, the last the end.
WATERFALL_STEPS = (
    ("open at start", "open_start_amount", 1),
    ("created", "created_amount", 1),
    ("pulled in", "pulled_in_amount", 1),
    ("amount increased", "amount_increased", 1),
    ("amount decreased", "amount_decreased", -1),
    ("pushed out", "pushed_out_amount", -1),
    ("won", "won_amount", -1),
    ("lost", "lost_amount", -1),
    ("open at end", "open_end_amount", 1),
)
COUNTS = {
    "open_start_amount": "open_start",
    "created_amount": "created",
    "pulled_in_amount": "pulled_in",
    "pushed_out_amount": "pushed_out",
    "won_amount": "won",
    "lost_amount": "lost",
    "open_end_amount": "open_end",
}


def waterfall_rows(waterfall: pd.DataFrame) -> dict[str, pd.Series]:
    """Per grain, the row of the latest complete period whose window holds the open month (the month of the as-of
    instant, the latest monthly period) as a close month; a grain without a complete period is left out."""
    open_month = waterfall.loc[waterfall["grain"] == "month", "period_start"].max()
    rows = {}
    for grain in ("week", "month"):
        cells = waterfall[
            (waterfall["grain"] == grain) & waterfall["is_complete"] & (waterfall["close_month"] == open_month)
        ]
        if not cells.empty:
            rows[grain] = cells.sort_values("period_start").iloc[-1]
    return rows


def waterfall_figure(waterfall: pd.DataFrame) -> go.Figure | None:
    """Amount steps from open at start to open at end, one panel per grain; deal counts label the bars."""
    rows = waterfall_rows(waterfall)
    if not rows:
        return None
    open_month = pd.Timestamp(next(iter(rows.values()))["close_month"])
    titles = [
        f"{'week' if grain == 'week' else 'month'} from {pd.Timestamp(row['period_start']):%Y-%m-%d}"
        for grain, row in rows.items()
    ]
    figure = make_subplots(rows=1, cols=len(rows), subplot_titles=titles)
    for i, row in enumerate(rows.values(), start=1):
        values = [float(row[column]) * sign for _, column, sign in WATERFALL_STEPS]
        labels = [f"{int(row[COUNTS[c]])} deals" if c in COUNTS else "" for _, c, _ in WATERFALL_STEPS]
        figure.add_trace(
            go.Waterfall(
                x=[label for label, _, _ in WATERFALL_STEPS],
                y=values[:-1] + [0],
                measure=["absolute"] + ["relative"] * (len(WATERFALL_STEPS) - 2) + ["total"],
                text=labels,
                textposition="outside",
                hovertemplate="%{x}: %{y:,.0f}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=i,
        )
    figure.update_layout(
        title=f"Pipeline waterfall: deals due to close in {open_month:%Y-%m}, last complete week and month (amount)",
        height=460,
    )
    return figure


def stage_time_figure(monthly: pd.DataFrame) -> go.Figure | None:
    """Median days in each sales stage per month of exit, one line per stage in pipeline order."""
    if monthly.empty:
        return None
    figure = go.Figure()
    order = monthly.sort_values(["position", "stage_name"], na_position="last")["stage_name"].unique()
    for stage in order:
        rows = monthly[monthly["stage_name"] == stage].sort_values("period_start")
        figure.add_scatter(
            x=rows["period_start"],
            y=rows["median_days"],
            name=str(stage),
            mode="lines+markers",
            customdata=rows[["p90_days", "spells"]],
            hovertemplate="%{y:.1f} days (median), p90 %{customdata[0]:.1f}, %{customdata[1]} spells",
        )
    figure.update_layout(
        title="Time in stage: median days per sales stage, by month the deals left it",
        yaxis_title="days (median)",
        height=380,
    )
    return figure
