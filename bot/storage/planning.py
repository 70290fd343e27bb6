"""Read-only SQL that gathers what the nudge planner needs, one slice of customers at a time.

Slices keep memory flat however many customers the shop has; each query uses an index.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from bot.clock import from_db
from bot.storage.db import Reader


@dataclass(frozen=True)
class CustomerRow:
    user_id: int
    consent: str
    consent_at: datetime | None
    reachable: bool
    frequency: str
    paused_until: datetime | None
    timezone: str | None
    birthday: str | None
    account_id: int | None
    purchases: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    no_win_back: bool = False


def _time(text: str | None) -> datetime | None:
    return from_db(text) if text else None


async def customers_slice(
    q: Reader, after_user: int, limit: int, *, only_eligible: bool
) -> list[CustomerRow]:
    """Customers with user_id > after_user, in id order, with their purchase summary."""
    where = "c.user_id > ?"
    if only_eligible:
        where += " AND c.consent = 'granted' AND c.reachable = 1"
    rows = await q.fetch_all(
        f"""
        SELECT c.user_id, c.consent, c.consent_at, c.reachable, c.frequency, c.paused_until, c.timezone,
               c.birthday, c.no_win_back, a.id AS account_id,
               (SELECT COUNT(*) FROM purchases p WHERE p.account_id = a.id) AS purchases,
               (SELECT MIN(at) FROM purchases p WHERE p.account_id = a.id) AS first_at,
               (SELECT MAX(at) FROM purchases p WHERE p.account_id = a.id) AS last_at
        FROM customers c LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id
        WHERE {where}
        ORDER BY c.user_id LIMIT ?
        """,
        (after_user, limit),
    )
    return [
        CustomerRow(
            user_id=r["user_id"],
            consent=r["consent"],
            consent_at=_time(r["consent_at"]),
            reachable=bool(r["reachable"]),
            frequency=r["frequency"],
            paused_until=_time(r["paused_until"]),
            timezone=r["timezone"],
            birthday=r["birthday"],
            account_id=r["account_id"],
            purchases=int(r["purchases"] or 0),
            first_purchase_at=_time(r["first_at"]),
            last_purchase_at=_time(r["last_at"]),
            no_win_back=bool(r["no_win_back"]),
        )
        for r in rows
    ]


async def purchase_times(q: Reader, account_ids: list[int]) -> dict[int, list[datetime]]:
    """All purchase times of these accounts (for each customer's own rhythm)."""
    if not account_ids:
        return {}
    rows = await q.fetch_all(
        "SELECT account_id, at FROM purchases WHERE account_id IN (SELECT value FROM json_each(?)) "
        "ORDER BY account_id, at",
        (json.dumps(account_ids),),
    )
    out: dict[int, list[datetime]] = defaultdict(list)
    for account_id, at in rows:
        out[int(account_id)].append(from_db(at))
    return out


async def product_purchase_times(q: Reader, account_ids: list[int]) -> dict[int, dict[str, list[datetime]]]:
    """For each account, the times each product (sku) was bought (for restock reminders)."""
    if not account_ids:
        return {}
    rows = await q.fetch_all(
        """
        SELECT p.account_id, i.sku, p.at FROM purchase_items i JOIN purchases p ON p.id = i.purchase_id
        WHERE p.account_id IN (SELECT value FROM json_each(?))
        ORDER BY p.account_id, i.sku, p.at
        """,
        (json.dumps(account_ids),),
    )
    out: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    for account_id, sku, at in rows:
        out[int(account_id)][str(sku)].append(from_db(at))
    return out


async def purchase_history(
    q: Reader, account_ids: list[int]
) -> tuple[dict[int, list[datetime]], dict[int, dict[str, list[datetime]]]]:
    """`purchase_times` and `product_purchase_times` of these accounts from one pass over their purchases
    (the planner needs both for the same accounts; two queries read every purchase twice)."""
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
        (json.dumps(account_ids),),
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


async def favourite_product(q: Reader, account_id: int) -> str | None:
    """The product this customer bought most often (by number of purchases), if any."""
    value = await q.fetch_value(
        """
        SELECT i.name FROM purchase_items i JOIN purchases p ON p.id = i.purchase_id
        WHERE p.account_id = ? GROUP BY i.sku ORDER BY COUNT(DISTINCT p.id) DESC, MAX(p.at) DESC LIMIT 1
        """,
        (account_id,),
    )
    return str(value) if value else None


async def product_name(q: Reader, account_id: int, sku: str) -> str | None:
    value = await q.fetch_value(
        """
        SELECT i.name FROM purchase_items i JOIN purchases p ON p.id = i.purchase_id
        WHERE p.account_id = ? AND i.sku = ? ORDER BY p.at DESC LIMIT 1
        """,
        (account_id, sku),
    )
    return str(value) if value else None


async def last_purchase_at(q: Reader, account_id: int) -> datetime | None:
    value = await q.fetch_value("SELECT MAX(at) FROM purchases WHERE account_id = ?", (account_id,))
    return from_db(value) if value else None


async def iter_customers(
    q: Reader, *, only_eligible: bool, slice_size: int = 20_000
) -> AsyncIterator[CustomerRow]:
    """Every customer in id order, a slice at a time (memory stays flat however many there are)."""
    after = 0
    while rows := await customers_slice(q, after, slice_size, only_eligible=only_eligible):
        after = rows[-1].user_id
        for row in rows:
            yield row
