"""Customers: first contact, consent, language, linking to the shop's record, data export and erasure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.clock import Clock, to_db
from bot.config import Config
from bot.models import ConsentAction, ConsentState, Customer, TelegramProfile
from bot.rules.identity import PayloadKind, normalize_contact_phone, parse_start_payload
from bot.storage import accounts, customers, ledger
from bot.storage.db import Database

PAUSE_LENGTH = timedelta(days=91)


class LinkResult(StrEnum):
    LINKED = "linked"
    ALREADY_YOURS = "already-yours"
    TAKEN = "taken"  # the record belongs to another Telegram user
    NOT_FOUND = "not-found"
    HAS_OTHER_ACCOUNT = "has-other-account"  # this user is linked to a different record
    NOT_OWN_CONTACT = "not-own-contact"
    INVALID_PHONE = "invalid-phone"


@dataclass(frozen=True)
class StartOutcome:
    customer: Customer
    payload: str  # the deep-link payload ("" without one), carried to the consent buttons
    link: LinkResult | None
    referral_code: str | None = None  # `/start ref_<code>`: a friend's invitation, for the loyalty service


def consent_source(payload: str) -> str:
    """How a consent decision is labelled: the command and the deep link the customer came through."""
    return f"/start {payload}" if payload else "/start"


class CustomerService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self._db = db
        self._clock = clock
        self._config = config

    @property
    def consent_version(self) -> str:
        return self._config.consent.text_version

    async def get(self, user_id: int) -> Customer | None:
        return await customers.get(self._db, user_id)

    async def start(self, profile: TelegramProfile, payload: str | None) -> StartOutcome:
        """First contact or a return: remember who this is, and link a scanned card."""
        customer = await customers.upsert_profile(self._db, profile, self._clock.now())
        parsed = parse_start_payload(payload)
        link = None
        if parsed is not None and parsed.kind is PayloadKind.CARD:
            link = await self.link_card(profile.user_id, parsed.value)
        referral = parsed.value if parsed is not None and parsed.kind is PayloadKind.REFERRAL else None
        return StartOutcome(customer, parsed.raw[:64] if parsed else "", link, referral)

    async def grant_consent(self, user_id: int, source: str) -> None:
        await self._record(user_id, ConsentAction.GRANTED, source)

    async def decline_consent(self, user_id: int, source: str) -> None:
        await self._record(user_id, ConsentAction.DECLINED, source)

    async def withdraw_consent(self, user_id: int, source: str = "/stop") -> bool:
        """Opt out at once. False when there was no opt-in to withdraw (still recorded as a decision)."""
        customer = await customers.get(self._db, user_id)
        was_granted = customer is not None and customer.consent is ConsentState.GRANTED
        await self._record(user_id, ConsentAction.WITHDRAWN, source)
        return was_granted

    async def _record(self, user_id: int, action: ConsentAction, source: str) -> None:
        await customers.record_consent(
            self._db, user_id, action, self.consent_version, source[:100], self._clock.now()
        )

    async def set_language(self, user_id: int, language: str) -> None:
        await customers.set_language(self._db, user_id, language, self._clock.now())

    async def link_card(self, user_id: int, card_code: str) -> LinkResult:
        account = await accounts.by_card(self._db, card_code)
        if account is None:
            return LinkResult.NOT_FOUND
        return await self._link(account.id, account.user_id, user_id)

    async def link_phone(
        self, user_id: int, phone_text: str, contact_user_id: int | None, name: str
    ) -> LinkResult:
        """A contact shared with the reply-keyboard button; someone else's contact is refused."""
        if contact_user_id != user_id:
            return LinkResult.NOT_OWN_CONTACT
        phone = normalize_contact_phone(phone_text, self._config.shop.phone_region)
        if phone is None:
            return LinkResult.INVALID_PHONE
        now = self._clock.now()
        account = await accounts.by_phone(self._db, phone)
        if account is not None:
            return await self._link(account.id, account.user_id, user_id)
        current = await accounts.by_user(self._db, user_id)
        if current is not None:
            if current.phone is None:
                # A card-linked customer tells us their phone: the till can now find them by it too.
                await accounts.set_phone(self._db, current.id, phone)
                return LinkResult.LINKED
            return LinkResult.HAS_OTHER_ACCOUNT
        created = await accounts.create_linked(self._db, user_id, now, phone=phone, name=name)
        return LinkResult.LINKED if created else LinkResult.HAS_OTHER_ACCOUNT

    async def _link(self, account_id: int, owner: int | None, user_id: int) -> LinkResult:
        if owner == user_id:
            return LinkResult.ALREADY_YOURS
        if owner is not None:
            return LinkResult.TAKEN
        if await accounts.link(self._db, account_id, user_id, self._clock.now()):
            return LinkResult.LINKED
        current = await accounts.by_user(self._db, user_id)
        return LinkResult.HAS_OTHER_ACCOUNT if current is not None else LinkResult.TAKEN

    async def export_data(self, user_id: int) -> dict[str, Any] | None:
        """Everything stored about the person, as a JSON-ready document."""
        customer = await customers.get(self._db, user_id)
        if customer is None:
            return None
        document: dict[str, Any] = {
            "shop": self._config.shop.name,
            "exported_at": to_db(self._clock.now()),
            "customer": _jsonable(asdict(customer)),
            "consent_history": [
                _jsonable(asdict(e)) for e in await customers.consent_history(self._db, user_id)
            ],
            "loyalty_account": None,
            "purchases": [],
            "points_ledger": [],
        }
        account = await accounts.by_user(self._db, user_id)
        if account is not None:
            document["loyalty_account"] = _jsonable(asdict(account))
            document["purchases"] = [
                _jsonable(asdict(p)) for p in await ledger.purchases(self._db, account.id)
            ]
            document["points_ledger"] = [
                _jsonable(asdict(e)) for e in await ledger.entries(self._db, account.id)
            ]
        return document

    async def erase(self, user_id: int) -> bool:
        return await customers.erase(self._db, user_id, self._clock.now())

    async def choose_frequency(self, user_id: int, choice: str) -> datetime | None:
        """ "Fewer messages": weekly, monthly or a 3-month pause. Returns the end of a pause."""
        now = self._clock.now()
        if choice == "pause":
            until = now + PAUSE_LENGTH
            await customers.set_frequency(self._db, user_id, "normal", until, now)
            return until
        if choice not in ("weekly", "monthly"):
            raise ValueError(f"unknown frequency {choice!r}")
        await customers.set_frequency(self._db, user_id, choice, None, now)
        return None

    async def mark_unreachable(self, user_id: int) -> None:
        await customers.mark_unreachable(self._db, user_id, self._clock.now())


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if hasattr(value, "isoformat"):
            out[key] = to_db(value)
        elif isinstance(value, StrEnum):
            out[key] = value.value
        else:
            out[key] = value
    return out
