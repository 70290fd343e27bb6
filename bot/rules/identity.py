"""Reading what customers type or scan: phone numbers, deep-link payloads, card codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

_CARD = re.compile(r"^[A-Za-z0-9-]{3,40}$")


class PayloadKind(StrEnum):
    CARD = "card"
    REFERRAL = "ref"
    OTHER = "other"


@dataclass(frozen=True)
class StartPayload:
    kind: PayloadKind
    value: str
    raw: str


def parse_start_payload(raw: str | None) -> StartPayload | None:
    """`/start card_ABC-123` (QR on a card or receipt), `/start ref_x1y2`; anything else is a source tag."""
    if not raw:
        return None
    raw = raw.strip()
    prefix, _, value = raw.partition("_")
    if prefix == "card" and value:
        code = normalize_card_code(value)
        if code:
            return StartPayload(PayloadKind.CARD, code, raw)
    if prefix == "ref" and value:
        return StartPayload(PayloadKind.REFERRAL, value, raw)
    return StartPayload(PayloadKind.OTHER, raw[:64], raw)


def normalize_card_code(text: str) -> str | None:
    """Card codes are compared upper-case; None when it cannot be a card code."""
    text = text.strip()
    return text.upper() if _CARD.match(text) else None


def normalize_phone(text: str, default_region: str) -> str | None:
    """E.164 (`+380501234567`), or None when it is not a possible number."""
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def phone_spellings(e164: str) -> list[str]:
    """The ways staff write a stored number in a command: `+380501234567`, `380501234567` and the
    national digits `0501234567` (spaces and dashes aside)."""
    spellings = [e164, e164.removeprefix("+")]
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return spellings
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if len(digits := "".join(ch for ch in national if ch.isdigit())) >= 7:  # not a short code's
        spellings.append(digits)
    return spellings


def normalize_contact_phone(text: str, default_region: str) -> str | None:
    """The number of a contact shared from Telegram: international, but often sent without the '+'.

    Read as international first, so a foreign customer's `447700900123` is not refused (or worse, taken
    for a local number); a number written the local way (`0501234567`) is read in `default_region`.
    """
    text = text.strip()
    if text[:1].isdigit() and (international := normalize_phone("+" + text, default_region)):
        return international
    return normalize_phone(text, default_region)
