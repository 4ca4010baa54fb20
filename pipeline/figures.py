"""How a figure that may be missing reads in the text operators see: the tables `make run` prints and the alert
messages. A missing value (NULL, or NaN once pandas read it) reads "-", so a column never shows "None" or "nan"."""

import math


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | None) -> str:
    """A count or an amount, whole, with thousands separators: 1,234."""
    return "-" if _missing(value) else f"{value:,.0f}"


def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal: 15.6%."""
    return "-" if _missing(value) else f"{value:.1%}"


def times(value: float | None) -> str:
    """A ratio as a multiple: 2.73x."""
    return "-" if _missing(value) else f"{value:.2f}x"
