"""SQL for `loyalty_accounts`: the shop's customer records and their link to a Telegram user."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.clock import from_db, to_db
from bot.models import LoyaltyAccount
from bot.rules.segments import PurchaseSummary
from bot.storage.db import Database, Reader, Tx, fetch_packed, json_values

_ACCOUNT_COLUMNS = ("id", "card_code", "phone", "name", "user_id", "linked_at", "created_at")
_ACCOUNT_SELECT = ", ".join(_ACCOUNT_COLUMNS)


def _account(values: Sequence[Any]) -> LoyaltyAccount:
    """A shop record from its `_ACCOUNT_COLUMNS`, in that order."""
    account_id, card_code, phone, name, user_id, linked_at, created_at = values
    return LoyaltyAccount(
        id=account_id,
        card_code=card_code,
        phone=phone,
        name=name,
        user_id=user_id,
        linked_at=from_db(linked_at) if linked_at else None,
        created_at=from_db(created_at),
    )


async def get(db: Reader, account_id: int) -> LoyaltyAccount | None:
    row = await db.fetch_one(f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE id = ?", (account_id,))
    return _account(row) if row else None


async def by_user(db: Reader, user_id: int) -> LoyaltyAccount | None:
    row = await db.fetch_one(f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE user_id = ?", (user_id,))
    return _account(row) if row else None


async def by_card(db: Reader, card_code: str) -> LoyaltyAccount | None:
    row = await db.fetch_one(
        f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE card_code = ?", (card_code,)
    )
    return _account(row) if row else None


async def by_phone(db: Reader, phone: str) -> LoyaltyAccount | None:
    row = await db.fetch_one(f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE phone = ?", (phone,))
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


# -- batches (CSV import): grouped reads and executemany writes ---------------------------------------


async def by_ids(db: Reader, account_ids: Iterable[int]) -> dict[int, LoyaltyAccount]:
    """The records with these ids, by id; ids of no record are left out."""
    rows = await db.fetch_all(
        f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE id IN (SELECT value FROM json_each(?))",
        (json_values(account_ids),),
    )
    return {int(r[0]): _account(r) for r in rows}


async def by_users(db: Reader, user_ids: Iterable[int]) -> dict[int, LoyaltyAccount]:
    """The records linked to these customers, by customer; customers without one are left out."""
    rows = await fetch_packed(
        db,
        f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE user_id IN (SELECT value FROM json_each(?))",
        (json_values(user_ids),),
        _ACCOUNT_COLUMNS,
    )
    return {int(r[4]): _account(r) for r in rows}


async def by_cards(db: Reader, card_codes: Iterable[str]) -> dict[str, LoyaltyAccount]:
    """The records holding these card codes, by code; codes on no record are left out."""
    rows = await db.fetch_all(
        f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE card_code IN (SELECT value FROM json_each(?))",
        (json_values(card_codes),),
    )
    return {str(r[1]): _account(r) for r in rows}


async def by_phones(db: Reader, phones: Iterable[str]) -> dict[str, LoyaltyAccount]:
    """The records holding these phones, by phone; phones on no record are left out."""
    rows = await db.fetch_all(
        f"SELECT {_ACCOUNT_SELECT} FROM loyalty_accounts WHERE phone IN (SELECT value FROM json_each(?))",
        (json_values(phones),),
    )
    return {str(r[2]): _account(r) for r in rows}


async def insert_many(tx: Tx, now: datetime, records: Sequence[tuple[str | None, str | None]]) -> list[int]:
    """New unlinked records, one per (card code, phone), each holding a card or a phone no record holds
    yet; their ids, in order."""
    stamp = to_db(now)
    await tx.executemany(
        "INSERT INTO loyalty_accounts (card_code, phone, name, user_id, linked_at, created_at) "
        "VALUES (?, ?, NULL, NULL, NULL, ?)",
        [(card, phone, stamp) for card, phone in records],
    )
    # Each new record is found again by its card, or by its phone when it has no card: both are unique.
    card_codes = [card for card, _ in records if card]
    cards = await by_cards(tx, card_codes) if card_codes else {}
    phones_only = [phone for card, phone in records if phone and not card]
    phones = await by_phones(tx, phones_only) if phones_only else {}
    ids: list[int] = []
    for card, phone in records:
        found = cards[card] if card else phones[phone] if phone else None
        if found is None:
            raise ValueError("a new record needs a card code or a phone")
        ids.append(found.id)
    return ids


# -- purchase summaries (migrations/0006): derived from purchases, recomputed when stale ------------------


async def stale_summaries(q: Reader, limit: int) -> list[int]:
    """Ids of records whose purchases changed since their summary was computed (at most `limit`)."""
    rows = await q.fetch_all(
        "SELECT id FROM loyalty_accounts WHERE summary_stale = 1 ORDER BY id LIMIT ?", (limit,)
    )
    return [int(r[0]) for r in rows]


async def save_summaries(tx: Tx, summaries: Sequence[tuple[int, PurchaseSummary]]) -> None:
    """Store freshly computed summaries and clear their stale mark (in the transaction that read the
    purchases: a purchase written meanwhile waits for the lock and marks its record stale again)."""
    await tx.executemany(
        """
        UPDATE loyalty_accounts
        SET purchase_count = ?, first_purchase_at = ?, last_purchase_at = ?, median_gap_days = ?,
            restock_sku = ?, restock_due_at = ?, summary_stale = 0
        WHERE id = ?
        """,
        [
            (
                s.purchases,
                to_db(s.first_at) if s.first_at else None,
                to_db(s.last_at) if s.last_at else None,
                s.median_gap_days,
                s.restock[0] if s.restock else None,
                to_db(s.restock[1]) if s.restock else None,
                account_id,
            )
            for account_id, s in summaries
        ],
    )
