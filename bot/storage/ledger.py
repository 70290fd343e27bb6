"""SQL for `points_ledger`, `purchases` and `purchase_items`. The ledger is append-only (triggers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from bot.clock import from_db, to_db
from bot.models import LedgerEntry, LedgerKind, Purchase
from bot.storage.db import Database, Reader, Row, Tx, fetch_packed, json_values


def _entry(values: Sequence[Any]) -> LedgerEntry:
    """An entry from its `_ENTRY_COLUMNS`, in that order."""
    entry_id, account_id, kind, points, reason, actor, at, expires_at, external_id = values
    return LedgerEntry(
        entry_id,
        account_id,
        _KINDS[kind],
        points,
        reason,
        actor,
        from_db(at),
        from_db(expires_at) if expires_at else None,
        external_id,
    )


_ENTRY_COLUMNS = ("id", "account_id", "kind", "points", "reason", "actor", "at", "expires_at", "external_id")
_ENTRY_SELECT = ", ".join(_ENTRY_COLUMNS)
_KINDS = {kind.value: kind for kind in LedgerKind}


def _purchase(row: Row) -> Purchase:
    return Purchase(
        id=row["id"],
        account_id=row["account_id"],
        external_id=row["external_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        at=from_db(row["at"]),
    )


# -- points ledger ----------------------------------------------------------------------------------


async def insert_entry(
    tx: Tx,
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
    """Add an entry inside a transaction; False (nothing written) when `external_id` was recorded before."""
    cursor = await tx.execute(
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
    """Add an entry in its own transaction; False (nothing written) when `external_id` was recorded before."""
    async with db.transaction() as tx:
        return await insert_entry(
            tx,
            account_id,
            kind,
            points,
            reason=reason,
            actor=actor,
            at=at,
            expires_at=expires_at,
            external_id=external_id,
        )


async def entries(q: Reader, account_id: int, limit: int | None = None) -> list[LedgerEntry]:
    """Oldest first; with `limit`, the newest `limit` entries (still oldest first)."""
    if limit is None:
        rows = await q.fetch_all(
            f"SELECT {_ENTRY_SELECT} FROM points_ledger WHERE account_id = ? ORDER BY at, id", (account_id,)
        )
    else:
        rows = await q.fetch_all(
            f"SELECT * FROM (SELECT {_ENTRY_SELECT} FROM points_ledger WHERE account_id = ? "
            "ORDER BY at DESC, id DESC "
            "LIMIT ?) ORDER BY at, id",
            (account_id, limit),
        )
    return [_entry(r) for r in rows]


async def entries_of(q: Reader, account_ids: Iterable[int]) -> dict[int, list[LedgerEntry]]:
    """`entries` of each of these accounts, in one query; accounts without entries are left out."""
    rows = await fetch_packed(
        q,
        f"SELECT {_ENTRY_SELECT} FROM points_ledger WHERE account_id IN (SELECT value FROM json_each(?))",
        (json_values(account_ids),),
        _ENTRY_COLUMNS,
    )
    rows.sort(key=_account_at_id)  # each account's entries in time order (`at` is text in time order)
    found: dict[int, list[LedgerEntry]] = defaultdict(list)
    # Read as one row of JSON: planning asks for the entries of every customer whose points may expire,
    # tens of thousands a slice.
    for row in rows:
        found[row[1]].append(_entry(row))
    return found


def _account_at_id(row: Sequence[Any]) -> tuple[Any, ...]:
    return (row[1], row[6], row[0])


class Unspent(NamedTuple):
    """Points of an account that never lost any (no negative entry): every lot it earned is still whole."""

    expiring: int  # points that expire within the range asked about
    soonest: datetime | None  # the next expiry of any of its points


async def unspent_expiring(
    q: Reader, account_ids: Iterable[int], after: datetime, upto: datetime
) -> tuple[dict[int, Unspent], list[int]]:
    """For each of these accounts that never lost points: the points expiring in (after, upto] and the
    first expiry after `after`, summed by SQLite. The other accounts' ids, in a list: their lots depend on
    what was spent from which (`bot.rules.points.remaining_lots`).

    Planning asks about tens of thousands of accounts a slice, most of which have only earned; read
    entry by entry and made into lots, they took a tenth of a planning run."""
    rows = await fetch_packed(
        q,
        """
        SELECT account_id, MIN(points) >= 0 AS unspent,
               SUM(CASE WHEN expires_at > ?2 AND expires_at <= ?3 THEN points ELSE 0 END) AS expiring,
               MIN(CASE WHEN expires_at > ?2 AND points > 0 THEN expires_at END) AS soonest
        FROM points_ledger WHERE account_id IN (SELECT value FROM json_each(?1)) GROUP BY account_id
        """,
        (json_values(account_ids), to_db(after), to_db(upto)),
        ("account_id", "unspent", "expiring", "soonest"),
    )
    unspent: dict[int, Unspent] = {}
    others: list[int] = []
    for account_id, whole, expiring, soonest in rows:
        if whole:
            unspent[account_id] = Unspent(expiring, from_db(soonest) if soonest else None)
        else:
            others.append(account_id)
    return unspent, others


async def balance(q: Reader, account_id: int) -> int:
    value = await q.fetch_value(
        "SELECT COALESCE(SUM(points), 0) FROM points_ledger WHERE account_id = ?", (account_id,)
    )
    return int(value)


async def entry_exists(q: Reader, external_id: str) -> bool:
    found = await q.fetch_value("SELECT 1 FROM points_ledger WHERE external_id = ?", (external_id,))
    return found is not None


async def accounts_with_expiry_due(q: Reader, now: datetime) -> list[int]:
    """Accounts holding a positive entry whose expiry has come and that has not been expired yet."""
    rows = await q.fetch_all(
        """
        SELECT DISTINCT account_id FROM points_ledger AS lot
        WHERE expires_at IS NOT NULL AND expires_at <= ? AND points > 0
          AND NOT EXISTS (SELECT 1 FROM points_ledger AS e WHERE e.external_id = 'expire:' || lot.id)
        """,
        (to_db(now),),
    )
    return [int(r[0]) for r in rows]


async def accounts_with_expiry_between(q: Reader, start: datetime, end: datetime) -> list[int]:
    rows = await q.fetch_all(
        "SELECT DISTINCT account_id FROM points_ledger "
        "WHERE expires_at > ? AND expires_at <= ? AND points > 0",
        (to_db(start), to_db(end)),
    )
    return [int(r[0]) for r in rows]


# -- purchases --------------------------------------------------------------------------------------


async def insert_purchase(
    tx: Tx,
    account_id: int,
    external_id: str,
    amount_minor: int,
    currency: str,
    at: datetime,
    now: datetime,
    *,
    source: str = "api",
    note: str | None = None,
) -> int | None:
    """The new purchase's row id; None (nothing written) when the shop reported this purchase before."""
    cursor = await tx.execute(
        """
        INSERT INTO purchases (account_id, external_id, amount_minor, currency, at, created_at, source, note)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (external_id) DO NOTHING
        """,
        (account_id, external_id, amount_minor, currency, to_db(at), to_db(now), source, note),
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


async def insert_items(tx: Tx, purchase_row_id: int, items: list[tuple[str, str, str, int]]) -> None:
    """Purchase lines as (sku, name, qty as decimal text, price in minor units)."""
    await tx.executemany(
        "INSERT INTO purchase_items (purchase_id, line, sku, name, qty, price_minor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (purchase_row_id, line, sku, name, qty, price)
            for line, (sku, name, qty, price) in enumerate(items, start=1)
        ],
    )


async def record_purchase(
    db: Database,
    account_id: int,
    external_id: str,
    amount_minor: int,
    currency: str,
    at: datetime,
    now: datetime,
) -> bool:
    """In its own transaction; False (and nothing written) when the shop reported this purchase before."""
    async with db.transaction() as tx:
        row_id = await insert_purchase(tx, account_id, external_id, amount_minor, currency, at, now)
        return row_id is not None


async def purchase_by_external_id(q: Reader, external_id: str) -> Purchase | None:
    row = await q.fetch_one("SELECT * FROM purchases WHERE external_id = ?", (external_id,))
    return _purchase(row) if row else None


async def purchase_count(q: Reader, account_id: int) -> int:
    value = await q.fetch_value("SELECT COUNT(*) FROM purchases WHERE account_id = ?", (account_id,))
    return int(value)


async def activity_since(q: Reader, account_id: int, since: datetime) -> tuple[int, int]:
    """(number of purchases, spend in minor units) since a moment."""
    row = await q.fetch_one(
        "SELECT COUNT(*), COALESCE(SUM(amount_minor), 0) FROM purchases WHERE account_id = ? AND at >= ?",
        (account_id, to_db(since)),
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def activity_of(q: Reader, account_ids: Iterable[int], since: datetime) -> dict[int, tuple[int, int]]:
    """`activity_since` of each of these accounts, in one query; accounts with no purchase are left out."""
    rows = await q.fetch_all(
        "SELECT account_id, COUNT(*), COALESCE(SUM(amount_minor), 0) FROM purchases "
        "WHERE account_id IN (SELECT value FROM json_each(?)) AND at >= ? GROUP BY account_id",
        (json_values(account_ids), to_db(since)),
    )
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


async def purchases_since(q: Reader, account_id: int, since: datetime) -> list[Purchase]:
    rows = await q.fetch_all(
        "SELECT * FROM purchases WHERE account_id = ? AND at >= ? ORDER BY at, id",
        (account_id, to_db(since)),
    )
    return [_purchase(r) for r in rows]


async def purchases(q: Reader, account_id: int) -> list[Purchase]:
    rows = await q.fetch_all("SELECT * FROM purchases WHERE account_id = ? ORDER BY at, id", (account_id,))
    return [_purchase(r) for r in rows]


async def first_purchase_at(q: Reader, account_id: int) -> datetime | None:
    value = await q.fetch_value("SELECT MIN(at) FROM purchases WHERE account_id = ?", (account_id,))
    return from_db(value) if value else None


# -- batches (CSV import): grouped reads and executemany writes ---------------------------------------


class NewEntry(NamedTuple):
    """A ledger entry to write (`insert_entries`)."""

    account_id: int
    kind: LedgerKind
    points: int
    reason: str
    actor: str
    at: datetime
    expires_at: datetime | None
    external_id: str | None


class PurchaseLine(Protocol):
    """A line of a purchase's receipt, as `insert_purchases` reads it."""

    @property
    def sku(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def qty(self) -> Decimal: ...

    @property
    def price_minor(self) -> int: ...


class NewPurchase(NamedTuple):
    """A purchase to write (`insert_purchases`), with its receipt's lines."""

    account_id: int
    external_id: str
    amount_minor: int
    currency: str
    at: datetime
    note: str | None
    items: Sequence[PurchaseLine] = ()


class PurchaseActivity(NamedTuple):
    """An account's purchases: how many in all, and how many and for how much since a moment."""

    purchases: int
    purchases_since: int
    spend_since_minor: int


async def insert_entries(tx: Tx, entries: Sequence[NewEntry]) -> None:
    """Add entries in order; one whose `external_id` was recorded before is left out, as in `insert_entry`."""
    await tx.executemany(
        "INSERT INTO points_ledger (account_id, kind, points, reason, actor, at, expires_at, external_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (external_id) DO NOTHING",
        [
            (
                e.account_id,
                e.kind.value,
                e.points,
                e.reason,
                e.actor,
                to_db(e.at),
                to_db(e.expires_at) if e.expires_at else None,
                e.external_id,
            )
            for e in entries
        ],
    )


async def insert_purchases(tx: Tx, purchases: Sequence[NewPurchase], now: datetime, *, source: str) -> None:
    """Add purchases none of which was recorded before (a repeated id is an error), with their lines."""
    stamp = to_db(now)
    await tx.executemany(
        "INSERT INTO purchases (account_id, external_id, amount_minor, currency, at, created_at, source, "
        "note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (p.account_id, p.external_id, p.amount_minor, p.currency, to_db(p.at), stamp, source, p.note)
            for p in purchases
        ],
    )
    with_lines = [p for p in purchases if p.items]
    if not with_lines:
        return
    rows = await tx.fetch_all(
        "SELECT external_id, id FROM purchases WHERE external_id IN (SELECT value FROM json_each(?))",
        (json_values(p.external_id for p in with_lines),),
    )
    row_ids = {str(r[0]): int(r[1]) for r in rows}
    await tx.executemany(
        "INSERT INTO purchase_items (purchase_id, line, sku, name, qty, price_minor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (row_ids[p.external_id], line, item.sku, item.name, str(item.qty), item.price_minor)
            for p in with_lines
            for line, item in enumerate(p.items, start=1)
        ],
    )


async def purchase_accounts(q: Reader, external_ids: Iterable[str]) -> dict[str, int]:
    """The account of each of these purchase ids that was recorded before; the others are left out."""
    rows = await q.fetch_all(
        "SELECT external_id, account_id FROM purchases WHERE external_id IN (SELECT value FROM json_each(?))",
        (json_values(external_ids),),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def purchase_activity(
    q: Reader, account_ids: Iterable[int], since: datetime
) -> dict[int, PurchaseActivity]:
    """`PurchaseActivity` of each of these accounts (`purchase_count` and `activity_since` at once);
    accounts without purchases are left out."""
    mark = to_db(since)
    rows = await q.fetch_all(
        """
        SELECT account_id, COUNT(*), COALESCE(SUM(at >= ?), 0),
               COALESCE(SUM(CASE WHEN at >= ? THEN amount_minor ELSE 0 END), 0)
        FROM purchases WHERE account_id IN (SELECT value FROM json_each(?)) GROUP BY account_id
        """,
        (mark, mark, json_values(account_ids)),
    )
    return {int(r[0]): PurchaseActivity(int(r[1]), int(r[2]), int(r[3])) for r in rows}


async def purchase_history(
    q: Reader, account_ids: Sequence[int]
) -> tuple[dict[int, list[datetime]], dict[int, dict[str, list[datetime]]]]:
    """For each of these accounts, the times of its purchases, and the times each product (sku) was
    bought: one pass over their purchases and lines, oldest first."""
    times: dict[int, list[datetime]] = defaultdict(list)
    by_sku: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    if not account_ids:
        return times, by_sku
    rows = await q.fetch_all(
        """
        SELECT p.account_id, p.id, p.at, i.sku FROM purchases p
        LEFT JOIN purchase_items i ON i.purchase_id = p.id
        WHERE p.account_id IN (SELECT value FROM json_each(?))
        ORDER BY p.account_id, p.at, p.id
        """,
        (json_values(account_ids),),
    )
    last_purchase = None
    at = None
    for account_id, purchase_id, at_text, sku in rows:
        if purchase_id != last_purchase:  # a purchase with several lines comes once per line
            last_purchase = purchase_id
            at = from_db(at_text)
            times[int(account_id)].append(at)
        if sku is not None and at is not None:
            by_sku[int(account_id)][str(sku)].append(at)
    return times, by_sku
