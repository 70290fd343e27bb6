"""Codes people read aloud at a till."""

from __future__ import annotations

import secrets

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I


def coupon_code() -> str:
    """`XXXX-XXXX`: 32⁸ ≈ 10¹² codes, so a guess is hopeless and a clash is retried by the caller."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"
