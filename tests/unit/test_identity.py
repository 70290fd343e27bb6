"""bot.rules.identity: deep-link payloads, card codes, phone numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rules.identity import (
    PayloadKind,
    StartPayload,
    normalize_card_code,
    normalize_contact_phone,
    normalize_phone,
    parse_start_payload,
    phone_spellings,
)

# -- /start payloads --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, ""])
def test_no_payload(raw: str | None) -> None:
    assert parse_start_payload(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("card_ZERNO-1001", StartPayload(PayloadKind.CARD, "ZERNO-1001", "card_ZERNO-1001")),
        ("card_zerno-1001", StartPayload(PayloadKind.CARD, "ZERNO-1001", "card_zerno-1001")),
        ("  card_abc  ", StartPayload(PayloadKind.CARD, "ABC", "card_abc")),
        ("ref_x1y2", StartPayload(PayloadKind.REFERRAL, "x1y2", "ref_x1y2")),
        ("ref_a_b", StartPayload(PayloadKind.REFERRAL, "a_b", "ref_a_b")),
        ("promo2026", StartPayload(PayloadKind.OTHER, "promo2026", "promo2026")),
        ("instagram_story", StartPayload(PayloadKind.OTHER, "instagram_story", "instagram_story")),
    ],
)
def test_payload_kinds(raw: str, expected: StartPayload) -> None:
    assert parse_start_payload(raw) == expected


@pytest.mark.parametrize("raw", ["card_", "card_ab", "card_a b", "card_" + "X" * 41, "card_ЗЕРНО", "ref_"])
def test_a_payload_that_is_not_a_valid_card_or_referral_is_a_source_tag(raw: str) -> None:
    parsed = parse_start_payload(raw)
    assert parsed is not None
    assert parsed.kind is PayloadKind.OTHER
    assert parsed.value == raw.strip()[:64]


def test_a_source_tag_is_cut_to_64_characters() -> None:
    raw = "x" * 100
    parsed = parse_start_payload(raw)
    assert parsed == StartPayload(PayloadKind.OTHER, "x" * 64, raw)


# -- card codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ZERNO-1001", "ZERNO-1001"),
        (" zerno-1001\n", "ZERNO-1001"),
        ("abc", "ABC"),
        ("A" * 40, "A" * 40),
        ("ab", None),
        ("A" * 41, None),
        ("ZERNO 1001", None),
        ("ZERNO_1001", None),
        ("ЗЕРНО-1", None),
        ("", None),
    ],
)
def test_normalize_card_code(text: str, expected: str | None) -> None:
    assert normalize_card_code(text) == expected


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=50))
def test_card_codes_are_idempotent_and_upper_case(text: str) -> None:
    code = normalize_card_code(text)
    if code is not None:
        assert code == code.upper()
        assert normalize_card_code(code) == code


# -- phone numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        # Ukraine: international, with and without +, and national format.
        ("+380 50 123 45 67", "UA", "+380501234567"),
        ("+380501234567", "GB", "+380501234567"),
        ("380501234567", "UA", "+380501234567"),
        ("050 123 45 67", "UA", "+380501234567"),
        ("(050) 123-45-67", "UA", "+380501234567"),
        # Russia: + form, bare 7… and the domestic 8 … form.
        ("+7 912 345-67-89", "RU", "+79123456789"),
        ("79123456789", "RU", "+79123456789"),
        ("8 912 345 67 89", "RU", "+79123456789"),
        ("+7 (912) 345-67-89", "UA", "+79123456789"),
        # Great Britain.
        ("07700 900123", "GB", "+447700900123"),
        ("+44 7700 900123", "UA", "+447700900123"),
        ("447700900123", "GB", "+447700900123"),
    ],
)
def test_normalize_phone(text: str, region: str, expected: str) -> None:
    assert normalize_phone(text, region) == expected


@pytest.mark.parametrize("text", ["", "hello", "+", "123", "phone: none", "0" * 30, "++", "☎"])
def test_rubbish_is_not_a_phone(text: str) -> None:
    assert normalize_phone(text, "UA") is None


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet="+0123456789 -()", max_size=20),
    st.sampled_from(["UA", "RU", "GB", "US", "DE"]),
    st.sampled_from(["UA", "RU", "GB", "US", "DE"]),
)
def test_normalize_phone_is_idempotent_on_its_own_output(text: str, region: str, other: str) -> None:
    phone = normalize_phone(text, region)
    if phone is not None:
        assert phone.startswith("+")
        assert phone[1:].isdigit()
        # E.164 is international: read again in any region it is the same number.
        assert normalize_phone(phone, region) == phone
        assert normalize_phone(phone, other) == phone


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        # Telegram sends a shared contact's number in international form, with or without '+'.
        ("447700900123", "UA", "+447700900123"),
        ("+447700900123", "UA", "+447700900123"),
        ("79123456789", "UA", "+79123456789"),
        ("380501234567", "UA", "+380501234567"),
        ("380501234567", "DE", "+380501234567"),  # not +49 380…: German numbers vary in length
        # A number written the local way still reads in the shop's region.
        ("0501234567", "UA", "+380501234567"),
        ("8 912 345 67 89", "RU", "+79123456789"),
        (" +380 50 123 45 67 ", "GB", "+380501234567"),
        ("", "UA", None),
        ("12", "UA", None),
    ],
)
def test_normalize_contact_phone(text: str, region: str, expected: str | None) -> None:
    assert normalize_contact_phone(text, region) == expected


@pytest.mark.parametrize(
    ("e164", "spellings"),
    [
        ("+380501234567", ["+380501234567", "380501234567", "0501234567"]),
        ("+14155552671", ["+14155552671", "14155552671", "4155552671"]),
        ("+441234", ["+441234", "441234"]),  # national digits too short to stand for anyone
    ],
)
def test_a_stored_phone_is_found_as_staff_write_it(e164: str, spellings: list[str]) -> None:
    assert phone_spellings(e164) == spellings
