"""Velocity and speed-to-lead marts against independent pandas / NumPy computations."""

import holidays
import numpy as np
import pandas as pd

TZ = "Asia/Tokyo"


def test_stage_velocity_matches_the_stage_tables(demo_run):
    velocity = demo_run.query("select * from marts.stage_velocity").set_index(["period_start", "stage"])
    for stage in ("marketing", "inside_sales", "field_sales", "customer_success"):
        rows = demo_run.query(f"select entered_month, outcome, days_in_stage from stages.{stage}_entries")
        for month, group in rows.groupby("entered_month"):
            got = velocity.loc[(month, stage)]
            days = group["days_in_stage"]
            assert got["entries"] == len(group) and got["still_open"] == (group["outcome"] == "open").sum()
            assert np.isclose(got["mean_days_in_stage"], days.mean())
            assert np.isclose(got["median_days_in_stage"], days.median())
            assert np.isclose(got["p90_days_in_stage"], np.quantile(days, 0.9))
    assert len(velocity) == sum(
        demo_run.query(f"select count(distinct entered_month) as n from stages.{s}_entries")["n"][0]
        for s in ("marketing", "inside_sales", "field_sales", "customer_success")
    )


def test_speed_to_lead_breaches_follow_the_business_day_sla(demo_run):
    leads = demo_run.query("""
        select owner_id, received_at, first_contact_at from stages.inside_sales_entries
        where entry_type = 'handover'""")
    as_of = demo_run.query("select as_of from intermediate.int_as_of")["as_of"][0]
    arrived = pd.to_datetime(leads["received_at"], utc=True).dt.tz_convert(TZ).dt.tz_localize(None)
    contacted = pd.to_datetime(leads["first_contact_at"], utc=True).dt.tz_convert(TZ).dt.tz_localize(None)
    off = sorted(np.datetime64(d) for d in holidays.Japan(years=range(2023, 2028)))
    arrival_day = arrived.dt.normalize().to_numpy().astype("datetime64[D]")
    due_day = np.busday_offset(arrival_day, 1, roll="forward", holidays=off)
    # on a business day the clock runs from the arrival; on a weekend or holiday from the next business day's start
    on_business_day = np.is_busday(arrival_day, holidays=off)
    due = pd.to_datetime(due_day) + (arrived - arrived.dt.normalize()).where(on_business_day, pd.Timedelta(0))
    until = contacted.fillna(pd.Timestamp(as_of).tz_convert(TZ).tz_localize(None))
    frame = pd.DataFrame(
        {
            "month": arrived.dt.to_period("M").dt.to_timestamp().dt.date,
            "owner_id": leads["owner_id"],
            "breach": until > due,
            "contacted": contacted.notna(),
            "hours": (contacted - arrived).dt.total_seconds() / 3600,
        }
    )
    expected = frame.groupby(["month", "owner_id"]).agg(
        leads=("breach", "size"), breaches=("breach", "sum"), contacted=("contacted", "sum"), hours=("hours", "median")
    )
    mart = demo_run.query("select * from marts.speed_to_lead")
    mart["period_start"] = pd.to_datetime(mart["period_start"]).dt.date
    mart = mart.set_index(["period_start", "owner_id"]).sort_index()
    assert list(mart.index) == list(expected.index)
    assert (mart["leads"] == expected["leads"]).all() and (mart["contacted"] == expected["contacted"]).all()
    assert (mart["sla_breaches"] == expected["breaches"]).all()
    assert np.allclose(mart["median_hours_to_first_contact"], expected["hours"], equal_nan=True)
    assert 0 < expected["breaches"].sum() < expected["leads"].sum()
