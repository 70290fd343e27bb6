"""bot.rules.earning: points for an amount (exact, three rounding modes), add_months, parse_amount."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import get_args
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules.earning import Rounding, add_months, parse_amount, points_for_amount

MODES: tuple[Rounding, ...] = get_args(Rounding)
KYIV = ZoneInfo("Europe/Kyiv")


def reference_points(amount_minor: int, digits: int, percent: Decimal, rounding: str) -> int:
    """The same rule in exact rational arithmetic, written independently of the code under test."""
    exact = Fraction(amount_minor, 10**digits) * Fraction(percent) / 100
    floor = exact.numerator // exact.denominator
    if rounding == "down" or exact == floor:
        return floor
    if rounding == "up":
        return floor + 1
    return floor + 1 if exact - floor >= Fraction(1, 2) else floor


amounts = st.integers(min_value=0, max_value=10**12)
# Percentages a shop would configure: 0 to 100 with up to two decimals (exact in Decimal).
percents = st.integers(min_value=0, max_value=10_000).map(lambda n: Decimal(n).scaleb(-2))
digits = st.sampled_from([0, 2, 3])
modes = st.sampled_from(MODES)


# -- points_for_amount ------------------------------------------------------------------------------


def test_the_modes_are_the_three_documented_ones() -> None:
    assert set(MODES) == {"down", "half_up", "up"}


@pytest.mark.parametrize(
    ("amount_minor", "percent", "expected"),
    [
        (12550, "5", {"down": 6, "half_up": 6, "up": 7}),  # 125.50 UAH at 5 % = 6.275
        (12000, "5", {"down": 6, "half_up": 6, "up": 6}),  # exactly 6.000
        (13000, "5", {"down": 6, "half_up": 7, "up": 7}),  # exactly 6.5: half goes up
        (12999, "5", {"down": 6, "half_up": 6, "up": 7}),  # 6.4995
        (1, "5", {"down": 0, "half_up": 0, "up": 1}),  # 0.0005 of a point
        (0, "5", {"down": 0, "half_up": 0, "up": 0}),
        (12550, "0", {"down": 0, "half_up": 0, "up": 0}),
        (12550, "100", {"down": 125, "half_up": 126, "up": 126}),  # 125.50
        (12550, "2.5", {"down": 3, "half_up": 3, "up": 4}),  # 3.1375
        # Float arithmetic gets these wrong: 100.00 * 0.07 = 7.000000000000001 (float "up" gives 8),
        # 500.00 * 0.007 = 3.4999999999999996 (float "half_up" gives 3).
        (10000, "7", {"down": 7, "half_up": 7, "up": 7}),
        (50000, "0.7", {"down": 3, "half_up": 4, "up": 4}),
        (1990, "10", {"down": 1, "half_up": 2, "up": 2}),  # 1.99
    ],
)
def test_points_for_amount_examples(amount_minor: int, percent: str, expected: dict[str, int]) -> None:
    got = {mode: points_for_amount(amount_minor, 2, Decimal(percent), mode) for mode in MODES}
    assert got == expected


def test_currency_digits_scale_the_amount() -> None:
    # 1 250 JPY (no minor unit) and 12.500 KWD (three decimals), both at 10 %.
    assert points_for_amount(1250, 0, Decimal(10), "down") == 125
    assert points_for_amount(12500, 3, Decimal(10), "down") == 1
    assert points_for_amount(12500, 3, Decimal(10), "up") == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_negative_amount_is_refused(mode: Rounding) -> None:
    with pytest.raises(ValueError, match="negative"):
        points_for_amount(-1, 2, Decimal(5), mode)


@given(amounts, digits, percents, modes)
def test_points_are_exactly_the_rational_result_rounded(
    amount_minor: int, currency_digits: int, percent: Decimal, mode: Rounding
) -> None:
    points = points_for_amount(amount_minor, currency_digits, percent, mode)
    assert type(points) is int
    assert points == reference_points(amount_minor, currency_digits, percent, mode)
    assert points >= 0


@given(amounts, digits, percents)
def test_down_never_exceeds_half_up_which_never_exceeds_up(
    amount_minor: int, currency_digits: int, percent: Decimal
) -> None:
    down, half, up = (points_for_amount(amount_minor, currency_digits, percent, m) for m in MODES)
    assert down <= half <= up <= down + 1


@given(amounts, amounts, digits, percents, modes)
def test_points_are_monotone_in_the_amount(
    a: int, b: int, currency_digits: int, percent: Decimal, mode: Rounding
) -> None:
    low, high = sorted((a, b))
    assert points_for_amount(low, currency_digits, percent, mode) <= points_for_amount(
        high, currency_digits, percent, mode
    )


# -- add_months -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (datetime(2026, 1, 31, 15, 30, 7), 1, datetime(2026, 2, 28, 15, 30, 7)),
        (datetime(2028, 1, 31, 15, 30, 7), 1, datetime(2028, 2, 29, 15, 30, 7)),  # leap year
        (datetime(2026, 3, 31, 0, 0), 1, datetime(2026, 4, 30, 0, 0)),
        (datetime(2026, 3, 10, 9, 0), 1, datetime(2026, 4, 10, 9, 0)),
        (datetime(2026, 11, 30, 23, 59, 59), 2, datetime(2027, 1, 30, 23, 59, 59)),  # year wrap
        (datetime(2026, 12, 31, 12, 0), 1, datetime(2027, 1, 31, 12, 0)),
        (datetime(2026, 12, 15, 12, 0), 12, datetime(2027, 12, 15, 12, 0)),
        (datetime(2028, 2, 29, 8, 0), 12, datetime(2029, 2, 28, 8, 0)),
        (datetime(2026, 5, 31, 8, 0), 25, datetime(2028, 6, 30, 8, 0)),
        (datetime(2026, 3, 31, 8, 0), -1, datetime(2026, 2, 28, 8, 0)),
        (datetime(2026, 1, 15, 8, 0), -1, datetime(2025, 12, 15, 8, 0)),
        (datetime(2026, 8, 20, 8, 0), 0, datetime(2026, 8, 20, 8, 0)),
    ],
)
def test_add_months(start: datetime, months: int, expected: datetime) -> None:
    assert add_months(start.replace(tzinfo=UTC), months) == expected.replace(tzinfo=UTC)


def test_add_months_keeps_time_microseconds_and_zone() -> None:
    plus3 = timezone(timedelta(hours=3))
    start = datetime(2026, 1, 31, 23, 45, 12, 345678, tzinfo=plus3)
    moved = add_months(start, 1)
    assert moved == datetime(2026, 2, 28, 23, 45, 12, 345678, tzinfo=plus3)
    assert moved.tzinfo is plus3

    kyiv = datetime(2026, 1, 31, 10, 0, tzinfo=KYIV)
    assert add_months(kyiv, 1).tzinfo is KYIV
    assert (add_months(kyiv, 1).date().isoformat(), add_months(kyiv, 1).hour) == ("2026-02-28", 10)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 12, 31)),
    st.integers(min_value=-60, max_value=60),
)
def test_add_months_lands_in_the_right_month_on_the_nearest_day(start: datetime, months: int) -> None:
    start = start.replace(tzinfo=UTC)
    moved = add_months(start, months)
    assert (moved.year * 12 + moved.month) - (start.year * 12 + start.month) == months
    last_day = calendar.monthrange(moved.year, moved.month)[1]
    assert moved.day == min(start.day, last_day)
    assert moved.timetz() == start.timetz()


# -- parse_amount -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("125.50", 12550),
        ("125,50", 12550),
        ("125", 12500),
        (" 1 250,5 ", 125050),
        ("1\u00a0250,50", 125050),  # a non-breaking space, as ru/uk number formats write thousands
        ("0", 0),
        ("0.01", 1),
        ("0,5", 50),
        (".5", 50),
        ("125.", 12500),
        ("007", 700),
    ],
)
def test_parse_amount_reads_amounts(text: str, expected: int) -> None:
    assert parse_amount(text, 2) == expected


@pytest.mark.parametrize(
    "text",
    [
        "12.345",
        "0.001",
        "-5",
        "-5.00",
        "+5",
        "abc",
        "12a",
        "1.2.3",
        "1,2,3",
        "1.2,3",
        "",
        "   ",
        ".",
        ",",
        "1e3",
    ],
)
def test_parse_amount_refuses_what_is_not_an_amount(text: str) -> None:
    assert parse_amount(text, 2) is None


def test_parse_amount_follows_the_currency_digits() -> None:
    assert parse_amount("12.345", 3) == 12345
    assert parse_amount("1250", 0) == 1250
    assert parse_amount("1250.5", 0) is None
    assert parse_amount("1250.0", 0) == 1250


def test_parse_amount_refuses_digit_like_symbols_instead_of_crashing() -> None:
    # "²".isdigit() is True but Decimal("²") raises: a staff typo must be an "amount?" answer, not a crash.
    assert parse_amount("5²", 2) is None
    assert parse_amount("²", 2) is None


@given(st.text(max_size=12))
def test_parse_amount_never_raises_and_never_goes_negative(text: str) -> None:
    result = parse_amount(text, 2)
    assert result is None or (type(result) is int and result >= 0)


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from([".", ","]))
def test_parse_amount_reads_back_what_a_till_would_print(amount_minor: int, separator: str) -> None:
    whole, cents = divmod(amount_minor, 100)
    assert parse_amount(f"{whole}{separator}{cents:02d}", 2) == amount_minor
    grouped = f"{whole:,}".replace(",", " ")
    assert parse_amount(f" {grouped}{separator}{cents:02d} ", 2) == amount_minor
