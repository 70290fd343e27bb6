"""The points ledger, purchases, processed updates and the balance view, on a real database."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta

import pytest

from bot.clock import ManualClock
from bot.config import Config
from bot.models import LedgerKind, LoyaltyAccount, Tier
from bot.rules.points import Expiry
from bot.services.loyalty import LoyaltyService
from bot.storage import accounts, ledger, updates
from bot.storage.db import Database


@pytest.fixture
async def account(db: Database, clock: ManualClock) -> LoyaltyAccount:
    return await accounts.create(db, clock.now(), card_code="ZERNO-1", phone="+380501112233", name="Олена")


async def earn(db: Database, account_id: int, points: int, at, days: int = 365, external_id=None) -> bool:  # type: ignore[no-untyped-def]
    return await ledger.append(
        db,
        account_id,
        LedgerKind.EARN,
        points,
        reason="purchase",
        actor="api",
        at=at,
        expires_at=at + timedelta(days=days),
        external_id=external_id,
    )


# -- the ledger ------------------------------------------------------------------------------------


async def test_entries_are_stored_as_given(db: Database, clock: ManualClock, account: LoyaltyAccount) -> None:
    now = clock.now()
    assert await earn(db, account.id, 40, now, external_id="earn-1")
    assert await ledger.append(
        db, account.id, LedgerKind.REDEEM, -15, reason="coffee", actor="staff:7", at=now + timedelta(hours=1)
    )
    first, second = await ledger.entries(db, account.id)
    assert (first.kind, first.points, first.reason, first.actor) == (LedgerKind.EARN, 40, "purchase", "api")
    assert (first.at, first.expires_at, first.external_id) == (now, now + timedelta(days=365), "earn-1")
    assert (second.kind, second.points, second.expires_at, second.external_id) == (
        LedgerKind.REDEEM,
        -15,
        None,
        None,
    )
    assert [e.id for e in await ledger.entries(db, account.id, limit=1)] == [second.id]


async def test_entries_of_many_accounts_are_each_accounts_entries(db: Database, clock: ManualClock) -> None:
    now = clock.now()
    made = [
        await accounts.create(db, now, card_code=f"ZERNO-{n}", phone=None, name=f"Гість {n}")
        for n in range(3)
    ]
    # Out of time order, two at the same moment (then in id order), one that never expires, and a
    # reason with a quote and a newline in it.
    for n, account in enumerate(made[:2]):
        await earn(db, account.id, 10 + n, now + timedelta(days=2), external_id=f"late-{n}")
        await earn(db, account.id, 20 + n, now, external_id=f"early-{n}")
        await ledger.append(
            db, account.id, LedgerKind.ADJUST, -3, reason='"Кава"\nз собою', actor="staff:7", at=now
        )
    found = await ledger.entries_of(db, [a.id for a in made])
    assert set(found) == {made[0].id, made[1].id}  # the third has no entries
    for account in made[:2]:
        assert found[account.id] == await ledger.entries(db, account.id)
    assert await ledger.entries_of(db, []) == {}


async def test_the_ledger_is_append_only(db: Database, clock: ManualClock, account: LoyaltyAccount) -> None:
    await earn(db, account.id, 40, clock.now())
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE points_ledger SET points = 4000")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM points_ledger")
    assert [e.points for e in await ledger.entries(db, account.id)] == [40]


async def test_an_entry_with_a_known_external_id_is_written_once(
    db: Database, clock: ManualClock, account: LoyaltyAccount
) -> None:
    assert await earn(db, account.id, 40, clock.now(), external_id="till-7") is True
    assert await earn(db, account.id, 99, clock.now(), external_id="till-7") is False
    # Entries without an external id are never taken for repeats.
    assert await earn(db, account.id, 5, clock.now()) is True
    assert await earn(db, account.id, 5, clock.now()) is True
    assert sorted(e.points for e in await ledger.entries(db, account.id)) == [5, 5, 40]


async def test_ledger_kinds_are_checked(db: Database, clock: ManualClock, account: LoyaltyAccount) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO points_ledger (account_id, kind, points, actor, at) "
                "VALUES (?, 'gift', 5, 'x', ?)",
                (account.id, "2026-01-01T00:00:00+00:00"),
            )


async def test_a_purchase_is_recorded_once(db: Database, clock: ManualClock, account: LoyaltyAccount) -> None:
    now = clock.now()
    assert await ledger.record_purchase(db, account.id, "till-1", 12_550, "UAH", now, now) is True
    assert await ledger.record_purchase(db, account.id, "till-1", 99_999, "UAH", now, now) is False
    assert await ledger.record_purchase(db, account.id, "till-2", 1_000, "UAH", now, now) is True
    bought = await ledger.purchases(db, account.id)
    assert [(p.external_id, p.amount_minor, p.currency, p.at) for p in bought] == [
        ("till-1", 12_550, "UAH", now),
        ("till-2", 1_000, "UAH", now),
    ]


async def test_a_negative_purchase_amount_is_refused(
    db: Database, clock: ManualClock, account: LoyaltyAccount
) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await ledger.record_purchase(db, account.id, "till-x", -1, "UAH", clock.now(), clock.now())
    assert await ledger.purchases(db, account.id) == []


# -- processed updates -----------------------------------------------------------------------------


async def test_processed_updates(db: Database, clock: ManualClock) -> None:
    assert await updates.is_processed(db, 42, 1) is False
    await updates.mark_processed(db, 42, 1, clock.now())
    await updates.mark_processed(db, 42, 1, clock.now())  # a second mark is harmless
    assert await updates.is_processed(db, 42, 1) is True
    assert await updates.is_processed(db, 43, 1) is False  # per bot
    assert await updates.is_processed(db, 42, 2) is False


async def test_pruning_processed_updates(db: Database, clock: ManualClock) -> None:
    start = clock.now()
    await updates.mark_processed(db, 42, 1, start)
    await updates.mark_processed(db, 42, 2, start + timedelta(days=10))
    await updates.mark_processed(db, 42, 3, start + timedelta(days=20))
    assert await updates.prune(db, start + timedelta(days=10)) == 1  # strictly older only
    assert [await updates.is_processed(db, 42, n) for n in (1, 2, 3)] == [False, True, True]
    assert await updates.prune(db, start + timedelta(days=10)) == 0


# -- the balance view ------------------------------------------------------------------------------


@pytest.fixture
def loyalty_for(db: Database, clock: ManualClock, make_config: Callable[..., Config]):  # type: ignore[no-untyped-def]
    def make(**loyalty: object) -> LoyaltyService:
        return LoyaltyService(db, clock, make_config(loyalty=loyalty))

    return make


async def test_no_balance_without_a_linked_account(loyalty_for, account: LoyaltyAccount) -> None:  # type: ignore[no-untyped-def]
    assert await loyalty_for().balance_for_user(1001) is None


async def test_balance_points_and_next_expiry(
    db: Database, clock: ManualClock, account: LoyaltyAccount, loyalty_for
) -> None:  # type: ignore[no-untyped-def]
    now = clock.now()
    await earn(db, account.id, 30, now - timedelta(days=300))  # expires in 65 days
    await earn(db, account.id, 50, now - timedelta(days=100))  # expires in 265 days
    await ledger.append(db, account.id, LedgerKind.REDEEM, -10, reason="x", actor="api", at=now)
    view = await loyalty_for().balance_for_account(account)
    assert view.points == 70
    assert view.next_expiry == Expiry(20, now + timedelta(days=65))
    clock.advance(timedelta(days=66))
    view = await loyalty_for().balance_for_account(account)
    assert view.next_expiry == Expiry(50, now + timedelta(days=265))


async def test_balance_for_a_linked_user(
    db: Database, clock: ManualClock, account: LoyaltyAccount, loyalty_for
) -> None:  # type: ignore[no-untyped-def]
    await db_customer(db, 1001, clock)
    assert await accounts.link(db, account.id, 1001, clock.now())
    await earn(db, account.id, 12, clock.now())
    view = await loyalty_for().balance_for_user(1001)
    assert view is not None
    assert (view.account.id, view.points, view.tier) == (account.id, 12, Tier.NEW)


async def db_customer(db: Database, user_id: int, clock: ManualClock) -> None:
    from bot.models import TelegramProfile
    from bot.storage import customers

    await customers.upsert_profile(db, TelegramProfile(user_id, "X", None, None, "en"), clock.now())


async def buy(
    db: Database, account: LoyaltyAccount, clock: ManualClock, n: int, amount: int, days_ago: int
) -> None:
    at = clock.now() - timedelta(days=days_ago)
    await ledger.record_purchase(db, account.id, f"p-{n}", amount, "UAH", at, clock.now())


async def test_tiers_by_purchases_over_the_last_12_months(
    db: Database, clock: ManualClock, account: LoyaltyAccount, loyalty_for
) -> None:  # type: ignore[no-untyped-def]
    service = loyalty_for(tier_basis="purchases", regular_from=2, loyal_from=4)
    assert (await service.balance_for_account(account)).tier is Tier.NEW
    await buy(db, account, clock, 1, 100, days_ago=400)  # too old to count
    await buy(db, account, clock, 2, 100, days_ago=300)
    view = await service.balance_for_account(account)
    assert (view.tier, view.purchases_12m, view.spend_12m_minor) == (Tier.NEW, 1, 100)
    await buy(db, account, clock, 3, 100, days_ago=10)
    assert (await service.balance_for_account(account)).tier is Tier.REGULAR
    await buy(db, account, clock, 4, 100, days_ago=5)
    await buy(db, account, clock, 5, 100, days_ago=0)
    view = await service.balance_for_account(account)
    assert (view.tier, view.purchases_12m, view.spend_12m_minor) == (Tier.LOYAL, 4, 400)
    # A year later, the same purchases no longer count.
    clock.advance(timedelta(days=366))
    assert (await service.balance_for_account(account)).tier is Tier.NEW


async def test_tiers_by_spend_in_whole_currency_units(
    db: Database, clock: ManualClock, account: LoyaltyAccount, loyalty_for
) -> None:  # type: ignore[no-untyped-def]
    service = loyalty_for(tier_basis="spend", regular_from=500, loyal_from=2000)
    await buy(db, account, clock, 1, 49_999, days_ago=3)  # 499.99 UAH
    view = await service.balance_for_account(account)
    assert (view.tier, view.spend_12m_minor) == (Tier.NEW, 49_999)
    await buy(db, account, clock, 2, 1, days_ago=2)  # exactly 500.00
    assert (await service.balance_for_account(account)).tier is Tier.REGULAR
    await buy(db, account, clock, 3, 150_000, days_ago=1)
    view = await service.balance_for_account(account)
    assert (view.tier, view.purchases_12m) == (Tier.LOYAL, 3)


async def test_spend_tiers_follow_the_currency_precision(
    db: Database, clock: ManualClock, make_config: Callable[..., Config], account: LoyaltyAccount
) -> None:
    # Yen have no minor unit: 600 in the database is 600 yen.
    config = make_config(
        shop={"currency": "JPY"}, loyalty={"tier_basis": "spend", "regular_from": 500, "loyal_from": 5000}
    )
    await ledger.record_purchase(db, account.id, "jp-1", 600, "JPY", clock.now(), clock.now())
    view = await LoyaltyService(db, clock, config).balance_for_account(account)
    assert view.tier is Tier.REGULAR
