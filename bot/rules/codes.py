"""Codes people read aloud at a till."""

from __future__ import annotations

import secrets

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I


def coupon_code() -> str:
    """`XXXX-XXXX`: 32⁸ ≈ 10¹² codes, so a guess is hopeless and a clash is retried by the caller."""
    return coupon_codes(1)[0]


def coupon_codes(count: int) -> list[str]:
    """`count` codes like `coupon_code`'s, from one system call for them all (a group's claim)."""
    # 32 letters: each random byte picks one uniformly (256 is a multiple of 32).
    chars = "".join(_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(8 * count))
    return [f"{chars[i : i + 4]}-{chars[i + 4 : i + 8]}" for i in range(0, 8 * count, 8)]
