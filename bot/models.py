"""Plain records passed between storage, services and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ConsentState(StrEnum):
    UNKNOWN = "unknown"
    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class ConsentAction(StrEnum):
    GRANTED = "granted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class LedgerKind(StrEnum):
    EARN = "earn"
    REDEEM = "redeem"
    ADJUST = "adjust"
    EXPIRE = "expire"
    BONUS = "bonus"


class Tier(StrEnum):
    NEW = "new"
    REGULAR = "regular"
    LOYAL = "loyal"


@dataclass(frozen=True)
class TelegramProfile:
    """What Telegram tells us about a person with each message."""

    user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None


@dataclass(frozen=True)
class Customer:
    user_id: int
    first_name: str
    last_name: str | None
    username: str | None
    telegram_language: str | None
    language: str | None
    consent: ConsentState
    consent_at: datetime | None
    reachable: bool
    created_at: datetime
    frequency: str = "normal"
    paused_until: datetime | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ConsentEvent:
    action: ConsentAction
    text_version: str
    source: str
    at: datetime


@dataclass(frozen=True)
class LoyaltyAccount:
    id: int
    card_code: str | None
    phone: str | None
    name: str | None
    user_id: int | None
    linked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    account_id: int
    kind: LedgerKind
    points: int
    reason: str
    actor: str
    at: datetime
    expires_at: datetime | None
    external_id: str | None


@dataclass(frozen=True)
class Purchase:
    id: int
    account_id: int
    external_id: str
    amount_minor: int
    currency: str
    at: datetime
