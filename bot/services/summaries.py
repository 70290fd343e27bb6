"""Purchase summaries (migrations/0006): what planning, /stats and campaigns read of each customer record's
purchases, recomputed for the records a purchase marked stale since."""

from __future__ import annotations

from bot.rules.segments import summarise_purchases
from bot.storage import accounts, ledger
from bot.storage.db import Database


async def refresh_purchase_summaries(db: Database, batch: int = 2000) -> int:
    """Recompute the summaries marked stale; returns how many. Read and write in one transaction: a
    purchase written meanwhile waits for the write lock, then marks its record stale again."""
    refreshed = 0
    while True:
        async with db.transaction() as tx:
            stale = await accounts.stale_summaries(tx, batch)
            if not stale:
                return refreshed
            times, by_sku = await ledger.purchase_history(tx, stale)
            await accounts.save_summaries(
                tx, [(a, summarise_purchases(times.get(a, []), by_sku.get(a, {}))) for a in stale]
            )
        refreshed += len(stale)
