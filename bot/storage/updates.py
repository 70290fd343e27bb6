"""SQL for `processed_updates`: which Telegram updates were already handled."""

from __future__ import annotations

from datetime import datetime

from bot.clock import to_db
from bot.storage.db import Database


async def is_processed(db: Database, bot_id: int, update_id: int) -> bool:
    found = await db.fetch_value(
        "SELECT 1 FROM processed_updates WHERE bot_id = ? AND update_id = ?", (bot_id, update_id)
    )
    return found is not None


async def mark_processed(db: Database, bot_id: int, update_id: int, now: datetime) -> None:
    """Recorded after the handler finished: a crash before this means the redelivery is handled again."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO processed_updates (bot_id, update_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (bot_id, update_id, to_db(now)),
        )


async def prune(db: Database, older_than: datetime) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute("DELETE FROM processed_updates WHERE at < ?", (to_db(older_than),))
        return cursor.rowcount
