"""Codes people read aloud at a till."""

from __future__ import annotations

import secrets

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I


def coupon_code() -> str:
    """`XXXX-XXXX`: 32⁸ ≈ 10¹² codes, so a guess is hopeless and a clash is retried by the caller."""
    # 32 letters: each random byte picks one uniformly (256 is a multiple of 32), one system call in all.
    chars = "".join(_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(8))
    return f"{chars[:4]}-{chars[4:]}"
