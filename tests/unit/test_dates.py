"""bot.rules.dates.parse_day_month: the birthdays customers type."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.dates import parse_day_month


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14.03", "03-14"),
        ("14.3", "03-14"),
        ("1/3", "03-01"),
        ("01/03", "03-01"),
        ("14-03", "03-14"),
        ("14 03", "03-14"),
        (" 14 . 03 ", "03-14"),
        ("29.02", "02-29"),  # a real birthday, even if most years lack it
        ("31.12", "12-31"),
        ("1.1", "01-01"),
        ("31.01", "01-31"),
        ("30.04", "04-30"),
    ],
)
def test_real_days_are_read_as_month_day(text: str, expected: str) -> None:
    assert parse_day_month(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31.02",
        "30.02",
        "31.04",
        "00.01",
        "01.00",
        "13.13",
        "32.01",
        "14.03.1990",
        "14.03.",
        "2026-03-14",
        "143",
        "14",
        "1403",
        "14..03",
        "a.b",
        "",
        "  ",
        "-1.03",
        "014.03",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    assert parse_day_month(text) is None


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 12, 31)), st.sampled_from("./- "))
def test_every_day_of_a_leap_year_round_trips(day: date, separator: str) -> None:
    assert parse_day_month(f"{day.day}{separator}{day.month}") == day.strftime("%m-%d")
    assert parse_day_month(f"{day.day:02d}{separator}{day.month:02d}") == day.strftime("%m-%d")


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=99))
def test_only_real_dates_pass(day: int, month: int) -> None:
    try:
        date(2024, month, day)
        real = True
    except ValueError:
        real = False
    result = parse_day_month(f"{day:02d}.{month:02d}")
    assert result == (f"{month:02d}-{day:02d}" if real else None)


@given(st.text(max_size=10))
def test_never_raises(text: str) -> None:
    result = parse_day_month(text)
    if result is not None:
        month, day = (int(part) for part in result.split("-"))
        assert date(2024, month, day) - date(2024, 1, 1) < timedelta(days=366)
