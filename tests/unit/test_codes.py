"""Coupon codes: shape, alphabet, and that each letter is as likely as any other."""

from __future__ import annotations

import re
from collections import Counter

from bot.rules import codes
from bot.rules.codes import coupon_code

SHAPE = re.compile(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}")


def test_codes_have_the_printed_shape_and_no_look_alike_letters() -> None:
    for _ in range(1000):
        code = coupon_code()
        assert SHAPE.fullmatch(code), code
        assert not set(code) & set("01IO")


def test_the_alphabet_divides_a_byte_evenly() -> None:
    # A random byte picks a letter by its remainder: uniform only while 256 is a multiple of the size.
    assert 256 % len(codes._ALPHABET) == 0
    assert len(set(codes._ALPHABET)) == len(codes._ALPHABET)


def test_every_letter_turns_up_about_as_often() -> None:
    counts = Counter("".join(coupon_code().replace("-", "") for _ in range(4000)))
    assert set(counts) == set(codes._ALPHABET)
    expected = 4000 * 8 / len(codes._ALPHABET)  # 1000 each
    assert all(abs(n - expected) < 200 for n in counts.values()), counts  # > 6 standard deviations


def test_a_batch_of_codes_is_as_many_codes_of_the_same_shape_all_different() -> None:
    batch = codes.coupon_codes(500)
    assert len(batch) == 500 and len(set(batch)) == 500  # a clash among 500 of 10¹² would be news
    assert all(SHAPE.fullmatch(code) for code in batch)
    assert codes.coupon_codes(0) == []
