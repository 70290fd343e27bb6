"""How many points a purchase earns, and when they expire. Exact arithmetic: integers and Decimal."""

from __future__ import annotations

import calendar
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

Rounding = Literal["down", "half_up", "up"]
_MODES = {"down": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "up": ROUND_CEILING}


def points_for_amount(amount_minor: int, currency_digits: int, percent: Decimal, rounding: Rounding) -> int:
    """`percent` of the amount in whole currency units, one point per unit, rounded as configured."""
    if amount_minor < 0:
        raise ValueError("a purchase amount cannot be negative")
    exact = Decimal(amount_minor).scaleb(-currency_digits) * percent / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=_MODES[rounding]))


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later; the 31st becomes the last day of a shorter month."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_amount(text: str, currency_digits: int) -> int | None:
    """'125.50', '125,50' or '125' → minor units; None when it is not a non-negative amount with at most
    the currency's number of decimals."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if not cleaned or cleaned.count(".") > 1 or not cleaned.replace(".", "").isdecimal():
        return None
    value = Decimal(cleaned)
    minor = value.scaleb(currency_digits)
    if minor != minor.to_integral_value():
        return None
    return int(minor)
