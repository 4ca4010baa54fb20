"""Serving: the published marts for BI tools, the HTML report and the CSV export."""
