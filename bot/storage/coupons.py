"""SQL for `coupons`: unique codes issued with nudges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import from_db, to_db
from bot.storage.db import Reader, Row, Tx


@dataclass(frozen=True)
class Coupon:
    code: str
    user_id: int | None
    rule: str
    kind: str
    value: int
    issued_at: datetime
    valid_until: datetime
    redeemed_at: datetime | None


def _coupon(row: Row) -> Coupon:
    return Coupon(
        code=row["code"],
        user_id=row["user_id"],
        rule=row["rule"],
        kind=row["kind"],
        value=row["value"],
        issued_at=from_db(row["issued_at"]),
        valid_until=from_db(row["valid_until"]),
        redeemed_at=from_db(row["redeemed_at"]) if row["redeemed_at"] else None,
    )


async def insert(
    tx: Tx,
    code: str,
    user_id: int,
    rule: str,
    outbox_id: int | None,
    kind: str,
    value: int,
    issued_at: datetime,
    valid_until: datetime,
) -> bool:
    """False when the code exists already (codes are random; the caller draws another)."""
    cursor = await tx.execute(
        """
        INSERT INTO coupons (code, user_id, rule, outbox_id, kind, value, issued_at, valid_until)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING
        """,
        (code, user_id, rule, outbox_id, kind, value, to_db(issued_at), to_db(valid_until)),
    )
    return cursor.rowcount == 1


async def get(q: Reader, code: str) -> Coupon | None:
    row = await q.fetch_one("SELECT * FROM coupons WHERE code = ?", (code,))
    return _coupon(row) if row else None


async def for_outbox(q: Reader, outbox_id: int) -> Coupon | None:
    row = await q.fetch_one("SELECT * FROM coupons WHERE outbox_id = ?", (outbox_id,))
    return _coupon(row) if row else None


async def forget_user(tx: Tx, user_id: int) -> None:
    """Coupons stay for the shop's books, without their owner (or the owner's outbox rows)."""
    await tx.execute("UPDATE coupons SET user_id = NULL, outbox_id = NULL WHERE user_id = ?", (user_id,))


async def mark_redeemed(tx: Tx, code: str, by: str, now: datetime) -> bool:
    """Used once: False when someone redeemed it first."""
    cursor = await tx.execute(
        "UPDATE coupons SET redeemed_at = ?, redeemed_by = ? WHERE code = ? AND redeemed_at IS NULL",
        (to_db(now), by, code),
    )
    return cursor.rowcount == 1
