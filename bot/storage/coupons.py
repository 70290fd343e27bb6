"""SQL for `coupons`: unique codes issued with nudges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.clock import from_db, to_db
from bot.storage.db import Reader, Row, Tx, json_rows, json_values


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


async def for_outboxes(q: Reader, outbox_ids: Iterable[int]) -> dict[int, Coupon]:
    """The coupon issued with each of these outbox rows (a retried row keeps its code), by row; rows
    without one are left out."""
    rows = await q.fetch_all(
        "SELECT * FROM coupons WHERE outbox_id IN (SELECT value FROM json_each(?))",
        (json_values(outbox_ids),),
    )
    return {int(r["outbox_id"]): _coupon(r) for r in rows}


async def codes_taken(q: Reader, codes: Iterable[str]) -> set[str]:
    """Which of these codes some coupon has already."""
    rows = await q.fetch_all(
        "SELECT code FROM coupons WHERE code IN (SELECT value FROM json_each(?))", (json_values(codes),)
    )
    return {str(r[0]) for r in rows}


class NewCoupon(NamedTuple):  # one a message with a coupon: a NamedTuple is made in a fraction of the time
    code: str
    user_id: int
    rule: str
    outbox_id: int | None
    kind: str
    value: int
    issued_at: datetime
    valid_until: datetime


async def insert_many(tx: Tx, new: Sequence[NewCoupon]) -> None:
    """Coupons whose codes the caller has checked are free (`codes_taken`) in this transaction."""
    if not new:
        return  # no trip to the database for nothing
    stamps: dict[datetime, str] = {}  # a group's coupons share their two moments

    def stamp(moment: datetime) -> str:
        if moment not in stamps:
            stamps[moment] = to_db(moment)
        return stamps[moment]

    rows = [
        (c.code, c.user_id, c.rule, c.outbox_id, c.kind, c.value, stamp(c.issued_at), stamp(c.valid_until))
        for c in new
    ]
    # One statement for the group (see `db.UPDATE_FROM` on why not a statement a row).
    await tx.execute(
        """
        INSERT INTO coupons (code, user_id, rule, outbox_id, kind, value, issued_at, valid_until)
        SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
               json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),
               json_extract(value, '$[6]'), json_extract(value, '$[7]')
        FROM json_each(?)
        """,
        (json_rows(rows),),
    )


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
