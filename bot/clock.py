"""The one source of "now": injected everywhere so tests and `--now` runs can move through weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to (tests, dry runs at a given moment)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def to_db(moment: datetime) -> str:
    """Times are stored as UTC ISO-8601 text with a fixed shape, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are not stored: attach a time zone first")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def from_db(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    # Stored times are UTC already (`to_db`): converting them again made a second datetime each, and
    # planning reads a million.
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


class OffsetClock:
    """Starts at a given moment and runs at real speed (`nudges run-once --now …`: flood-control waits
    and retries pass as they would, but "today" is the day asked for)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("OffsetClock needs a timezone-aware datetime")
        self._offset = start.astimezone(UTC) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA time zone of this name, None for a name that is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name that is a folder of zones ("Europe", IsADirectoryError) or too long to be a
        # file name; ZoneInfo reads the zone from a file of that name.
        return None
