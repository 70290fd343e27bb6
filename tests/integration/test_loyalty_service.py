"""LoyaltyService on a real SQLite file: purchases, bonuses, tiers, redeem/adjust, expiry, birthdays,
referrals.

Time only moves through a ManualClock; messages go to a recording notifier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import Config
from bot.models import LedgerKind, TelegramProfile, Tier
from bot.notify import TextKey
from bot.rules.earning import add_months
from bot.services.customers import CustomerService, LinkResult
from bot.services.loyalty import (
    LoyaltyError,
    LoyaltyService,
    PurchaseInput,
    PurchaseItem,
    PurchaseStatus,
    ReferralResult,
)
from bot.storage import accounts, customers, ledger
from bot.storage.db import Database

PHONE = "+380501112233"


class RecordingNotifier:
    """Stands in for Telegram: remembers what would have been sent to whom."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, dict[str, str | int]]] = []

    async def notify(self, user_id: int, key: str, **args: str | int) -> bool:
        self.calls.append((user_id, key, dict(args)))
        return True

    def take(self) -> list[tuple[int, str, dict[str, str | int]]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def make_service(
    db: Database, clock: ManualClock, make_config: Callable[..., Config], notifier: RecordingNotifier
) -> Callable[..., LoyaltyService]:
    """`make_service(first_purchase_bonus=20, ...)`: a service with those [loyalty] settings."""

    def make(**loyalty: Any) -> LoyaltyService:
        return LoyaltyService(db, clock, make_config(loyalty=loyalty), notifier)

    return make


@pytest.fixture
def service(make_service: Callable[..., LoyaltyService]) -> LoyaltyService:
    """Defaults: 5 % back rounded down, points expire after 12 months, no bonuses."""
    return make_service()


def buy(purchase_id: str, amount_minor: int, at: datetime, **who: Any) -> PurchaseInput:
    return PurchaseInput(purchase_id=purchase_id, amount_minor=amount_minor, currency="UAH", at=at, **who)


async def add_customer(db: Database, clock: ManualClock, user_id: int, name: str = "Olena") -> None:
    await customers.upsert_profile(db, TelegramProfile(user_id, name, None, None, "uk"), clock.now())


async def linked_account(
    db: Database, clock: ManualClock, user_id: int, *, card: str | None = None, phone: str | None = None
) -> int:
    """A customer in Telegram with a shop record linked to them; the record's id."""
    await add_customer(db, clock, user_id)
    account = await accounts.create(db, clock.now(), card_code=card, phone=phone)
    assert await accounts.link(db, account.id, user_id, clock.now())
    return account.id


async def entries_of(db: Database, account_id: int) -> list[tuple[LedgerKind, int, str]]:
    return [(e.kind, e.points, e.reason) for e in await ledger.entries(db, account_id)]


async def count(db: Database, table: str) -> int:
    return int(await db.fetch_value(f"SELECT COUNT(*) FROM {table}"))


async def points(db: Database, account_id: int) -> int:
    return await ledger.balance(db, account_id)


# -- purchases ----------------------------------------------------------------------------------------


async def test_a_purchase_earns_exact_points_that_expire_in_twelve_months(
    service: LoyaltyService, db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    at = clock.now() - timedelta(hours=2)
    result = await service.record_purchase(
        buy(
            "till-1",
            12550,
            at,
            card="zerno-1",
            items=(PurchaseItem("COF-1", "Coffee beans", Decimal("0.25"), 12550),),
            note="morning",
        ),
        actor="api",
        source="api",
    )
    assert result.status is PurchaseStatus.CREATED
    assert (result.account_id, result.user_id, result.points_earned, result.bonus_points) == (
        account_id,
        1001,
        6,
        0,
    )
    assert (result.tier_before, result.tier_after, result.referrer_rewarded) == (Tier.NEW, Tier.NEW, None)
    [entry] = await ledger.entries(db, account_id)
    assert (entry.kind, entry.points, entry.reason, entry.actor) == (LedgerKind.EARN, 6, "purchase", "api")
    assert entry.at == at
    assert entry.expires_at == datetime(2027, 3, 10, 7, 0, tzinfo=UTC)
    assert entry.external_id == "purchase:till-1"
    row = await db.fetch_one("SELECT * FROM purchases")
    assert row is not None
    assert (row["external_id"], row["amount_minor"], row["currency"], row["source"], row["note"]) == (
        "till-1",
        12550,
        "UAH",
        "api",
        "morning",
    )
    item = await db.fetch_one("SELECT * FROM purchase_items")
    assert item is not None
    assert (item["line"], item["sku"], item["qty"], item["price_minor"]) == (1, "COF-1", "0.25", 12550)
    assert notifier.calls == []


@pytest.mark.parametrize(
    ("rounding", "expected"), [("down", 6), ("half_up", 6), ("up", 7)], ids=["down", "half_up", "up"]
)
async def test_the_configured_rounding_is_used(
    make_service: Callable[..., LoyaltyService],
    db: Database,
    clock: ManualClock,
    rounding: str,
    expected: int,
) -> None:
    service = make_service(rounding=rounding, cashback_percent="5")
    result = await service.record_purchase(
        buy("p", 12550, clock.now(), card="C-1"), actor="api", source="api"
    )
    assert result.points_earned == expected
    assert await points(db, result.account_id) == expected


async def test_the_same_purchase_id_twice_earns_once(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    first = await service.record_purchase(
        buy("till-1", 20000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    before = await ledger.entries(db, account_id)
    clock.advance(timedelta(hours=1))
    # Redelivered by the till, even with a different amount: the first report stands.
    again = await service.record_purchase(
        buy("till-1", 99900, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert first.status is PurchaseStatus.CREATED
    assert again.status is PurchaseStatus.DUPLICATE
    assert (again.account_id, again.user_id, again.points_earned, again.bonus_points) == (
        account_id,
        1001,
        0,
        0,
    )
    assert await ledger.entries(db, account_id) == before
    assert await points(db, account_id) == 10
    assert await count(db, "purchases") == 1


async def test_a_purchase_for_an_unknown_phone_waits_for_its_owner(
    service: LoyaltyService, db: Database, clock: ManualClock, config: Config
) -> None:
    first = await service.record_purchase(
        buy("p1", 10000, clock.now(), phone="050 111 22 33"), actor="api", source="api"
    )
    second = await service.record_purchase(
        buy("p2", 30000, clock.now(), phone=PHONE), actor="api", source="api"
    )
    assert first.account_id == second.account_id
    assert first.user_id is None
    account = await accounts.get(db, first.account_id)
    assert account is not None
    assert (account.phone, account.card_code, account.user_id) == (PHONE, None, None)
    assert await count(db, "loyalty_accounts") == 1
    assert await service.balance_for_user(1001) is None

    await add_customer(db, clock, 1001)
    linked = await CustomerService(db, clock, config).link_phone(1001, "+380 50 111 22 33", 1001, "Olena")
    assert linked is LinkResult.LINKED
    view = await service.balance_for_user(1001)
    assert view is not None
    assert (view.account.id, view.points, view.purchases_12m, view.spend_12m_minor) == (
        first.account_id,
        20,
        2,
        40000,
    )
    third = await service.record_purchase(
        buy("p3", 2000, clock.now(), phone=PHONE), actor="api", source="api"
    )
    assert (third.account_id, third.user_id) == (first.account_id, 1001)


async def test_a_card_and_a_phone_of_different_customers_are_refused(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    await accounts.create(db, clock.now(), card_code="ZERNO-1")
    await accounts.create(db, clock.now(), phone=PHONE)
    with pytest.raises(LoyaltyError) as caught:
        await service.record_purchase(
            buy("p1", 10000, clock.now(), card="ZERNO-1", phone=PHONE), actor="api", source="api"
        )
    assert (caught.value.field, caught.value.key) == ("customer", "error-card-phone-mismatch")
    assert await count(db, "purchases") == 0
    assert await count(db, "points_ledger") == 0


async def test_a_card_and_a_phone_of_the_same_customer_are_fine(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    account = await accounts.create(db, clock.now(), card_code="ZERNO-1", phone=PHONE)
    result = await service.record_purchase(
        buy("p1", 10000, clock.now(), card="ZERNO-1", phone="0501112233"), actor="api", source="api"
    )
    assert result.account_id == account.id
    assert await points(db, account.id) == 5


@pytest.mark.parametrize(
    ("change", "field", "key"),
    [
        ({"purchase_id": " "}, "purchase_id", "error-purchase-id"),
        ({"currency": "EUR"}, "currency", "error-currency"),
        ({"amount_minor": -1}, "amount", "error-amount"),
        ({"at": datetime(2026, 3, 10, 9, 0)}, "at", "error-time"),
        ({"at": datetime(2026, 3, 11, 9, 0, 1, tzinfo=UTC)}, "at", "error-time-future"),
        ({"card": None}, "customer", "error-customer-missing"),
        ({"card": "no"}, "customer.card", "error-card"),
        ({"card": None, "phone": "12"}, "customer.phone", "error-phone"),
        ({"card": None, "account_id": 999}, "customer", "error-customer-unknown"),
    ],
)
async def test_bad_purchases_are_refused_and_nothing_is_written(
    service: LoyaltyService, db: Database, clock: ManualClock, change: dict[str, Any], field: str, key: str
) -> None:
    good = {"purchase_id": "p1", "amount_minor": 100, "currency": "UAH", "at": clock.now(), "card": "ZERNO-1"}
    with pytest.raises(LoyaltyError) as caught:
        await service.record_purchase(PurchaseInput(**{**good, **change}), actor="api", source="api")
    assert (caught.value.field, caught.value.key) == (field, key)
    assert (
        await count(db, "purchases"),
        await count(db, "points_ledger"),
        await count(db, "loyalty_accounts"),
    ) == (
        0,
        0,
        0,
    )


async def test_the_first_purchase_bonus_is_paid_once(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(first_purchase_bonus=20)
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    first = await service.record_purchase(
        buy("p1", 10000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    duplicate = await service.record_purchase(
        buy("p1", 10000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    second = await service.record_purchase(
        buy("p2", 10000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert (first.points_earned, first.bonus_points) == (5, 20)
    assert duplicate.status is PurchaseStatus.DUPLICATE
    assert (second.points_earned, second.bonus_points) == (5, 0)
    assert await entries_of(db, account_id) == [
        (LedgerKind.EARN, 5, "purchase"),
        (LedgerKind.BONUS, 20, "first-purchase"),
        (LedgerKind.EARN, 5, "purchase"),
    ]
    assert await points(db, account_id) == 30


async def test_a_zero_amount_purchase_counts_but_earns_nothing(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    result = await service.record_purchase(
        buy("p0", 0, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert (result.status, result.points_earned) == (PurchaseStatus.CREATED, 0)
    assert await count(db, "purchases") == 1
    assert await count(db, "points_ledger") == 0


# -- batches ------------------------------------------------------------------------------------------


async def test_a_batch_is_all_or_nothing(service: LoyaltyService, db: Database, clock: ManualClock) -> None:
    now = clock.now()
    batch = [
        buy("b1", 10000, now, phone=PHONE),
        buy("b2", 20000, now, card="NEW-CARD"),
        buy("b3", 30000, now, account_id=999),  # fails inside the transaction, after two were written
    ]
    with pytest.raises(LoyaltyError) as caught:
        await service.record_purchases(batch, actor="import", source="import")
    assert caught.value.key == "error-customer-unknown"
    for table in ("purchases", "points_ledger", "loyalty_accounts", "purchase_items"):
        assert await count(db, table) == 0, table

    results = await service.record_purchases(batch[:2], actor="import", source="import")
    assert [(r.status, r.points_earned) for r in results] == [
        (PurchaseStatus.CREATED, 5),
        (PurchaseStatus.CREATED, 10),
    ]
    again = await service.record_purchases(batch[:2], actor="import", source="import")
    assert [r.status for r in again] == [PurchaseStatus.DUPLICATE, PurchaseStatus.DUPLICATE]
    assert await count(db, "purchases") == 2
    assert await count(db, "points_ledger") == 2


async def test_a_batch_with_an_invalid_line_writes_nothing(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    now = clock.now()
    batch = [
        buy("b1", 10000, now, phone=PHONE),
        buy("b2", 20000, now, card="C-2"),
        buy("b3", -5, now, card="C-3"),
    ]
    with pytest.raises(LoyaltyError) as caught:
        await service.record_purchases(batch, actor="import", source="import")
    assert caught.value.key == "error-amount"
    assert await count(db, "purchases") == 0
    assert await count(db, "loyalty_accounts") == 0


async def test_the_same_id_twice_in_one_batch_counts_once(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    now = clock.now()
    results = await service.record_purchases(
        [buy("b1", 10000, now, card="C-1"), buy("b1", 10000, now, card="C-1")],
        actor="import",
        source="import",
    )
    assert [r.status for r in results] == [PurchaseStatus.CREATED, PurchaseStatus.DUPLICATE]
    assert await points(db, results[0].account_id) == 5


# -- tiers --------------------------------------------------------------------------------------------


async def test_tiers_by_purchases_and_the_tier_up_notices(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(tier_basis="purchases", regular_from=3, loyal_from=5)
    await linked_account(db, clock, 1001, card="ZERNO-1")
    tiers = []
    for n in range(1, 7):
        clock.advance(timedelta(days=1))
        result = await service.record_purchase(
            buy(f"p{n}", 100, clock.now(), card="ZERNO-1"), actor="api", source="api"
        )
        tiers.append((result.tier_before, result.tier_after))
    assert tiers == [
        (Tier.NEW, Tier.NEW),
        (Tier.NEW, Tier.NEW),
        (Tier.NEW, Tier.REGULAR),
        (Tier.REGULAR, Tier.REGULAR),
        (Tier.REGULAR, Tier.LOYAL),
        (Tier.LOYAL, Tier.LOYAL),
    ]
    calls = notifier.take()
    assert calls == [(1001, "tier-up", {"tier": "tier-regular"}), (1001, "tier-up", {"tier": "tier-loyal"})]
    assert all(isinstance(args["tier"], TextKey) for _, _, args in calls)
    view = await service.balance_for_user(1001)
    assert view is not None
    assert (view.tier, view.purchases_12m) == (Tier.LOYAL, 6)


async def test_tiers_by_spend_count_whole_currency_units(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(tier_basis="spend", regular_from=1000, loyal_from=5000)
    await linked_account(db, clock, 1001, card="ZERNO-1")

    async def spend(purchase_id: str, amount_minor: int) -> tuple[Tier, Tier]:
        result = await service.record_purchase(
            buy(purchase_id, amount_minor, clock.now(), card="ZERNO-1"), actor="api", source="api"
        )
        return result.tier_before, result.tier_after

    assert await spend("s1", 99999) == (Tier.NEW, Tier.NEW)  # 999.99 UAH
    assert notifier.take() == []
    assert await spend("s2", 1) == (Tier.NEW, Tier.REGULAR)  # 1 000.00 UAH
    assert notifier.take() == [(1001, "tier-up", {"tier": "tier-regular"})]
    assert await spend("s3", 399999) == (Tier.REGULAR, Tier.REGULAR)  # 4 999.99 UAH
    assert await spend("s4", 1) == (Tier.REGULAR, Tier.LOYAL)
    assert notifier.take() == [(1001, "tier-up", {"tier": "tier-loyal"})]


async def test_purchases_older_than_a_year_do_not_count_for_the_tier(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(tier_basis="purchases", regular_from=2, loyal_from=5)
    await linked_account(db, clock, 1001, card="ZERNO-1")
    await service.record_purchase(buy("old", 100, clock.now(), card="ZERNO-1"), actor="api", source="api")
    clock.advance(timedelta(days=366))
    result = await service.record_purchase(
        buy("new", 100, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert (result.tier_before, result.tier_after) == (Tier.NEW, Tier.NEW)
    assert notifier.calls == []


async def test_an_unlinked_shop_record_gets_no_tier_up_message(
    make_service: Callable[..., LoyaltyService], clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(tier_basis="purchases", regular_from=1, loyal_from=2)
    result = await service.record_purchase(
        buy("p1", 100, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert result.tier_after is Tier.REGULAR
    assert result.notices == []
    assert notifier.calls == []


# -- redeem and adjust --------------------------------------------------------------------------------


async def test_redeem_never_goes_below_zero_and_notifies_the_customer(
    service: LoyaltyService, db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    await service.record_purchase(buy("p1", 60000, clock.now(), card="ZERNO-1"), actor="api", source="api")
    assert await points(db, account_id) == 30

    with pytest.raises(LoyaltyError) as caught:
        await service.redeem(account_id, 31, actor="staff:1", operation_id="r1")
    assert (caught.value.key, caught.value.args_for_text) == ("error-not-enough-points", {"balance": 30})
    for bad in (0, -5):
        with pytest.raises(LoyaltyError) as caught:
            await service.redeem(account_id, bad, actor="staff:1", operation_id="r0")
        assert caught.value.key == "error-points-positive"
    assert await points(db, account_id) == 30
    assert notifier.take() == []

    assert await service.redeem(account_id, 10, actor="staff:1", operation_id="r2") == 20
    assert notifier.take() == [(1001, "points-redeemed", {"points": 10, "balance": 20})]
    # The same operation again (a redelivered message): nothing more is spent or said.
    assert await service.redeem(account_id, 10, actor="staff:1", operation_id="r2") == 20
    assert notifier.take() == []
    assert await service.redeem(account_id, 20, actor="staff:1", operation_id="r3") == 0
    with pytest.raises(LoyaltyError):
        await service.redeem(account_id, 1, actor="staff:1", operation_id="r4")
    assert await entries_of(db, account_id) == [
        (LedgerKind.EARN, 30, "purchase"),
        (LedgerKind.REDEEM, -10, "redeem"),
        (LedgerKind.REDEEM, -20, "redeem"),
    ]
    spent = (await ledger.entries(db, account_id))[1]
    assert (spent.actor, spent.external_id, spent.expires_at) == ("staff:1", "r2", None)


async def test_redeem_on_an_unlinked_record_tells_no_one(
    service: LoyaltyService, db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    result = await service.record_purchase(
        buy("p1", 60000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )
    assert await service.redeem(result.account_id, 5, actor="staff:1", operation_id="r1") == 25
    assert notifier.calls == []


async def test_adjust_both_ways(service: LoyaltyService, db: Database, clock: ManualClock) -> None:
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    assert await service.adjust(account_id, 15, "welcome gift", actor="staff:1", operation_id="a1") == 15
    assert await service.adjust(account_id, 15, "welcome gift", actor="staff:1", operation_id="a1") == 15
    assert await service.adjust(account_id, -4, "typo", actor="staff:1", operation_id="a2") == 11
    with pytest.raises(LoyaltyError) as caught:
        await service.adjust(account_id, -12, "too much", actor="staff:1", operation_id="a3")
    assert (caught.value.key, caught.value.args_for_text) == ("error-not-enough-points", {"balance": 11})
    with pytest.raises(LoyaltyError) as caught:
        await service.adjust(account_id, 0, "nothing", actor="staff:1", operation_id="a4")
    assert caught.value.key == "error-points-nonzero"
    assert await service.adjust(account_id, -11, "all of it", actor="staff:1", operation_id="a5") == 0
    found = await ledger.entries(db, account_id)
    assert [(e.kind, e.points, e.reason) for e in found] == [
        (LedgerKind.ADJUST, 15, "welcome gift"),
        (LedgerKind.ADJUST, -4, "typo"),
        (LedgerKind.ADJUST, -11, "all of it"),
    ]
    assert found[0].expires_at == add_months(clock.now(), 12)
    assert found[1].expires_at is None


# -- expiry -------------------------------------------------------------------------------------------


async def test_points_expire_exactly_at_their_time_and_only_once(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(points_expire_months=1)
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    earned_at = clock.now()  # 2026-03-10 09:00 UTC
    await service.record_purchase(buy("p1", 20000, earned_at, card="ZERNO-1"), actor="api", source="api")
    due = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    assert add_months(earned_at, 1) == due

    clock.set(due - timedelta(seconds=1))
    assert await service.expire_due_points() == 0
    assert await points(db, account_id) == 10

    clock.set(due)
    assert await service.expire_due_points() == 10
    assert await points(db, account_id) == 0
    expired = (await ledger.entries(db, account_id))[-1]
    assert (expired.kind, expired.points, expired.at, expired.actor) == (
        LedgerKind.EXPIRE,
        -10,
        due,
        "system",
    )

    clock.advance(timedelta(days=3))
    assert await service.expire_due_points() == 0
    assert await count(db, "points_ledger") == 2


async def test_expiry_takes_only_the_unspent_rest_oldest_first(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(points_expire_months=1)
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    d = clock.now()
    await service.record_purchase(buy("old", 20000, d, card="ZERNO-1"), actor="api", source="api")  # 10
    clock.advance(timedelta(days=5))
    await service.record_purchase(
        buy("new", 40000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )  # 20
    clock.advance(timedelta(days=1))
    assert await service.redeem(account_id, 4, actor="staff:1", operation_id="r1") == 26  # from the old lot

    clock.set(add_months(d, 1))
    assert await service.expire_due_points() == 6
    assert await points(db, account_id) == 20
    assert await service.expire_due_points() == 0

    clock.set(add_months(d + timedelta(days=5), 1) - timedelta(seconds=1))
    assert await service.expire_due_points() == 0
    assert await points(db, account_id) == 20
    clock.advance(timedelta(seconds=1))
    assert await service.expire_due_points() == 20
    assert await points(db, account_id) == 0
    assert [p for kind, p, _ in await entries_of(db, account_id) if kind is LedgerKind.EXPIRE] == [-6, -20]


async def test_spending_more_than_the_oldest_lot_moves_on_to_the_next(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(points_expire_months=1)
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    d = clock.now()
    await service.record_purchase(buy("old", 20000, d, card="ZERNO-1"), actor="api", source="api")  # 10
    clock.advance(timedelta(days=5))
    await service.record_purchase(
        buy("new", 40000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )  # 20
    assert await service.redeem(account_id, 15, actor="staff:1", operation_id="r1") == 15

    clock.set(add_months(d, 1))
    assert await service.expire_due_points() == 0  # the old lot was spent in full
    clock.set(add_months(d + timedelta(days=5), 1))
    assert await service.expire_due_points() == 15
    assert await points(db, account_id) == 0


async def test_expiring_within_lists_who_loses_what_and_when(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(points_expire_months=1)
    olena = await linked_account(db, clock, 1001, card="ZERNO-1")
    d = clock.now()
    await service.record_purchase(buy("o1", 20000, d, card="ZERNO-1"), actor="api", source="api")  # 10
    await service.redeem(olena, 4, actor="staff:1", operation_id="r1")
    clock.advance(timedelta(days=5))
    ivan = await service.record_purchase(
        buy("i1", 40000, clock.now(), card="IVAN-2"), actor="api", source="api"
    )
    clock.advance(timedelta(days=1))
    await service.record_purchase(
        buy("o2", 10000, clock.now(), card="ZERNO-1"), actor="api", source="api"
    )  # 5

    first_due = add_months(d, 1)  # Olena's 6 remaining points from o1
    ivan_due = add_months(d + timedelta(days=5), 1)
    clock.set(first_due - timedelta(days=3))

    found = await service.expiring_within(3)
    assert [(a.id, pts, at) for a, pts, at in found] == [(olena, 6, first_due)]
    assert await service.expiring_within(2) == []

    found = await service.expiring_within(8)  # Ivan's expire exactly 8 days from now: included
    assert sorted((a.id, pts, at) for a, pts, at in found) == [
        (olena, 6, first_due),
        (ivan.account_id, 20, ivan_due),
    ]
    found = await service.expiring_within(9)  # Olena's second lot (5 more) expires 9 days from now
    assert sorted((a.id, pts, at) for a, pts, at in found) == [
        (olena, 11, first_due),
        (ivan.account_id, 20, ivan_due),
    ]

    clock.set(first_due)
    await service.expire_due_points()
    found = await service.expiring_within(5)  # expired points are gone; Olena's next lot is 6 days away
    assert [(a.id, pts, at) for a, pts, at in found] == [(ivan.account_id, 20, ivan_due)]


# -- birthdays ----------------------------------------------------------------------------------------


async def test_birthday_bonus_once_a_year_on_the_day_in_the_shop_zone(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(birthday_bonus=100)
    account_id = await linked_account(db, clock, 1001, card="ZERNO-1")
    assert await service.set_birthday(1001, "03-14")
    assert await service.birthday(1001) == "03-14"

    clock.set(datetime(2026, 3, 13, 21, 59, 59, tzinfo=UTC))  # 23:59:59 on 13 March in Kyiv (UTC+2)
    assert await service.pay_birthday_bonuses() == 0
    clock.set(datetime(2026, 3, 13, 22, 0, tzinfo=UTC))  # midnight of the 14th in Kyiv, still the 13th in UTC
    assert await service.pay_birthday_bonuses() == 1
    assert notifier.take() == [(1001, "birthday-bonus", {"points": 100})]
    clock.set(datetime(2026, 3, 14, 21, 59, tzinfo=UTC))  # later the same day in Kyiv
    assert await service.pay_birthday_bonuses() == 0
    assert notifier.take() == []
    assert await points(db, account_id) == 100
    clock.set(datetime(2026, 3, 14, 22, 0, tzinfo=UTC))  # the 15th in Kyiv
    assert await service.pay_birthday_bonuses() == 0

    clock.set(datetime(2027, 3, 14, 10, 0, tzinfo=UTC))
    assert await service.pay_birthday_bonuses() == 1
    assert await points(db, account_id) == 200
    bonus = (await ledger.entries(db, account_id))[-1]
    assert (bonus.kind, bonus.points, bonus.reason, bonus.external_id) == (
        LedgerKind.BONUS,
        100,
        "birthday",
        f"birthday:{account_id}:2027",
    )
    assert bonus.expires_at == add_months(clock.now(), 12)


async def test_born_on_29_february_celebrates_on_the_28th_in_other_years(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(birthday_bonus=50)
    leap = await linked_account(db, clock, 1001, card="LEAP-1")
    await service.set_birthday(1001, "02-29")
    feb28 = await linked_account(db, clock, 1002, card="FEB-28")
    await service.set_birthday(1002, "02-28")
    await add_customer(db, clock, 1003, "No account")  # a birthday, but no shop record to pay into
    await service.set_birthday(1003, "02-28")

    clock.set(datetime(2027, 2, 28, 8, 0, tzinfo=UTC))
    assert await service.pay_birthday_bonuses() == 2
    assert sorted(user for user, _, _ in notifier.take()) == [1001, 1002]
    clock.set(datetime(2027, 3, 1, 8, 0, tzinfo=UTC))
    assert await service.pay_birthday_bonuses() == 0

    clock.set(datetime(2028, 2, 28, 8, 0, tzinfo=UTC))  # a leap year: the 29th is coming
    assert await service.pay_birthday_bonuses() == 1
    assert notifier.take() == [(1002, "birthday-bonus", {"points": 50})]
    clock.set(datetime(2028, 2, 29, 8, 0, tzinfo=UTC))
    assert await service.pay_birthday_bonuses() == 1
    assert notifier.take() == [(1001, "birthday-bonus", {"points": 50})]
    assert (await points(db, leap), await points(db, feb28)) == (100, 100)


async def test_no_birthday_bonus_when_it_is_switched_off(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    await linked_account(db, clock, 1001, card="ZERNO-1")
    await service.set_birthday(1001, "03-10")
    assert await service.pay_birthday_bonuses() == 0
    assert await count(db, "points_ledger") == 0


async def test_a_birthday_is_not_kept_for_someone_who_never_started(service: LoyaltyService) -> None:
    assert await service.set_birthday(4242, "03-14") is False
    assert await service.birthday(4242) is None


# -- referrals ----------------------------------------------------------------------------------------


async def test_referral_codes_are_stable_and_only_for_customers(
    service: LoyaltyService, db: Database, clock: ManualClock
) -> None:
    await add_customer(db, clock, 1001)
    await add_customer(db, clock, 1002)
    code = await service.referral_code(1001)
    assert code is not None
    assert code.isalnum()
    assert await service.referral_code(1001) == code
    assert await service.referral_code(1002) not in (None, code)
    # Never sent /start: there is no row to keep a code in (this used to loop for ever).
    assert await asyncio.wait_for(service.referral_code(4242), timeout=5) is None


async def test_accepting_referrals(service: LoyaltyService, db: Database, clock: ManualClock) -> None:
    for user_id in (1001, 1002, 1003, 1004, 1005, 1006):
        await add_customer(db, clock, user_id)
    a, b, c = [await service.referral_code(u) for u in (1001, 1002, 1003)]
    assert a and b and c

    assert await service.accept_referral(1002, a) is ReferralResult.ACCEPTED  # A invited B
    assert await service.accept_referral(1002, a) is ReferralResult.ALREADY_INVITED
    assert await service.accept_referral(1002, c) is ReferralResult.ALREADY_INVITED
    assert await service.accept_referral(1001, a) is ReferralResult.SELF
    assert await service.accept_referral(1003, "nosuchcode") is ReferralResult.UNKNOWN_CODE
    assert await service.accept_referral(1001, b) is ReferralResult.LOOP  # B cannot invite A back
    assert await service.accept_referral(1003, b) is ReferralResult.ACCEPTED  # B invited C
    assert await service.accept_referral(1001, c) is ReferralResult.LOOP  # A → B → C → A

    # A customer who has bought before is not "new"; one with a record but no purchases still is.
    buyer = await linked_account(db, clock, 1004, card="BUYER-4")
    await service.record_purchase(buy("p1", 100, clock.now(), account_id=buyer), actor="api", source="api")
    assert await service.accept_referral(1004, a) is ReferralResult.ALREADY_CUSTOMER
    await linked_account(db, clock, 1005, card="NEW-5")
    assert await service.accept_referral(1005, a) is ReferralResult.ACCEPTED

    assert await service.invited_counts(1001) == (2, 0)
    assert await service.invited_counts(1002) == (1, 0)
    assert await service.invited_counts(1006) == (0, 0)


async def test_a_friends_first_purchase_pays_both_once(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock, notifier: RecordingNotifier
) -> None:
    service = make_service(referral_bonus=50)
    await add_customer(db, clock, 1001, "Referrer")  # in Telegram, but no shop record yet
    friend = await linked_account(db, clock, 1002, card="FRIEND-2")
    code = await service.referral_code(1001)
    assert code is not None
    assert await service.accept_referral(1002, code) is ReferralResult.ACCEPTED
    assert await accounts.by_user(db, 1001) is None

    first = await service.record_purchase(
        buy("p1", 10000, clock.now(), card="FRIEND-2"), actor="api", source="api"
    )
    assert (first.points_earned, first.bonus_points, first.referrer_rewarded) == (5, 50, 1001)
    referrer = await accounts.by_user(db, 1001)
    assert referrer is not None  # made for the referrer, to hold the reward
    assert await entries_of(db, referrer.id) == [(LedgerKind.BONUS, 50, "referral-referrer")]
    assert await entries_of(db, friend) == [
        (LedgerKind.EARN, 5, "purchase"),
        (LedgerKind.BONUS, 50, "referral-invited"),
    ]
    assert sorted(notifier.take()) == [
        (1001, "referral-paid-referrer", {"points": 50}),
        (1002, "referral-paid-invited", {"points": 50}),
    ]
    assert await service.invited_counts(1001) == (1, 1)

    second = await service.record_purchase(
        buy("p2", 10000, clock.now(), card="FRIEND-2"), actor="api", source="api"
    )
    assert (second.points_earned, second.bonus_points, second.referrer_rewarded) == (5, 0, None)
    assert (await points(db, referrer.id), await points(db, friend)) == (50, 60)
    assert notifier.take() == []
    assert await count(db, "loyalty_accounts") == 2


async def test_the_referral_reward_goes_to_the_referrers_existing_record(
    make_service: Callable[..., LoyaltyService], db: Database, clock: ManualClock
) -> None:
    service = make_service(referral_bonus=30, first_purchase_bonus=10)
    referrer = await linked_account(db, clock, 1001, card="REF-1")
    friend = await linked_account(db, clock, 1002, card="FRIEND-2")
    code = await service.referral_code(1001)
    assert code is not None
    await service.accept_referral(1002, code)
    result = await service.record_purchase(
        buy("p1", 10000, clock.now(), card="FRIEND-2"), actor="api", source="api"
    )
    assert result.bonus_points == 40  # first purchase 10 + referral 30
    assert (await points(db, referrer), await points(db, friend)) == (30, 45)
    assert await count(db, "loyalty_accounts") == 2
