"""SQL for `points_ledger` and `purchases`. The ledger is append-only (enforced by triggers)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_db, to_db
from bot.models import LedgerEntry, LedgerKind, Purchase
from bot.storage.db import Database, Row


def _entry(row: Row) -> LedgerEntry:
    return LedgerEntry(
        id=row["id"],
        account_id=row["account_id"],
        kind=LedgerKind(row["kind"]),
        points=row["points"],
        reason=row["reason"],
        actor=row["actor"],
        at=from_db(row["at"]),
        expires_at=from_db(row["expires_at"]) if row["expires_at"] else None,
        external_id=row["external_id"],
    )


def _purchase(row: Row) -> Purchase:
    return Purchase(
        id=row["id"],
        account_id=row["account_id"],
        external_id=row["external_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        at=from_db(row["at"]),
    )


async def append(
    db: Database,
    account_id: int,
    kind: LedgerKind,
    points: int,
    *,
    reason: str,
    actor: str,
    at: datetime,
    expires_at: datetime | None = None,
    external_id: str | None = None,
) -> bool:
    """Add an entry; False (and nothing written) when `external_id` was recorded before."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            """
            INSERT INTO points_ledger (account_id, kind, points, reason, actor, at, expires_at, external_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (external_id) DO NOTHING
            """,
            (
                account_id,
                kind.value,
                points,
                reason,
                actor,
                to_db(at),
                to_db(expires_at) if expires_at else None,
                external_id,
            ),
        )
        return cursor.rowcount == 1


async def entries(db: Database, account_id: int, limit: int | None = None) -> list[LedgerEntry]:
    """Oldest first; with `limit`, the newest `limit` entries (still oldest first)."""
    if limit is None:
        rows = await db.fetch_all(
            "SELECT * FROM points_ledger WHERE account_id = ? ORDER BY at, id", (account_id,)
        )
    else:
        rows = await db.fetch_all(
            "SELECT * FROM (SELECT * FROM points_ledger WHERE account_id = ? ORDER BY at DESC, id DESC "
            "LIMIT ?) ORDER BY at, id",
            (account_id, limit),
        )
    return [_entry(r) for r in rows]


async def record_purchase(
    db: Database,
    account_id: int,
    external_id: str,
    amount_minor: int,
    currency: str,
    at: datetime,
    now: datetime,
) -> bool:
    """False (and nothing written) when the shop reported this purchase before."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            """
            INSERT INTO purchases (account_id, external_id, amount_minor, currency, at, created_at)
            VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (external_id) DO NOTHING
            """,
            (account_id, external_id, amount_minor, currency, to_db(at), to_db(now)),
        )
        return cursor.rowcount == 1


async def purchases_since(db: Database, account_id: int, since: datetime) -> list[Purchase]:
    rows = await db.fetch_all(
        "SELECT * FROM purchases WHERE account_id = ? AND at >= ? ORDER BY at, id",
        (account_id, to_db(since)),
    )
    return [_purchase(r) for r in rows]


async def purchases(db: Database, account_id: int) -> list[Purchase]:
    rows = await db.fetch_all("SELECT * FROM purchases WHERE account_id = ? ORDER BY at, id", (account_id,))
    return [_purchase(r) for r in rows]
