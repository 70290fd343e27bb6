"""SQL for `customers`, `consent_events` and `erasures`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.clock import from_db, to_db
from bot.models import ConsentAction, ConsentEvent, ConsentState, Customer, TelegramProfile
from bot.rules.identity import phone_spellings
from bot.storage import audit, coupons, outbox, surveys
from bot.storage.db import Database, Reader, Tx, fetch_packed, json_values

_CUSTOMER_COLUMNS = (
    "user_id", "first_name", "last_name", "username", "telegram_language", "language", "consent",
    "consent_at", "reachable", "created_at", "frequency", "paused_until", "timezone",
)  # fmt: skip
_CUSTOMER_SELECT = ", ".join(_CUSTOMER_COLUMNS)


def _customer(values: Sequence[Any]) -> Customer:
    """A customer from their `_CUSTOMER_COLUMNS`, in that order."""
    user_id, first_name, last_name, username, telegram_language, language, consent, *rest = values
    consent_at, reachable, created_at, frequency, paused_until, timezone = rest
    return Customer(
        user_id=user_id,
        first_name=first_name,
        last_name=last_name,
        username=username,
        telegram_language=telegram_language,
        language=language,
        consent=ConsentState(consent),
        consent_at=from_db(consent_at) if consent_at else None,
        reachable=bool(reachable),
        created_at=from_db(created_at),
        frequency=frequency,
        paused_until=from_db(paused_until) if paused_until else None,
        timezone=timezone,
    )


async def get(db: Reader, user_id: int) -> Customer | None:
    row = await db.fetch_one(f"SELECT {_CUSTOMER_SELECT} FROM customers WHERE user_id = ?", (user_id,))
    return _customer(row) if row else None


async def get_many(db: Reader, user_ids: Iterable[int]) -> dict[int, Customer]:
    """`get` of each of these customers, in one query; ids of nobody are left out."""
    rows = await fetch_packed(
        db,
        f"SELECT {_CUSTOMER_SELECT} FROM customers WHERE user_id IN (SELECT value FROM json_each(?))",
        (json_values(user_ids),),
        _CUSTOMER_COLUMNS,
    )
    return {int(r[0]): _customer(r) for r in rows}


async def find_by_username(db: Database, username: str) -> Customer | None:
    row = await db.fetch_one(
        f"SELECT {_CUSTOMER_SELECT} FROM customers WHERE lower(username) = lower(?)",
        (username.removeprefix("@"),),
    )
    return _customer(row) if row else None


async def get_language(db: Database, user_id: int) -> str | None:
    value = await db.fetch_value("SELECT language FROM customers WHERE user_id = ?", (user_id,))
    return str(value) if value else None


async def upsert_profile(db: Database, profile: TelegramProfile, now: datetime) -> Customer:
    """Create the customer on first contact, refresh name/username/language on later ones."""
    stamp = to_db(now)
    async with db.transaction() as conn:
        await conn.execute(
            """
            INSERT INTO customers (user_id, first_name, last_name, username, telegram_language,
                                   created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (user_id) DO UPDATE SET
                first_name = excluded.first_name,
                last_name = excluded.last_name,
                username = excluded.username,
                telegram_language = excluded.telegram_language,
                reachable = 1,
                unreachable_since = NULL,
                updated_at = excluded.updated_at
            """,
            (
                profile.user_id,
                profile.first_name,
                profile.last_name,
                profile.username,
                profile.language_code,
                stamp,
                stamp,
            ),
        )
    customer = await get(db, profile.user_id)
    assert customer is not None
    return customer


async def set_language(db: Database, user_id: int, language: str, now: datetime) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE customers SET language = ?, updated_at = ? WHERE user_id = ?",
            (language, to_db(now), user_id),
        )


async def record_consent(
    db: Database, user_id: int, action: ConsentAction, text_version: str, source: str, now: datetime
) -> None:
    """The event and the customer's current state change together or not at all."""
    state = ConsentState(action.value)
    stamp = to_db(now)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO consent_events (user_id, action, text_version, source, at) VALUES (?, ?, ?, ?, ?)",
            (user_id, action.value, text_version, source, stamp),
        )
        await conn.execute(
            "UPDATE customers SET consent = ?, consent_at = ?, updated_at = ? WHERE user_id = ?",
            (state.value, stamp, stamp, user_id),
        )


async def consent_history(db: Database, user_id: int) -> list[ConsentEvent]:
    rows = await db.fetch_all(
        "SELECT action, text_version, source, at FROM consent_events WHERE user_id = ? ORDER BY at, id",
        (user_id,),
    )
    return [
        ConsentEvent(ConsentAction(r["action"]), r["text_version"], r["source"], from_db(r["at"]))
        for r in rows
    ]


async def mark_unreachable(db: Database, user_id: int, now: datetime) -> None:
    async with db.transaction() as tx:
        await mark_unreachable_in(tx, user_id, now)


async def mark_unreachable_in(tx: Tx, user_id: int, now: datetime) -> None:
    await tx.execute(
        "UPDATE customers SET reachable = 0, unreachable_since = ?, updated_at = ? WHERE user_id = ?",
        (to_db(now), to_db(now), user_id),
    )


async def erase(db: Database, user_id: int, now: datetime) -> bool:
    """Delete the person and their consent trail, unlink and strip their loyalty account; keep a count.

    The account keeps its card code and ledger without name or phone: the shop's books stay whole and
    nothing left identifies the person. Staff commands recorded with their id, username, phone or full
    name keep the command, with those erased. Returns False when there was nothing to erase.
    """
    async with db.transaction() as conn:
        # What identifies them in staff commands recorded before (`/customer +380…`, `/points 1001 50`).
        cursor = await conn.execute(
            "SELECT c.username, c.first_name, c.last_name, a.phone, a.name FROM customers c "
            "LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id WHERE c.user_id = ?",
            (user_id,),
        )
        if (known := await cursor.fetchone()) is not None:
            await audit.forget(conn, identifying_texts(user_id, *known))
        cursor = await conn.execute("SELECT COUNT(*) FROM consent_events WHERE user_id = ?", (user_id,))
        count_row = await cursor.fetchone()
        events = int(count_row[0]) if count_row else 0
        cursor = await conn.execute(
            "UPDATE loyalty_accounts SET name = NULL, phone = NULL, user_id = NULL, linked_at = NULL "
            "WHERE user_id = ?",
            (user_id,),
        )
        had_account = cursor.rowcount > 0
        # Coupons first: they refer to the outbox rows that are deleted next.
        await coupons.forget_user(conn, user_id)
        await surveys.forget_user(conn, user_id)
        await outbox.forget_user(conn, user_id)
        cursor = await conn.execute("DELETE FROM customers WHERE user_id = ?", (user_id,))
        if cursor.rowcount == 0:
            return False
        await conn.execute(
            "INSERT INTO erasures (at, consent_events, had_account) VALUES (?, ?, ?)",
            (to_db(now), events, int(had_account)),
        )
    return True


def identifying_texts(
    user_id: int,
    username: str | None,
    first_name: str | None,
    last_name: str | None,
    phone: str | None,
    account_name: str | None,
) -> list[str]:
    """Texts that point at this person, as staff would type them: their Telegram id, username, phone
    (international and national, see `phone_spellings`) and full name. A first name alone is left: it
    is other people's too."""
    found = [str(user_id)]
    if username and len(username) >= 3:
        found.append(username)
    if phone:
        found += phone_spellings(phone)
    for name in (" ".join(part for part in (first_name, last_name) if part), account_name or ""):
        if len(name.split()) >= 2:
            found.append(name)
    # Longest first: the phone in full goes before the digits it contains.
    return sorted(set(found), key=lambda text: (-len(text), text))


async def counts(db: Database) -> dict[str, int]:
    row = await db.fetch_one(
        """
        SELECT COUNT(*) AS customers,
               COALESCE(SUM(consent = 'granted'), 0) AS opted_in,
               COALESCE(SUM(reachable = 1), 0) AS reachable,
               (SELECT COUNT(*) FROM loyalty_accounts WHERE user_id IS NOT NULL) AS linked,
               (SELECT COUNT(*) FROM erasures) AS erased
        FROM customers
        """
    )
    assert row is not None
    return {key: int(row[key]) for key in row.keys()}  # noqa: SIM118 - sqlite3.Row iterates values


async def set_birthday(db: Database, user_id: int, month_day: str | None, now: datetime) -> bool:
    """False when there is no such customer."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE customers SET birthday = ?, updated_at = ? WHERE user_id = ?",
            (month_day, to_db(now), user_id),
        )
        return cursor.rowcount == 1


async def get_birthday(db: Reader, user_id: int) -> str | None:
    value = await db.fetch_value("SELECT birthday FROM customers WHERE user_id = ?", (user_id,))
    return str(value) if value else None


async def with_birthday(db: Reader, month_day: str) -> list[int]:
    rows = await db.fetch_all("SELECT user_id FROM customers WHERE birthday = ?", (month_day,))
    return [int(r[0]) for r in rows]


async def referral_code(db: Reader, user_id: int) -> str | None:
    value = await db.fetch_value("SELECT referral_code FROM customers WHERE user_id = ?", (user_id,))
    return str(value) if value else None


async def set_referral_code(db: Database, user_id: int, code: str) -> bool:
    """False when the code is taken (codes are random; the caller draws another)."""
    async with db.transaction() as tx:
        taken = await tx.fetch_value("SELECT 1 FROM customers WHERE referral_code = ?", (code,))
        if taken:
            return False
        await tx.execute(
            "UPDATE customers SET referral_code = ? WHERE user_id = ? AND referral_code IS NULL",
            (code, user_id),
        )
        return True


async def by_referral_code(db: Reader, code: str) -> int | None:
    value = await db.fetch_value("SELECT user_id FROM customers WHERE referral_code = ?", (code,))
    return int(value) if value is not None else None


async def set_frequency(
    db: Database, user_id: int, frequency: str, paused_until: datetime | None, now: datetime
) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE customers SET frequency = ?, paused_until = ?, updated_at = ? WHERE user_id = ?",
            (frequency, to_db(paused_until) if paused_until else None, to_db(now), user_id),
        )


async def set_no_win_back(db: Database, user_id: int, now: datetime) -> None:
    """They told us they moved or no longer need the shop: no win-back messages any more."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE customers SET no_win_back = 1, updated_at = ? WHERE user_id = ?", (to_db(now), user_id)
        )
