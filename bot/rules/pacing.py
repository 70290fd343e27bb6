"""Never pester: quiet hours, frequency caps and the deterministic holdout."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import zone_named


@dataclass(frozen=True)
class QuietHours:
    start: time  # e.g. 21:00
    end: time  # e.g. 10:00

    @classmethod
    @functools.cache  # the planner asks for every customer, always with the config's two strings
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # spans midnight

    def next_allowed(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """`moment` itself when outside quiet hours, else the end of this quiet period (in UTC)."""
        local = moment.astimezone(zone)
        if not self.contains(local.time()):
            return moment
        end_day = local.date()
        if self.start > self.end and local.time() >= self.start:
            end_day += timedelta(days=1)
        end_local = datetime.combine(end_day, self.end, tzinfo=zone)
        # fold/DST: combine gives wall time; normalise through UTC.
        end = end_local.astimezone(moment.tzinfo)
        if end < moment:
            # The end falls in the hour repeated when clocks go back and `moment` is in its second pass.
            end = end_local.replace(fold=1).astimezone(moment.tzinfo)
        if self.contains(end.astimezone(zone).time()):
            # The end is a wall time skipped when clocks go forward, and the allowed hours that day are
            # shorter than the skip: none of them exists, so the next day's end.
            return self.next_allowed(end, zone)
        return end


_WEEK = timedelta(days=7)
_MONTH = timedelta(days=30)


@dataclass(frozen=True)
class Caps:
    """At most `per_7_days` marketing messages in any 7 days and `per_30_days` in any 30."""

    per_7_days: int
    per_30_days: int

    def allows(self, sent_times: Sequence[datetime], now: datetime) -> bool:
        return self.next_allowed(sent_times, now) <= now

    def next_allowed(self, sent_times: Sequence[datetime], now: datetime) -> datetime:
        """The earliest moment ≥ now at which one more message keeps both caps."""
        if len(sent_times) < self.per_7_days and len(sent_times) < self.per_30_days:
            return now  # fewer in all than either window allows (most customers, most of the time)
        moment = now
        for window, limit in ((_WEEK, self.per_7_days), (_MONTH, self.per_30_days)):
            if limit <= 0:
                return datetime.max.replace(tzinfo=now.tzinfo)
            if len(sent_times) < limit:
                continue  # fewer in all than the window allows (most customers, most of the time)
            recent = sorted(t for t in sent_times if t > now - window)
            if len(recent) >= limit:
                # Wait until enough of them fall out of the window.
                moment = max(moment, recent[len(recent) - limit] + window)
        return moment


def customer_caps(shop: Caps, frequency: str) -> Caps:
    """A customer's own choice can only make the caps stricter."""
    if frequency == "weekly":
        return Caps(min(shop.per_7_days, 1), min(shop.per_30_days, 4))
    if frequency == "monthly":
        return Caps(min(shop.per_7_days, 1), min(shop.per_30_days, 1))
    return shop


def in_holdout(user_id: int, rule: str, percent: int) -> bool:
    """Deterministic, evenly spread: the same customer is always in or out of a rule's holdout."""
    if percent <= 0:
        return False
    hashed = _holdout_hash(rule).copy()  # sha256 of "holdout:{rule}:{user_id}"
    hashed.update(str(user_id).encode())
    return int.from_bytes(hashed.digest()[:8], "big") % 10_000 < percent * 100


@functools.cache
def _holdout_hash(rule: str) -> hashlib._Hash:
    """The hash of a rule's prefix, copied for each customer: the planner asks for every one it plans."""
    return hashlib.sha256(f"holdout:{rule}:".encode())


def zone_or(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    """The customer's time zone by name, or the shop's when they gave none (or one we do not know)."""
    return (zone_named(name) or fallback) if name else fallback
