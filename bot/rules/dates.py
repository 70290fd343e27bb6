"""Reading dates customers type."""

from __future__ import annotations

import re
from datetime import date

_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\s*[.,/\-\s]\s*(\d{1,2})\s*$")


def parse_day_month(text: str) -> str | None:
    """'14.03', '14,03', '14/3', '14-03' → '03-14' (MM-DD); None unless it is a real day of the year.

    29 February is a real birthday: it is checked against a leap year.
    """
    match = _DAY_MONTH.match(text)
    if not match:
        return None
    day, month = int(match[1]), int(match[2])
    try:
        date(2024, month, day)
    except ValueError:
        return None
    return f"{month:02d}-{day:02d}"
