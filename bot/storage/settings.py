"""SQL for `settings`: shop-wide switches that must survive a restart (the marketing kill switch)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import to_db
from bot.storage.db import Database, Reader

MARKETING_PAUSED = "marketing_paused"


async def get(q: Reader, key: str) -> str | None:
    value = await q.fetch_value("SELECT value FROM settings WHERE key = ?", (key,))
    return str(value) if value is not None else None


async def put(db: Database, key: str, value: str, by: str, now: datetime) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            """
            INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
                                            updated_by = excluded.updated_by
            """,
            (key, value, to_db(now), by),
        )
