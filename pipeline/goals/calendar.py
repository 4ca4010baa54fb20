"""The business calendar: which days count as business days when the open month is paced.

Weekdays less the public holidays of FUNNEL_HOLIDAY_CALENDAR, from the holidays library. Apart from the
targets because it depends on a setting, not on targets.yml; pipeline/goals/assets.py loads it into
reference.business_calendar.
"""

import holidays
import pandas as pd

CALENDAR_YEARS = range(2000, 2101)


class CalendarError(ValueError):
    """The holiday calendar is unknown (a run's settings, overridden in the UI, skip the environment's check)."""


def business_calendar(calendar: str) -> pd.DataFrame:
    """Every day from 2000 to 2100 with is_business_day: weekdays that are not public holidays of `calendar`
    (an ISO country code known to the holidays library, e.g. JP; `none` for weekends only)."""
    days = pd.date_range("2000-01-01", "2100-12-31", freq="D")
    if calendar.lower() == "none":
        off = set()
    else:
        try:
            off = set(holidays.country_holidays(calendar.upper(), years=CALENDAR_YEARS))
        except NotImplementedError as exc:
            raise CalendarError(f"FUNNEL_HOLIDAY_CALENDAR={calendar!r} is not a known country calendar") from exc
    is_holiday = days.to_series().dt.date.isin(off).to_numpy()
    return pd.DataFrame(
        {"day": days.date, "is_business_day": (days.dayofweek < 5) & ~is_holiday, "is_holiday": is_holiday}
    )
