"""bot.rules.points: balance, remaining lots (FIFO by expiry), next expiry, tiers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import LedgerEntry, LedgerKind, Tier
from bot.rules.points import Expiry, balance, next_expiry, remaining_lots, tier_for

BASE = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
RANK = {Tier.NEW: 0, Tier.REGULAR: 1, Tier.LOYAL: 2}


def day(n: int) -> datetime:
    return BASE + timedelta(days=n)


def entry(entry_id: int, points: int, at: int, expires: int | None = None) -> LedgerEntry:
    return LedgerEntry(
        id=entry_id,
        account_id=1,
        kind=LedgerKind.EARN if points > 0 else LedgerKind.REDEEM,
        points=points,
        reason="test",
        actor="system",
        at=day(at),
        expires_at=day(expires) if expires is not None else None,
        external_id=None,
    )


def lots_as_tuples(entries: list[LedgerEntry]) -> list[tuple[int, datetime, datetime | None]]:
    return sorted(
        ((lot.points, lot.earned_at, lot.expires_at) for lot in remaining_lots(entries)),
        key=lambda t: (t[1], t[2] or BASE, t[0]),
    )


# Ledgers: up to 25 entries over ~14 months; positive entries may expire, negative ones never do.
_raw_entry = st.tuples(
    st.integers(min_value=-400, max_value=400).filter(lambda p: p != 0),
    st.integers(min_value=0, max_value=420),
    st.one_of(st.none(), st.integers(min_value=1, max_value=500)),
)


@st.composite
def ledgers(draw: st.DrawFn) -> list[LedgerEntry]:
    raws = draw(st.lists(_raw_entry, max_size=25))
    return [
        entry(i + 1, points, at, at + life if (life is not None and points > 0) else None)
        for i, (points, at, life) in enumerate(raws)
    ]


# -- balance and lots -------------------------------------------------------------------------------


def test_empty_ledger() -> None:
    assert balance([]) == 0
    assert remaining_lots([]) == []
    assert next_expiry([], BASE) is None


@settings(max_examples=150, deadline=None)
@given(ledgers())
def test_balance_is_the_plain_sum(entries: list[LedgerEntry]) -> None:
    assert balance(entries) == sum(e.points for e in entries)


@settings(max_examples=150, deadline=None)
@given(ledgers())
def test_remaining_lots_add_up_to_the_positive_balance(entries: list[LedgerEntry]) -> None:
    lots = remaining_lots(entries)
    assert all(lot.points > 0 for lot in lots)
    total = sum(lot.points for lot in lots)
    # Never more points in lots than the customer has; exactly the balance when it is positive.
    assert total <= max(balance(entries), 0)
    assert total == max(balance(entries), 0)


@settings(max_examples=100, deadline=None)
@given(ledgers())
def test_no_lot_holds_more_than_was_earned_in_its_entry(entries: list[LedgerEntry]) -> None:
    earned = {(e.at, e.expires_at): 0 for e in entries if e.points > 0}
    for e in entries:
        if e.points > 0:
            earned[(e.at, e.expires_at)] += e.points
    held: dict[tuple[datetime, datetime | None], int] = {}
    for lot in remaining_lots(entries):
        key = (lot.earned_at, lot.expires_at)
        held[key] = held.get(key, 0) + lot.points
    for key, points in held.items():
        assert points <= earned[key]


@settings(max_examples=100, deadline=None)
@given(ledgers(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(entries: list[LedgerEntry], rnd: random.Random) -> None:
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert lots_as_tuples(shuffled) == lots_as_tuples(entries)


def _consumption_key(e: LedgerEntry) -> tuple[bool, datetime, datetime, int]:
    return (e.expires_at is None, e.expires_at or e.at, e.at, e.id)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 300), st.integers(0, 30), st.one_of(st.none(), st.integers(31, 600))),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 4000),
)
def test_a_spend_consumes_the_earliest_expiring_lots_first(
    earned: list[tuple[int, int, int | None]], spend: int
) -> None:
    positives = [entry(i + 1, p, at, exp) for i, (p, at, exp) in enumerate(earned)]
    spend_entry = entry(len(positives) + 1, -spend, 40)
    # The model: walk the lots in consumption order (soonest expiry, non-expiring last, then oldest).
    expected: list[tuple[int, datetime, datetime | None]] = []
    owed = spend
    for lot in sorted(positives, key=_consumption_key):
        take = min(owed, lot.points)
        owed -= take
        if lot.points - take:
            expected.append((lot.points - take, lot.at, lot.expires_at))
    expected.sort(key=lambda t: (t[1], t[2] or BASE, t[0]))
    assert lots_as_tuples([*positives, spend_entry]) == expected


def test_spend_takes_the_bonus_that_expires_first_not_the_oldest_lot() -> None:
    entries = [
        entry(1, 100, at=0, expires=365),  # oldest, expires last among the expiring ones
        entry(2, 30, at=10, expires=40),  # a short-lived bonus: spend this first
        entry(3, 50, at=20, expires=None),  # never expires: spent last
        entry(4, -50, at=30),
    ]
    lots = remaining_lots(entries)
    assert [(lot.points, lot.expires_at) for lot in lots] == [(80, day(365)), (50, None)]


def test_non_expiring_points_are_spent_only_after_all_expiring_ones() -> None:
    entries = [entry(1, 40, at=0, expires=None), entry(2, 40, at=5, expires=400), entry(3, -60, at=6)]
    assert [(lot.points, lot.expires_at) for lot in remaining_lots(entries)] == [(20, None)]


def test_same_expiry_spends_the_earlier_earned_lot_first() -> None:
    entries = [entry(1, 10, at=3, expires=100), entry(2, 10, at=1, expires=100), entry(3, -15, at=4)]
    assert [(lot.points, lot.earned_at) for lot in remaining_lots(entries)] == [(5, day(3))]


def test_a_spend_never_consumes_points_earned_after_it() -> None:
    entries = [entry(1, 50, at=0, expires=300), entry(2, -20, at=5), entry(3, 70, at=10, expires=100)]
    assert lots_as_tuples(entries) == [(30, day(0), day(300)), (70, day(10), day(100))]


def test_a_debt_is_paid_from_later_earnings() -> None:
    # 100 points taken (a staff correction) before anything was earned: the balance is -20 after
    # earning 80, and there are no points left that could expire.
    entries = [entry(1, -100, at=0), entry(2, 80, at=1, expires=366)]
    assert balance(entries) == -20
    assert remaining_lots(entries) == []
    assert next_expiry(entries, day(2)) is None


def test_a_partly_paid_debt_leaves_the_rest_of_the_lot() -> None:
    entries = [entry(1, -30, at=0), entry(2, 80, at=1, expires=366)]
    assert lots_as_tuples(entries) == [(50, day(1), day(366))]
    assert next_expiry(entries, day(2)) == Expiry(50, day(366))


# -- next expiry ------------------------------------------------------------------------------------


def test_next_expiry_is_the_soonest_future_date_with_its_amount() -> None:
    entries = [
        entry(1, 10, at=0, expires=50),  # already expired at day 60
        entry(2, 20, at=1, expires=100),
        entry(3, 5, at=2, expires=100),
        entry(4, 40, at=3, expires=200),
        entry(5, 7, at=4, expires=None),
    ]
    assert next_expiry(entries, day(60)) == Expiry(25, day(100))
    assert next_expiry(entries, day(100)) == Expiry(40, day(200))  # "future" is strictly after now
    assert next_expiry(entries, day(200)) is None


def test_next_expiry_counts_only_what_is_left_after_spending() -> None:
    entries = [entry(1, 20, at=0, expires=100), entry(2, 40, at=1, expires=200), entry(3, -25, at=2)]
    assert next_expiry(entries, day(10)) == Expiry(35, day(200))


@settings(max_examples=150, deadline=None)
@given(ledgers(), st.integers(0, 900))
def test_next_expiry_matches_the_remaining_lots(entries: list[LedgerEntry], now_day: int) -> None:
    now = day(now_day)
    future = [lot for lot in remaining_lots(entries) if lot.expires_at is not None and lot.expires_at > now]
    found = next_expiry(entries, now)
    if not future:
        assert found is None
        return
    soonest = min(lot.expires_at for lot in future if lot.expires_at is not None)
    assert found == Expiry(sum(lot.points for lot in future if lot.expires_at == soonest), soonest)
    assert found.at > now
    assert 0 < found.points <= max(balance(entries), 0)


# -- tiers ------------------------------------------------------------------------------------------


def test_tier_boundaries() -> None:
    assert tier_for(0, 3, 10) is Tier.NEW
    assert tier_for(2, 3, 10) is Tier.NEW
    assert tier_for(3, 3, 10) is Tier.REGULAR
    assert tier_for(9, 3, 10) is Tier.REGULAR
    assert tier_for(10, 3, 10) is Tier.LOYAL
    assert tier_for(10_000, 3, 10) is Tier.LOYAL


_thresholds = st.tuples(st.integers(1, 500), st.integers(1, 500)).filter(lambda t: t[0] < t[1])


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1000), st.integers(0, 1000), _thresholds)
def test_tier_is_monotone_in_activity(a: int, b: int, thresholds: tuple[int, int]) -> None:
    low, high = sorted((a, b))
    assert RANK[tier_for(low, *thresholds)] <= RANK[tier_for(high, *thresholds)]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1000), _thresholds, st.integers(0, 100), st.integers(0, 100))
def test_raising_thresholds_never_raises_the_tier(
    activity: int, thresholds: tuple[int, int], up_regular: int, up_loyal: int
) -> None:
    regular, loyal = thresholds
    stricter = (regular + up_regular, max(loyal + up_loyal, regular + up_regular + 1))
    assert RANK[tier_for(activity, *stricter)] <= RANK[tier_for(activity, regular, loyal)]
