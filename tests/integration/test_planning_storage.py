"""What the planner reads and writes in bulk comes back exactly as stored, however it is carried.

A slice of customers travels from SQLite as one JSON array (`planning.customers_slice`, where SQLite writes
REALs exactly as text), and the planner's rows go into the outbox many to a statement
(`outbox.insert_many`); both must give what reading and writing row by row gives.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.clock import ManualClock, from_db, to_db
from bot.config import parse_config
from bot.models import LedgerKind
from bot.rules.pacing import zone_or
from bot.rules.points import expiring_soon
from bot.services.loyalty import LoyaltyService
from bot.storage import accounts, ledger, outbox, planning
from bot.storage.db import Database
from bot.storage.outbox import NewOutboxRow, OutboxState

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
KYIV = ZoneInfo("Europe/Kyiv")
FIRST_USER = 1000


async def _with_db(check: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bot.sqlite3")
        try:
            await db.migrate()
            await check(db)
        finally:
            await db.close()


# Any float SQLite stores, with the ones that 15 significant digits (JSON's REAL) would not bring back.
gaps = st.none() | st.floats(allow_nan=False, allow_infinity=False)
texts = st.none() | st.text(max_size=12)
zones = texts | st.sampled_from(["Europe/Kyiv", "America/New_York", "Asia/Tokyo", "Europe"])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(gaps, zones, texts, texts), min_size=1, max_size=60))
@example([(35.198622685185185, "Europe/Kyiv", "03-10", "SKU-1")])
@example([(0.1 + 0.2, None, None, None), (5e-324, "", "", ""), (-0.0, '"\\', "\n\x00", "ü 🙂")])
@example([(1.7976931348623157e308, None, None, None), (2.2250738585072014e-308, None, None, None)])
def test_a_slice_reads_back_what_is_stored(customers: list[tuple[Any, ...]]) -> None:
    # As JSON (where this SQLite writes REALs exactly as text), and row by row (where it does not).
    for as_json in (True, False):
        with patch.object(planning, "_reals_exact_as_text", as_json):
            asyncio.run(_with_db(lambda db: _check_slice(db, customers)))


async def test_this_sqlite_reads_slices_as_json(db: Database) -> None:
    """The probe of how SQLite writes REALs passes here: the benchmarks measure the JSON path."""
    assert await planning._reals_come_back_from_text(db)


async def _check_slice(db: Database, customers: list[tuple[Any, ...]]) -> None:
    stamp = to_db(T0)
    async with db.transaction() as tx:
        for n, (gap, timezone, birthday, sku) in enumerate(customers):
            user_id = FIRST_USER + n
            await tx.execute(
                "INSERT INTO customers (user_id, consent, consent_at, timezone, birthday, created_at, "
                "updated_at) VALUES (?, 'granted', ?, ?, ?, ?, ?)",
                (user_id, to_db(T0 - timedelta(days=n)), timezone, birthday, stamp, stamp),
            )
            if n % 3 == 2:
                continue  # no shop record
            await tx.execute(
                "INSERT INTO loyalty_accounts (id, user_id, created_at, purchase_count, first_purchase_at, "
                "last_purchase_at, median_gap_days, restock_sku, restock_due_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (n + 1, user_id, stamp, n, to_db(T0 - timedelta(days=n + 30)), stamp, gap, sku, stamp),
            )
    found = await planning.customers_slice(db, 0, 1000, KYIV, only_eligible=False)
    stored = await db.fetch_all(
        """
        SELECT c.user_id, c.timezone, c.birthday, a.id, a.median_gap_days, a.restock_sku,
               a.first_purchase_at, a.last_purchase_at, a.restock_due_at
        FROM customers c LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id ORDER BY c.user_id
        """
    )
    assert [r.user_id for r in found] == [r[0] for r in stored]
    for row, (_, timezone, birthday, account_id, gap, sku, first, last, restock_due) in zip(
        found, stored, strict=True
    ):
        # Their own zone when they gave a known one, the shop's otherwise.
        assert (row.zone, row.birthday, row.account_id) == (zone_or(timezone, KYIV), birthday, account_id)
        assert row.median_gap_days == gap and str(row.median_gap_days) == str(gap)  # -0.0 too
        assert row.first_purchase_at == (from_db(first) if first else None)
        assert row.last_purchase_at == (from_db(last) if last else None)
        assert row.restock == ((sku, from_db(restock_due)) if sku and restock_due else None)
        assert row.consent_granted_at == T0 - timedelta(days=row.user_id - FIRST_USER)
        assert row.reachable and row.due_mask == -1


async def test_customers_among_reads_those_asked_for_as_a_slice_reads_them(db: Database) -> None:
    """Given ids in any order, some of nobody: those customers in id order, read as `customers_slice`
    reads them; with `only_eligible`, those with consent granted who can be reached."""
    stamp = to_db(T0)
    async with db.transaction() as tx:
        for n in range(12):
            await tx.execute(
                "INSERT INTO customers (user_id, consent, consent_at, reachable, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    FIRST_USER + n,
                    "declined" if n % 4 == 1 else "granted",
                    stamp,
                    int(n % 4 != 2),
                    stamp,
                    stamp,
                ),
            )
            if n % 2 == 0:
                await tx.execute(
                    "INSERT INTO loyalty_accounts (id, user_id, created_at, purchase_count, "
                    "last_purchase_at) VALUES (?, ?, ?, ?, ?)",
                    (n + 1, FIRST_USER + n, stamp, n, stamp),
                )
    every = await planning.customers_slice(db, 0, 100, KYIV, only_eligible=False)
    asked = [FIRST_USER + n for n in (9, 3, 0, 10, 5, 6, 11)] + [FIRST_USER + 500, 7]
    found = await planning.customers_among(db, asked, KYIV, only_eligible=False)
    assert found == [row for row in every if row.user_id in asked]
    eligible = await planning.customers_among(db, asked, KYIV, only_eligible=True)
    assert [row.user_id - FIRST_USER for row in eligible] == [0, 3, 11]
    assert eligible == [row for row in found if row.consent_granted_at is not None and row.reachable]


# Rows that differ only in customer and period go in one statement, each as one text that SQLite splits
# again: periods and rule names with ":" and any other character must come back as they were, and rows
# whose key (customer, rule, step, period) differs are different rows however their parts read joined.
periods = st.sampled_from(["once", "2026-03-10", "SKU-1@2026-03-10"]) | st.text(max_size=10)
rule_names = st.sampled_from(["nps", "welcome", "a:b", "зима 🙂"])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), rule_names, st.integers(0, 11), periods), max_size=400),
    st.lists(st.integers(0, 40), max_size=20),
)
@example([(n % 41, "nps", 0, "once") for n in range(1001)], [])
@example([(n % 41, "welcome", 0, "once") for n in range(500)], [5, 6])
@example(
    [
        (1, "a:b", 10, ":x:"),
        (1, "a", 0, "b:10::x:"),
        (2, "nps", 1, ""),
        (3, "nps", 0, "\x00"),
        (4, "a:b", 2, "x\x00:"),
    ],
    [1, 2],
)
def test_rows_written_in_one_statement_are_those_written_one_by_one(
    rows: list[tuple[int, str, int, str]], before: list[int]
) -> None:
    asyncio.run(_with_db(lambda db: _check_insert(db, rows, before)))


def _row(user: int, rule: str, n: int, step: int = 0, period: str = "once") -> NewOutboxRow:
    held_out = n % 5 == 0
    return NewOutboxRow(
        FIRST_USER + user,
        rule,
        step,
        period,
        rule,
        n % 7,
        OutboxState.HELD_OUT if held_out else OutboxState.PLANNED,
        T0 + timedelta(minutes=n % 3),
        "held out" if held_out else None,
        campaign_id=n % 2 or None,
    )


async def _check_insert(db: Database, rows: list[tuple[int, str, int, str]], before: list[int]) -> None:
    for user in before:  # already planned, by an earlier run
        await outbox.insert_many(db, [_row(user, "nps", 10_000)], T0)
    new = [_row(user, rule, n, step, period) for n, (user, rule, step, period) in enumerate(rows)]
    written = await outbox.insert_many(db, new, T0)
    # One by one: the first row of each key goes in, unless an earlier run wrote the key.
    expected: dict[tuple[int, str, int, str], NewOutboxRow] = {}
    for row in [_row(user, "nps", 10_000) for user in before] + new:
        expected.setdefault(row.key, row)
    assert written == len(expected) - len(set(before))
    stored = await db.fetch_all(
        "SELECT user_id, rule, step, period, template, priority, state, reason, due_at, "
        "created_at, updated_at, campaign_id FROM outbox"
    )
    # In any order: rows alike but for customer and period go in together.
    assert sorted(tuple(r) for r in stored) == sorted(
        (
            r.user_id,
            r.rule,
            r.step,
            r.period,
            r.template,
            r.priority,
            r.state.value,
            r.reason,
            to_db(r.due_at),
            to_db(T0),
            to_db(T0),
            r.campaign_id,
        )
        for r in expected.values()
    )


# Points about to expire, for many accounts at once (`LoyaltyService.expiring_of`): summed by SQLite for
# accounts that only ever earned, worked out lot by lot for the others; both must give what
# `expiring_soon` gives on each account's entries.
entry_kinds = st.sampled_from([LedgerKind.EARN, LedgerKind.BONUS, LedgerKind.REDEEM, LedgerKind.EXPIRE])
ledger_entries = st.lists(
    st.tuples(
        st.integers(0, 3),  # account
        entry_kinds,
        st.integers(0, 60),  # points (taken off for redeem and expire)
        st.integers(-40, 0),  # at, days from now
        st.none() | st.integers(-10, 40),  # expires, days from now
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(ledger_entries, st.integers(1, 30))
@example([(0, LedgerKind.EARN, 10, -5, 3), (0, LedgerKind.EARN, 0, -5, 1)], 14)  # a lot of no points
@example([(1, LedgerKind.EARN, 10, -5, 3), (1, LedgerKind.REDEEM, 4, -1, None)], 14)
def test_points_expiring_for_many_accounts_are_each_accounts(
    entries: list[tuple[int, LedgerKind, int, int, int | None]], days: int
) -> None:
    asyncio.run(_with_db(lambda db: _check_expiring(db, entries, days)))


async def _check_expiring(
    db: Database, entries: list[tuple[int, LedgerKind, int, int, int | None]], days: int
) -> None:
    made = [await accounts.create(db, T0, card_code=f"C-{n}", phone=None, name=None) for n in range(4)]
    for account, kind, points, at, expires in entries:
        taken = kind in (LedgerKind.REDEEM, LedgerKind.EXPIRE)
        await ledger.append(
            db,
            made[account].id,
            kind,
            -points if taken else points,
            reason="test",
            actor="test",
            at=T0 + timedelta(days=at),
            expires_at=None if expires is None or taken else T0 + timedelta(days=expires),
        )
    config = parse_config({"database": {"path": str(db.path)}}, "test")
    found = await LoyaltyService(db, ManualClock(T0), config).expiring_of([a.id for a in made], days, T0)
    expected = {}
    for account in made:
        soon = expiring_soon(await ledger.entries(db, account.id), T0, T0 + timedelta(days=days))
        if soon is not None:
            expected[account.id] = soon
    assert found == expected
