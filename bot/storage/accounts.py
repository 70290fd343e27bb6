"""SQL for `loyalty_accounts`: the shop's customer records and their link to a Telegram user."""

from __future__ import annotations

from datetime import datetime

from bot.clock import from_db, to_db
from bot.models import LoyaltyAccount
from bot.storage.db import Database, Reader, Row, Tx


def _account(row: Row) -> LoyaltyAccount:
    return LoyaltyAccount(
        id=row["id"],
        card_code=row["card_code"],
        phone=row["phone"],
        name=row["name"],
        user_id=row["user_id"],
        linked_at=from_db(row["linked_at"]) if row["linked_at"] else None,
        created_at=from_db(row["created_at"]),
    )


async def get(db: Reader, account_id: int) -> LoyaltyAccount | None:
    row = await db.fetch_one("SELECT * FROM loyalty_accounts WHERE id = ?", (account_id,))
    return _account(row) if row else None


async def by_user(db: Reader, user_id: int) -> LoyaltyAccount | None:
    row = await db.fetch_one("SELECT * FROM loyalty_accounts WHERE user_id = ?", (user_id,))
    return _account(row) if row else None


async def by_card(db: Reader, card_code: str) -> LoyaltyAccount | None:
    row = await db.fetch_one("SELECT * FROM loyalty_accounts WHERE card_code = ?", (card_code,))
    return _account(row) if row else None


async def by_phone(db: Reader, phone: str) -> LoyaltyAccount | None:
    row = await db.fetch_one("SELECT * FROM loyalty_accounts WHERE phone = ?", (phone,))
    return _account(row) if row else None


async def create(
    db: Database,
    now: datetime,
    *,
    card_code: str | None = None,
    phone: str | None = None,
    name: str | None = None,
) -> LoyaltyAccount:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO loyalty_accounts (card_code, phone, name, created_at) VALUES (?, ?, ?, ?)",
            (card_code, phone, name, to_db(now)),
        )
        account_id = cursor.lastrowid
    assert account_id is not None
    account = await get(db, account_id)
    assert account is not None
    return account


async def link(db: Database, account_id: int, user_id: int, now: datetime) -> bool:
    """Attach an unlinked account to a user who has none; False if either side is taken meanwhile."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            """
            UPDATE loyalty_accounts SET user_id = ?, linked_at = ?
            WHERE id = ? AND user_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM loyalty_accounts WHERE user_id = ?)
            """,
            (user_id, to_db(now), account_id, user_id),
        )
        return cursor.rowcount == 1


async def create_linked(db: Database, user_id: int, now: datetime, *, phone: str, name: str) -> bool:
    """A new account for a phone the shop did not know yet, linked at once; False if the user has one."""
    stamp = to_db(now)
    async with db.transaction() as conn:
        cursor = await conn.execute(
            """
            INSERT INTO loyalty_accounts (phone, name, user_id, linked_at, created_at)
            SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM loyalty_accounts WHERE user_id = ?)
            """,
            (phone, name, user_id, stamp, stamp, user_id),
        )
        return cursor.rowcount == 1


async def set_phone(db: Database, account_id: int, phone: str) -> None:
    async with db.transaction() as conn:
        await conn.execute("UPDATE loyalty_accounts SET phone = ? WHERE id = ?", (phone, account_id))


async def insert(
    tx: Tx,
    now: datetime,
    *,
    card_code: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    user_id: int | None = None,
) -> int:
    """A new account inside a transaction; its id."""
    cursor = await tx.execute(
        "INSERT INTO loyalty_accounts (card_code, phone, name, user_id, linked_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (card_code, phone, name, user_id, to_db(now) if user_id else None, to_db(now)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid
