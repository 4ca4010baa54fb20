"""The forecast table of the funnel report, from marts.forecast and marts.forecast_backtest.

A sales meeting reads the forecast as a few numbers per month, so it is a table, not a chart: per target month the
won deals and revenue expected (already won + open pipeline + deals to come), the interval, and for the open
month the pace against the same business day of past months; under it, how the backtest's intervals did per
horizon (points, empirical coverage, mean absolute error), so a reader can judge how far to trust it.
"""

import html

import pandas as pd

STYLE = (
    "<style>table.forecast{border-collapse:collapse;font-size:0.9em}"
    "table.forecast td,table.forecast th{border-bottom:1px solid #ddd;padding:0.3em 0.6em;text-align:right}"
    "table.forecast :is(td,th):first-child{text-align:left}</style>"
)
LABELS = {"won_deals": "won deals", "revenue": "revenue"}


def _number(value: object, measure: str) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{value:,.1f}" if measure == "won_deals" else f"{value:,.0f}"


def forecast_table(forecast: pd.DataFrame | None, backtest: pd.DataFrame | None) -> str:
    """The report's forecast section; empty without forecast rows."""
    if forecast is None or forecast.empty:
        return ""
    level = forecast["interval_level"].iloc[0]
    rows = []
    for row in forecast.sort_values(["horizon", "measure"], ascending=[True, False]).itertuples():
        n = row.measure
        pace = _number(row.pacing_forecast, n) if row.horizon == 0 else ""
        rows.append(
            f"<tr><td>{pd.Timestamp(row.target_month):%Y-%m}</td><td>{LABELS[n]}</td>"
            f"<td>{_number(row.already_won, n)}</td><td>{_number(row.from_pipeline, n)}</td>"
            f"<td>{_number(row.from_not_yet_created, n)}</td><td><b>{_number(row.forecast, n)}</b></td>"
            f"<td>{_number(row.lower, n)} – {_number(row.upper, n)} ({html.escape(str(row.interval_method))})</td>"
            f"<td>{pace}</td></tr>"
        )
    accuracy = ""
    if backtest is not None and not backtest.empty:
        summary = backtest.groupby(["measure", "horizon"], as_index=False).agg(
            points=("hit", "size"), coverage=("hit", "mean"), error=("absolute_error", "mean")
        )
        accuracy = (
            "<p>Backtest (marts.forecast_backtest, a forecast at every past week start from what was known then): "
            + "; ".join(
                f"{LABELS[s.measure]} {s.horizon} month(s) ahead: {s.points} points, "
                f"{s.coverage:.0%} inside the interval, mean absolute error {_number(s.error, s.measure)}"
                for s in summary.itertuples()
            )
            + ".</p>"
        )
    return (
        f"{STYLE}<h2>Forecast, as of {pd.Timestamp(forecast['forecast_date'].iloc[0]):%Y-%m-%d} (marts.forecast)</h2>"
        f'<table class="forecast"><tr><th>month</th><th>measure</th><th>won so far</th><th>open pipeline</th>'
        f"<th>deals to come</th><th>forecast</th><th>{level:.0%} interval</th><th>pace</th></tr>"
        + "".join(rows)
        + f"</table>{accuracy}"
    )
