"""SQL for `referrals`: who invited whom, and whether the pair was rewarded."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_db, to_db
from bot.storage.db import Database, Reader, Tx


async def referrer_of(q: Reader, invited_user_id: int) -> int | None:
    value = await q.fetch_value(
        "SELECT referrer_user_id FROM referrals WHERE invited_user_id = ?", (invited_user_id,)
    )
    return int(value) if value is not None else None


async def record(db: Database, invited_user_id: int, referrer_user_id: int, now: datetime) -> bool:
    """False when the customer already has an inviter."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "INSERT INTO referrals (invited_user_id, referrer_user_id, at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (invited_user_id, referrer_user_id, to_db(now)),
        )
        return cursor.rowcount == 1


async def unrewarded_referrer(tx: Tx, invited_user_id: int) -> int | None:
    value = await tx.fetch_value(
        "SELECT referrer_user_id FROM referrals WHERE invited_user_id = ? AND rewarded_at IS NULL",
        (invited_user_id,),
    )
    return int(value) if value is not None else None


async def mark_rewarded(tx: Tx, invited_user_id: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE referrals SET rewarded_at = ? WHERE invited_user_id = ? AND rewarded_at IS NULL",
        (to_db(now), invited_user_id),
    )


async def invited_count(q: Reader, referrer_user_id: int) -> tuple[int, int]:
    """(friends invited, friends who made a purchase)."""
    row = await q.fetch_one(
        "SELECT COUNT(*), COUNT(rewarded_at) FROM referrals WHERE referrer_user_id = ?", (referrer_user_id,)
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def invited_at(q: Reader, invited_user_id: int) -> datetime | None:
    value = await q.fetch_value("SELECT at FROM referrals WHERE invited_user_id = ?", (invited_user_id,))
    return from_db(value) if value else None
