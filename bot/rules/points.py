"""Points arithmetic on ledger entries: balance, which earned lots remain (oldest spent first), tiers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.models import LedgerEntry, Tier


@dataclass(frozen=True)
class Lot:
    """Points earned in one entry and not yet spent or expired."""

    points: int
    earned_at: datetime
    expires_at: datetime | None
    entry_id: int


@dataclass(frozen=True)
class Expiry:
    points: int
    at: datetime


def balance(entries: Iterable[LedgerEntry]) -> int:
    return sum(e.points for e in entries)


def remaining_lots(entries: Sequence[LedgerEntry]) -> list[Lot]:
    """Positive entries form lots; every negative entry consumes the oldest lots first (FIFO).

    Oldest means earliest expiry first (non-expiring lots last), then earliest earned, so spending
    never lets points expire that could have been spent instead. A debt beyond all lots (points taken
    before they were earned) is carried and paid from the next lots earned, so the lots always add up
    to the balance when it is positive, and no points can expire while it is not.
    """
    open_lots: list[_OpenLot] = []
    debt = 0
    for entry in sorted(entries, key=lambda e: (e.at, e.id)):
        if entry.points > 0:
            paid = min(debt, entry.points)
            debt -= paid
            if entry.points > paid:
                open_lots.append(_OpenLot(entry.points - paid, entry))
            continue
        owed = -entry.points
        for lot in sorted(open_lots, key=_OpenLot.consumption_order):
            if owed == 0:
                break
            take = min(lot.left, owed)
            lot.left -= take
            owed -= take
        debt += owed
        open_lots = [lot for lot in open_lots if lot.left > 0]
    return [Lot(lot.left, lot.entry.at, lot.entry.expires_at, lot.entry.id) for lot in open_lots]


@dataclass
class _OpenLot:
    left: int
    entry: LedgerEntry

    def consumption_order(self) -> tuple[bool, datetime, datetime, int]:
        expires = self.entry.expires_at
        return (expires is None, expires or self.entry.at, self.entry.at, self.entry.id)


def next_expiry(entries: Sequence[LedgerEntry], now: datetime) -> Expiry | None:
    """The soonest future date on which remaining points expire, and how many points then."""
    return _next_expiry(remaining_lots(entries), now)


def expiring_soon(
    entries: Sequence[LedgerEntry], now: datetime, end: datetime
) -> tuple[int, datetime] | None:
    """(points that expire after `now` and no later than `end`, the soonest expiry) when there are any;
    one pass over the lots, for many accounts at once."""
    lots = remaining_lots(entries)
    points = sum(lot.points for lot in lots if lot.expires_at is not None and now < lot.expires_at <= end)
    soonest = _next_expiry(lots, now)
    return (points, soonest.at) if points > 0 and soonest is not None else None


def _next_expiry(lots: Iterable[Lot], now: datetime) -> Expiry | None:
    upcoming: dict[datetime, int] = {}
    for lot in lots:
        if lot.expires_at is not None and lot.expires_at > now:
            upcoming[lot.expires_at] = upcoming.get(lot.expires_at, 0) + lot.points
    if not upcoming:
        return None
    soonest = min(upcoming)
    return Expiry(upcoming[soonest], soonest)


def tier_for(activity: int, regular_from: int, loyal_from: int) -> Tier:
    """`activity` is purchases or whole currency units spent over the last 12 months."""
    if activity >= loyal_from:
        return Tier.LOYAL
    if activity >= regular_from:
        return Tier.REGULAR
    return Tier.NEW


def expired_lots(entries: Sequence[LedgerEntry], now: datetime) -> list[Lot]:
    """Lots whose expiry has come and which still hold points: each needs an `expire` entry."""
    return [lot for lot in remaining_lots(entries) if lot.expires_at is not None and lot.expires_at <= now]
