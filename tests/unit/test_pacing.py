"""bot.rules.pacing (quiet hours, caps, holdout) and the delivery pacers (sliding window, per-chat spacing).

The pacers run on fake monotonic time with `asyncio.sleep` replaced, so no test waits for real.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.rules.pacing import Caps, QuietHours, customer_caps, in_holdout, zone_or
from bot.services.nudges import PerChatSpacing, SlidingWindowLimiter

KYIV = ZoneInfo("Europe/Kyiv")
DEFAULT_QUIET = QuietHours(time(21, 0), time(10, 0))
# Kyiv in 2026: clocks go forward 29 March 03:00 → 04:00 and back 25 October 04:00 → 03:00.
SPRING_FORWARD = date(2026, 3, 29)
FALL_BACK = date(2026, 10, 25)


def kyiv(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=KYIV, fold=fold).astimezone(UTC)


# -- quiet hours ----------------------------------------------------------------------------------------


def test_parse_reads_clock_times() -> None:
    assert QuietHours.parse("21:00", "10:00") == DEFAULT_QUIET
    assert QuietHours.parse("00:30", "06:15") == QuietHours(time(0, 30), time(6, 15))


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(9, 59), True),
        (time(10, 0), False),
        (time(15, 0), False),
    ],
)
def test_quiet_hours_spanning_midnight(local: time, quiet: bool) -> None:
    assert DEFAULT_QUIET.contains(local) is quiet


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        (time(12, 59), False),
        (time(13, 0), True),
        (time(13, 59), True),
        (time(14, 0), False),
        (time(0, 0), False),
    ],
)
def test_quiet_hours_within_one_day(local: time, quiet: bool) -> None:
    assert QuietHours(time(13, 0), time(14, 0)).contains(local) is quiet


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    none = QuietHours(time(9, 0), time(9, 0))
    for minute in range(0, 24 * 60, 7):
        assert not none.contains(time(minute // 60, minute % 60))
    moment = kyiv(2026, 3, 10, 9, 0)
    assert none.next_allowed(moment, KYIV) == moment


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # 11:00 in Kyiv: not quiet, the moment itself.
        (kyiv(2026, 3, 10, 11, 0), kyiv(2026, 3, 10, 11, 0)),
        # Late evening: the next morning at 10:00.
        (kyiv(2026, 3, 10, 21, 0), kyiv(2026, 3, 11, 10, 0)),
        (kyiv(2026, 3, 10, 23, 30), kyiv(2026, 3, 11, 10, 0)),
        # After midnight: the same morning.
        (kyiv(2026, 3, 11, 0, 5), kyiv(2026, 3, 11, 10, 0)),
        (kyiv(2026, 3, 11, 9, 59), kyiv(2026, 3, 11, 10, 0)),
        # Night into the spring-forward day: 10:00 summer time is 07:00 UTC, not 08:00.
        (kyiv(2026, 3, 28, 22, 0), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # Night into the fall-back day: 10:00 winter time is 08:00 UTC.
        (kyiv(2026, 10, 24, 22, 0), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        # New Year's Eve rolls into the next year.
        (kyiv(2026, 12, 31, 22, 0), kyiv(2027, 1, 1, 10, 0)),
    ],
)
def test_next_allowed_is_the_end_of_the_quiet_period(moment: datetime, expected: datetime) -> None:
    assert DEFAULT_QUIET.next_allowed(moment, KYIV) == expected


def test_next_allowed_in_the_repeated_hour_of_the_fall_back_night() -> None:
    """03:00–04:00 happens twice on 25 Oct 2026; a quiet 03:00–03:30 ends once in each pass."""
    quiet = QuietHours(time(3, 0), time(3, 30))
    first_pass = kyiv(2026, 10, 25, 3, 10, fold=0)  # summer time, 00:10 UTC
    second_pass = kyiv(2026, 10, 25, 3, 10, fold=1)  # winter time, 01:10 UTC
    assert first_pass == datetime(2026, 10, 25, 0, 10, tzinfo=UTC)
    assert second_pass == datetime(2026, 10, 25, 1, 10, tzinfo=UTC)
    assert quiet.next_allowed(first_pass, KYIV) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    # Not 00:30 UTC, which is 40 minutes before the moment.
    assert quiet.next_allowed(second_pass, KYIV) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_next_allowed_when_the_end_does_not_exist_on_the_spring_forward_night() -> None:
    """03:30 does not exist on 29 Mar 2026: the first moment after the quiet period that does is used."""
    quiet = QuietHours(time(21, 0), time(3, 30))
    allowed = quiet.next_allowed(kyiv(2026, 3, 28, 23, 0), KYIV)
    assert allowed == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 04:30 summer time
    assert not quiet.contains(allowed.astimezone(KYIV).time())


def test_next_allowed_when_the_allowed_minutes_are_skipped_by_the_spring_forward() -> None:
    """Quiet all day but 03:00–03:01, which does not exist on 29 Mar 2026: the next day's 03:00."""
    quiet = QuietHours(time(3, 1), time(3, 0))
    allowed = quiet.next_allowed(datetime(2026, 3, 29, 0, 59, tzinfo=UTC), KYIV)
    assert allowed == kyiv(2026, 3, 30, 3, 0)


def test_next_allowed_uses_the_given_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    moment = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # 11:00 in Kyiv, 05:00 in New York
    assert DEFAULT_QUIET.next_allowed(moment, KYIV) == moment
    assert DEFAULT_QUIET.next_allowed(moment, new_york) == datetime(2026, 3, 10, 10, 0, 0, tzinfo=new_york)


def _clock_times() -> st.SearchStrategy[time]:
    # Half the weight on 02:00–05:00, where the clocks change.
    minutes = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(2 * 60, 5 * 60))
    return minutes.map(lambda m: time(m // 60, m % 60))


def _moments() -> st.SearchStrategy[datetime]:
    anywhere = st.datetimes(datetime(2025, 1, 1), datetime(2029, 1, 1), timezones=st.just(UTC))
    # Most weight on the two nights the clocks change in Kyiv.
    dst_nights = st.tuples(
        st.sampled_from([SPRING_FORWARD, FALL_BACK, date(2027, 3, 28), date(2027, 10, 31)]),
        st.one_of(st.integers(-36 * 60, 36 * 60), st.integers(-3 * 60, 3 * 60)),
    ).map(lambda p: datetime(p[0].year, p[0].month, p[0].day, 1, tzinfo=UTC) + timedelta(minutes=p[1]))
    return st.one_of(anywhere, dst_nights)


def _exists(day: date, wall: time, zone: ZoneInfo) -> bool:
    local = datetime.combine(day, wall, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(start=_clock_times(), end=_clock_times(), moment=_moments())
@example(start=time(3, 0), end=time(3, 30), moment=datetime(2026, 10, 25, 1, 10, tzinfo=UTC))
@example(start=time(3, 1), end=time(3, 0), moment=datetime(2026, 3, 29, 0, 59, tzinfo=UTC))
def test_next_allowed_lands_outside_quiet_hours_and_never_before(
    start: time, end: time, moment: datetime
) -> None:
    quiet = QuietHours(start, end)
    allowed = quiet.next_allowed(moment, KYIV)
    local = allowed.astimezone(KYIV)
    assert allowed >= moment
    assert not quiet.contains(local.time())
    assert allowed - moment <= timedelta(hours=48)  # a day, or two when DST skips the allowed minutes
    if not quiet.contains(moment.astimezone(KYIV).time()):
        assert allowed == moment
    else:
        # The end of the quiet period, unless that wall time does not exist that day (spring forward).
        assert local.time() == end or not _exists(local.date(), end, KYIV)


# -- caps -----------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_no_history_is_allowed_at_once() -> None:
    caps = Caps(1, 3)
    assert caps.allows([], T0)
    assert caps.next_allowed([], T0) == T0


def test_weekly_cap_is_hit_right_after_a_message() -> None:
    caps = Caps(1, 3)
    sent = [T0]
    assert not caps.allows(sent, T0)
    assert not caps.allows(sent, T0 + timedelta(seconds=1))
    assert not caps.allows(sent, T0 + 7 * DAY - timedelta(seconds=1))
    assert caps.next_allowed(sent, T0 + DAY) == T0 + 7 * DAY
    assert caps.allows(sent, T0 + 7 * DAY)


def test_monthly_cap_waits_for_the_oldest_message_to_leave_the_window() -> None:
    caps = Caps(1, 3)
    sent = [T0 - 29 * DAY, T0 - 20 * DAY, T0 - 10 * DAY]
    assert not caps.allows(sent, T0)
    assert caps.next_allowed(sent, T0) == T0 + DAY  # 30 days after T0 - 29 days
    assert caps.allows(sent, T0 + DAY)


def test_both_caps_apply_and_the_later_wins() -> None:
    caps = Caps(2, 3)
    sent = [T0 - 25 * DAY, T0 - 3 * DAY, T0 - 2 * DAY]
    # The week allows one more after T0 + 4 days; the month only after T0 + 5 days.
    assert caps.next_allowed(sent, T0) == T0 + 5 * DAY


def test_a_cap_of_zero_never_allows() -> None:
    assert not Caps(0, 0).allows([], T0)
    assert not Caps(1, 0).allows([], T0 + 1000 * DAY)


def _windows_respected(times: Sequence[datetime], window: timedelta, limit: int) -> bool:
    ordered = sorted(times)
    return all(sum(1 for u in ordered if t <= u < t + window) <= limit for t in ordered)


@settings(max_examples=200, deadline=None)
@given(
    per_7=st.integers(1, 4),
    extra_30=st.integers(0, 8),
    wishes=st.lists(st.integers(0, 200 * 24), min_size=1, max_size=40),
)
def test_greedy_sending_at_next_allowed_keeps_both_caps(per_7: int, extra_30: int, wishes: list[int]) -> None:
    """Whoever asks whenever: sending each at next_allowed never breaks either cap in any window."""
    caps = Caps(per_7, per_7 + extra_30)
    sent: list[datetime] = []
    for hours in sorted(wishes):
        now = max([T0 + timedelta(hours=hours), *sent])
        moment = caps.next_allowed(sent, now)
        assert moment >= now
        assert caps.allows(sent, moment)
        if moment > now:
            assert not caps.allows(sent, now)
        sent.append(moment)
    assert _windows_respected(sent, timedelta(days=7), caps.per_7_days)
    assert _windows_respected(sent, timedelta(days=30), caps.per_30_days)


def test_customer_choices_map_to_their_caps() -> None:
    shop = Caps(2, 6)
    assert customer_caps(shop, "normal") == shop
    assert customer_caps(shop, "weekly") == Caps(1, 4)
    assert customer_caps(shop, "monthly") == Caps(1, 1)


@given(
    per_7=st.integers(0, 10),
    extra=st.integers(0, 20),
    frequency=st.sampled_from(["normal", "weekly", "monthly"]),
)
def test_customer_caps_are_only_ever_stricter(per_7: int, extra: int, frequency: str) -> None:
    shop = Caps(per_7, per_7 + extra)
    own = customer_caps(shop, frequency)
    assert own.per_7_days <= shop.per_7_days
    assert own.per_30_days <= shop.per_30_days


# -- holdout --------------------------------------------------------------------------------------------

IDS = range(1_000_000, 1_020_000)


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 90])
def test_holdout_share_is_close_to_the_percent(percent: int) -> None:
    held = sum(in_holdout(user_id, "win_back", percent) for user_id in IDS)
    assert abs(held / len(IDS) - percent / 100) <= 0.015


def test_holdout_is_deterministic_and_per_rule() -> None:
    first = [in_holdout(user_id, "welcome", 50) for user_id in IDS[:2000]]
    again = [in_holdout(user_id, "welcome", 50) for user_id in IDS[:2000]]
    other_rule = [in_holdout(user_id, "win_back", 50) for user_id in IDS[:2000]]
    assert first == again
    assert first != other_rule


@settings(max_examples=300)
@given(st.integers(1, 10**13), st.text(min_size=1, max_size=20), st.integers(0, 100))
def test_who_is_held_out_never_changes_between_versions(user_id: int, rule: str, percent: int) -> None:
    """The first 8 bytes of sha256("holdout:{rule}:{user_id}"), mod 10 000, below percent × 100: the
    holdout of a running shop stays who it was, or its measurements would mix two groups."""
    digest = hashlib.sha256(f"holdout:{rule}:{user_id}".encode()).digest()
    expected = percent > 0 and int.from_bytes(digest[:8], "big") % 10_000 < percent * 100
    assert in_holdout(user_id, rule, percent) == expected


def test_holdout_grows_with_the_percent() -> None:
    """Raising the share only adds customers: nobody held out at 10 % is sent to at 20 %."""
    for user_id in IDS[:5000]:
        if in_holdout(user_id, "birthday", 10):
            assert in_holdout(user_id, "birthday", 20)


def test_zero_percent_holds_out_nobody_and_hundred_everybody() -> None:
    assert not any(in_holdout(user_id, "welcome", 0) for user_id in IDS)
    assert all(in_holdout(user_id, "welcome", 100) for user_id in IDS)


# -- delivery pacers on fake time -----------------------------------------------------------------------

_real_sleep = asyncio.sleep


class FakeTime:
    """Monotonic seconds that only move when someone sleeps: a sleeper wakes at its call time + seconds
    (sleepers that overlap wake in the order they went to sleep, which suits these small scenarios)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.now + max(seconds, 0.0)
        await _real_sleep(0)
        self.now = max(self.now, wake)


def _max_in_window(times: Sequence[float], window: float) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


def test_limiter_lets_a_burst_through_in_window_sized_groups() -> None:
    fake = FakeTime()

    async def scenario() -> list[float]:
        limiter = SlidingWindowLimiter(3, 1.0, monotonic=fake.monotonic)
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            times.append(fake.now)

        with patch.object(asyncio, "sleep", fake.sleep):
            await asyncio.gather(*(one() for _ in range(8)))
        return times

    assert asyncio.run(scenario()) == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0]


def test_a_released_turn_frees_its_place_at_once_and_a_done_one_counts_from_its_answer() -> None:
    fake = FakeTime()

    async def scenario() -> list[float]:
        limiter = SlidingWindowLimiter(2, 1.0, monotonic=fake.monotonic)
        times: list[float] = []
        with patch.object(asyncio, "sleep", fake.sleep):
            unused = await limiter.acquire(until_done=True)
            answered = await limiter.acquire(until_done=True)
            limiter.release(unused)  # nothing was sent with it
            fake.now = 0.5
            limiter.done(answered)  # answered at 0.5: it counts until 1.5
            for _ in range(2):
                await limiter.acquire()
                times.append(fake.now)
        return times

    assert asyncio.run(scenario()) == [0.5, 1.5]


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(1, 5),
    window_eighths=st.integers(1, 16),
    # Bursts of arrivals: (gap before the burst in eighths of a second — exact in binary floating
    # point —, how many arrive together).
    bursts=st.lists(st.tuples(st.integers(0, 12), st.integers(1, 6)), min_size=1, max_size=15),
)
def test_limiter_never_allows_more_than_the_limit_in_any_window(
    limit: int, window_eighths: int, bursts: list[tuple[int, int]]
) -> None:
    fake = FakeTime()
    window = window_eighths / 8

    async def scenario() -> list[float]:
        limiter = SlidingWindowLimiter(limit, window, monotonic=fake.monotonic)
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            times.append(fake.now)

        arrival = 0.0
        with patch.object(asyncio, "sleep", fake.sleep):
            for gap, size in bursts:
                arrival += gap / 8
                fake.now = max(fake.now, arrival)
                # Only the task holding the limiter's lock ever sleeps, so fake time stays exact.
                await asyncio.gather(*(one() for _ in range(size)))
        return times

    times = asyncio.run(scenario())
    assert len(times) == sum(size for _, size in bursts)
    assert times == sorted(times)
    assert _max_in_window(times, window) <= limit
    # Work-conserving: a burst of n that meets an empty window is through within ceil(n / limit) - 1
    # windows, so the last grant is never later than that after the last arrival.
    last_arrival = sum(gap for gap, _ in bursts) / 8
    assert times[-1] <= last_arrival + window * sum(-(-size // limit) for _, size in bursts)


def test_per_chat_spacing_spaces_one_chat_and_leaves_others_alone() -> None:
    fake = FakeTime()

    async def scenario() -> list[tuple[int, float]]:
        spacing = PerChatSpacing(1.5, monotonic=fake.monotonic)
        log: list[tuple[int, float]] = []

        async def send(chat: int) -> None:
            await spacing.wait(chat)
            log.append((chat, fake.now))

        with patch.object(asyncio, "sleep", fake.sleep):
            await asyncio.gather(send(1), send(1), send(1))
            start = fake.now
            await send(2)
            assert fake.now == start  # another chat does not wait
            fake.now += 10
            await send(1)  # long after: no wait
        return log

    log = asyncio.run(scenario())
    assert log == [(1, 0.0), (1, 1.5), (1, 3.0), (2, 3.0), (1, 13.0)]


def test_per_chat_spacing_with_zero_interval_never_waits() -> None:
    fake = FakeTime()

    async def scenario() -> None:
        spacing = PerChatSpacing(0.0, monotonic=fake.monotonic)
        with patch.object(asyncio, "sleep", fake.sleep):
            for _ in range(5):
                await spacing.wait(7)

    asyncio.run(scenario())
    assert fake.now == 0.0
    assert fake.sleeps == []


@pytest.mark.parametrize(
    "name", [None, "", "Mars/Base", "Europe", "Europe/" + "K" * 300, "../etc", "Kyiv\x00"]
)
def test_a_customer_zone_that_is_not_one_falls_back_to_the_shops(name: str | None) -> None:
    assert zone_or(name, KYIV) is KYIV


def test_a_customer_zone_that_is_one_is_theirs() -> None:
    assert zone_or("America/New_York", KYIV) == ZoneInfo("America/New_York")
