"""The campaign table of the funnel report: which campaigns paid, from marts.campaign_performance.

The mart has a row per month, source and campaign (first-touch cohorts); the report sums each campaign and source
over the cohort months of the last year, so a campaign that ran for several months is one line. Spend is known for
some months only (a month without a spend row is unknown, not free), so costs and ROI are taken over the months
with spend alone: spend ÷ their leads, MQLs, opportunities and won deals, and (their won amount − spend) ÷ spend.
A campaign with no spend in any of those months shows "–" there, as the mart's NULL does.
"""

import html

import pandas as pd

#: Cohort months summed into the table, counted back from the latest month of the mart.
MONTHS = 12
#: Campaigns listed, by spend (then won amount); the rest are counted below the table.
ROWS = 20

STYLE = (
    "<style>table.campaigns{border-collapse:collapse;font-size:0.85em}"
    "table.campaigns td,table.campaigns th{border-bottom:1px solid #ddd;padding:0.25em 0.4em;text-align:left;"
    "white-space:nowrap}table.campaigns :is(td,th):nth-child(n+3){text-align:right}</style>"
)
#: Each count and the name of one of it, as the cost columns say it.
COUNTS = {"leads": "lead", "mqls": "mql", "opportunities": "opportunity", "won_deals": "won_deal"}
AMOUNTS = ["pipeline_amount", "won_amount"]


def campaign_totals(performance: pd.DataFrame) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """Per source and campaign, the cohort months of the last MONTHS summed, with costs and ROI over the months
    with spend; sorted by spend (campaigns without spend last), then won amount. Also the first and last month."""
    last = performance["period_start"].max()
    first = max(performance["period_start"].min(), last - pd.DateOffset(months=MONTHS - 1))
    rows = performance[performance["period_start"] >= first].copy()
    paid = rows["spend"].notna()
    for column in [*COUNTS, "won_amount"]:
        rows[f"paid_{column}"] = rows[column].where(paid, 0)
    keys = ["source", "campaign_id"]
    totals = (
        rows.fillna({k: "" for k in keys})
        .groupby(keys)
        .agg(
            months=("period_start", "nunique"),
            **{c: (c, "sum") for c in [*COUNTS, *AMOUNTS]},
            spend=("spend", lambda s: s.sum(min_count=1)),
            **{f"paid_{c}": (f"paid_{c}", "sum") for c in [*COUNTS, "won_amount"]},
        )
        .reset_index()
    )
    spend = totals["spend"].astype(float)
    for column, one in COUNTS.items():
        totals[f"cost_per_{one}"] = spend / totals[f"paid_{column}"].astype(float).replace(0, float("nan"))
    totals["roi"] = (totals["paid_won_amount"].astype(float) - spend) / spend.replace(0, float("nan"))
    totals = totals.sort_values(["spend", "won_amount"], ascending=False, na_position="last", kind="stable")
    return totals.reset_index(drop=True), first, last


def _number(value: float) -> str:
    return f"{value:,.0f}" if pd.notna(value) else "–"


def campaign_table(performance: pd.DataFrame | None) -> str:
    """The HTML section (heading, caption, table), or "" when the mart is absent or has no rows."""
    if performance is None or performance.empty:
        return ""
    totals, first, last = campaign_totals(performance)
    shown = totals.head(ROWS)
    body = "".join(
        f"<tr><td>{html.escape(r.campaign_id) or '(none)'}</td><td>{html.escape(r.source) or '(none)'}</td>"
        f"<td>{r.months}</td><td>{r.leads:,}</td><td>{r.mqls:,}</td><td>{r.opportunities:,}</td>"
        f"<td>{r.won_deals:,}</td><td>{_number(r.pipeline_amount)}</td><td>{_number(r.won_amount)}</td>"
        f"<td>{_number(r.spend)}</td><td>{_number(r.cost_per_lead)}</td><td>{_number(r.cost_per_opportunity)}</td>"
        f"<td>{_number(r.cost_per_won_deal)}</td><td>{f'{r.roi:+.0%}' if pd.notna(r.roi) else '–'}</td></tr>"
        for r in shown.itertuples()
    )
    more = f"<p>{len(totals) - len(shown)} more in marts.campaign_performance.</p>" if len(totals) > len(shown) else ""
    return (
        f"{STYLE}<h2>Campaigns (first touch), leads of {first:%Y-%m} to {last:%Y-%m}</h2>"
        "<p>Each lead counts under the campaign and source it came in with and the month it first entered "
        "marketing, with everything it did by the as-of instant (opps: new-business opportunities). Amounts in the "
        "reporting currency. Cost per lead, opportunity and won deal, and ROI, over the months with spend; – where no "
        "spend is recorded or nothing to divide by.</p>"
        '<table class="campaigns"><tr><th>campaign</th><th>source</th><th>months</th><th>leads</th><th>MQLs</th>'
        "<th>opps</th><th>won</th><th>pipeline</th><th>won amount</th><th>spend</th><th>per lead</th>"
        f"<th>per opp</th><th>per won</th><th>ROI</th></tr>{body}</table>{more}"
    )
