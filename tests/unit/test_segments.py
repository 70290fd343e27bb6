"""bot.rules.segments: lifecycle segments, each customer's own rhythm and restock timing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import SegmentsConfig
from bot.rules.segments import (
    Segment,
    late_since_from,
    median_gap_days,
    restock_due,
    segment_entered_at,
    segment_for,
    summarise_purchases,
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
RULES = SegmentsConfig()  # new 30, at risk 21, lapsed 35, lost 180; late ×2 with 3+ purchases


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def late_since(purchase_times: list[datetime], rules: SegmentsConfig) -> datetime | None:
    """As the planner works it out: from the purchase summary stored for the shop record."""
    summary = summarise_purchases(purchase_times, {})
    return late_since_from(summary.last_at, summary.purchases, summary.median_gap_days, rules)


def test_the_defaults_are_the_documented_ones() -> None:
    assert (RULES.new_days, RULES.at_risk_days, RULES.lapsed_days, RULES.lost_days) == (30, 21, 35, 180)
    assert RULES.late_multiple == Decimal(2)
    assert RULES.late_min_purchases == 3


def test_no_purchase_is_new() -> None:
    assert segment_for(NOW, 0, None, None, RULES) is Segment.NEW


def test_one_purchase_stays_new_for_new_days() -> None:
    assert segment_for(NOW, 1, days_ago(29), days_ago(29), RULES) is Segment.NEW
    # 30 days after the single purchase: judged by idleness like everyone (29 ≥ 21 → at risk).
    at_30 = days_ago(30)
    assert segment_for(NOW, 1, at_30, at_30, RULES) is Segment.AT_RISK


@pytest.mark.parametrize(
    ("idle", "segment"),
    [
        (timedelta(0), Segment.ACTIVE),
        (21 * DAY - SECOND, Segment.ACTIVE),
        (21 * DAY, Segment.AT_RISK),
        (35 * DAY - SECOND, Segment.AT_RISK),
        (35 * DAY, Segment.LAPSED),
        (180 * DAY - SECOND, Segment.LAPSED),
        (180 * DAY, Segment.LOST),
        (900 * DAY, Segment.LOST),
    ],
)
def test_segment_by_days_since_the_last_purchase(idle: timedelta, segment: Segment) -> None:
    first = NOW - 1000 * DAY
    assert segment_for(NOW, 5, first, NOW - idle, RULES) is segment


def test_thresholds_come_from_the_config() -> None:
    cafe = SegmentsConfig(new_days=7, at_risk_days=10, lapsed_days=20, lost_days=60)
    last = days_ago(15)
    assert segment_for(NOW, 4, days_ago(100), last, cafe) is Segment.AT_RISK
    assert segment_for(NOW, 4, days_ago(100), last, RULES) is Segment.ACTIVE
    assert segment_for(NOW, 1, days_ago(8), days_ago(8), cafe) is Segment.ACTIVE


@given(
    purchases=st.integers(2, 50),
    idle_hours=st.integers(0, 400 * 24),
    extra_hours=st.integers(0, 100 * 24),
)
def test_more_idle_time_never_moves_a_customer_back(
    purchases: int, idle_hours: int, extra_hours: int
) -> None:
    order = [Segment.ACTIVE, Segment.AT_RISK, Segment.LAPSED, Segment.LOST]
    last = NOW - timedelta(hours=idle_hours)
    first = last - 10 * DAY
    before = segment_for(NOW, purchases, first, last, RULES)
    after = segment_for(NOW + timedelta(hours=extra_hours), purchases, first, last, RULES)
    assert order.index(after) >= order.index(before)


def test_segment_entered_at_is_the_threshold_after_the_last_purchase() -> None:
    last = days_ago(50)
    assert segment_entered_at(Segment.LAPSED, last, RULES) == last + 35 * DAY
    assert segment_entered_at(Segment.AT_RISK, last, RULES) == last + 21 * DAY
    assert segment_entered_at(Segment.LOST, last, RULES) == last + 180 * DAY
    assert segment_entered_at(Segment.ACTIVE, last, RULES) is None
    assert segment_entered_at(Segment.NEW, last, RULES) is None


def test_median_gap() -> None:
    assert median_gap_days([]) is None
    assert median_gap_days([NOW]) is None
    assert median_gap_days([NOW, NOW + 3 * DAY]) == 3.0
    # Unordered input; gaps 1, 10, 2 → median 2.
    times = [NOW + 13 * DAY, NOW, NOW + DAY, NOW + 11 * DAY]
    assert median_gap_days(times) == 2.0
    # Even number of gaps: 1, 3, 5, 7 → 4.
    assert median_gap_days([NOW, NOW + DAY, NOW + 4 * DAY, NOW + 9 * DAY, NOW + 16 * DAY]) == 4.0


def test_a_weekly_buyer_is_late_after_two_weeks() -> None:
    weekly = [days_ago(28), days_ago(21), days_ago(14), days_ago(7)]
    assert late_since(weekly, RULES) == days_ago(7) + 14 * DAY


def test_late_uses_the_configured_multiple() -> None:
    weekly = [days_ago(28), days_ago(21), days_ago(14), days_ago(7)]
    patient = SegmentsConfig(late_multiple=Decimal("2.5"))
    assert late_since(weekly, patient) == days_ago(7) + timedelta(days=17.5)


def test_too_few_purchases_cannot_show_a_rhythm() -> None:
    assert late_since([days_ago(14), days_ago(7)], RULES) is None
    assert late_since([days_ago(7)], RULES) is None
    assert late_since([], RULES) is None
    # With late_min_purchases = 4, three are not enough either.
    strict = SegmentsConfig(late_min_purchases=4)
    assert late_since([days_ago(21), days_ago(14), days_ago(7)], strict) is None
    assert late_since([days_ago(21), days_ago(14), days_ago(7)], RULES) == days_ago(7) + 14 * DAY


def test_purchases_at_one_moment_show_no_rhythm() -> None:
    same = days_ago(3)
    assert late_since([same, same, same], RULES) is None


def test_restock_picks_the_product_that_runs_out_first() -> None:
    beans = [days_ago(40), days_ago(30), days_ago(20)]  # every 10 days → due NOW - 10 days
    milk = [days_ago(9), days_ago(6), days_ago(3)]  # every 3 days → due NOW
    assert restock_due({"beans": beans, "milk": milk}) == ("beans", days_ago(10))
    later_beans = [days_ago(25), days_ago(15), days_ago(5)]  # due NOW + 5 days
    assert restock_due({"beans": later_beans, "milk": milk}) == ("milk", NOW)


def test_restock_needs_regular_purchases() -> None:
    twice = [days_ago(20), days_ago(10)]
    assert restock_due({"cup": twice}) is None
    # The same purchase listed twice (two lines of one receipt) is one purchase.
    assert restock_due({"cup": [*twice, days_ago(10)]}) is None
    assert restock_due({"cup": [*twice, days_ago(10)]}, min_purchases=2) == ("cup", NOW)
    assert restock_due({}) is None
