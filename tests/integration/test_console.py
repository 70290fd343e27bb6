"""The staff console's services on a real SQLite file: the kill switch, coupons, stats, the uplift report,
campaigns, exports and the audit log.

Customers, purchases and outbox rows are written straight into the tables with chosen timestamps, so every
expected figure can be counted by hand. Nudges go to a fake sender; time only moves through the ManualClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock, to_db
from bot.config import Config
from bot.models import LedgerKind
from bot.rules.uplift import Uplift
from bot.services.campaigns import CAMPAIGN_PRIORITY, CampaignService
from bot.services.console import ConsoleService, CouponCheck
from bot.services.nudges import NudgeDelivery, SendResult, SendStatus, SurveyAttachment
from bot.storage import accounts, campaigns, coupons, ledger
from bot.storage import customers as customer_store
from bot.storage import outbox as outbox_store
from bot.storage.db import Database
from bot.telegram.deps import WorkflowData, build_workflow_data
from bot.texts import Texts

DAY = timedelta(days=1)
FAST = {
    "nudges": {"holdout_percent": 0},
    "delivery": {"messages_per_second": 1000, "paid_broadcast": True, "per_chat_interval_seconds": 0},
}
OWNER = 1
STAFF = 2


# -- a fake sender and a shop ---------------------------------------------------------------------


@dataclass
class FakeSender:
    """Records every send and answers "sent"; `on_send` runs after each one (to pause mid-way)."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    on_send: Callable[[int], Awaitable[None]] | None = None
    next_message_id: int = 700

    async def send(
        self, chat_id: int, html: str, fewer_button: str, survey: SurveyAttachment | None = None
    ) -> SendResult:
        self.sent.append((chat_id, html))
        if self.on_send is not None:
            await self.on_send(chat_id)
        self.next_message_id += 1
        return SendResult(SendStatus.SENT, message_id=self.next_message_id)

    @property
    def chats(self) -> list[int]:
        return [chat for chat, _ in self.sent]


@dataclass
class Shop:
    data: WorkflowData
    sender: FakeSender
    clock: ManualClock

    @property
    def db(self) -> Database:
        return self.data["db"]

    @property
    def console(self) -> ConsoleService:
        return self.data["console"]

    @property
    def campaigns(self) -> CampaignService:
        return self.data["campaigns"]

    @property
    def delivery(self) -> NudgeDelivery:
        delivery = self.data["delivery"]
        assert delivery is not None
        return delivery

    async def customer(
        self,
        user_id: int,
        name: str = "",
        *,
        consent: str = "granted",
        reachable: bool = True,
        frequency: str = "normal",
        paused_until: datetime | None = None,
        purchases_days_ago: tuple[int, ...] = (),
        card: str | None = None,
    ) -> int | None:
        """A customer (and, with purchases or a card, their linked loyalty account, whose id is returned)."""
        now = self.clock.now()
        stamp = to_db(now - 100 * DAY)
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO customers (user_id, first_name, telegram_language, consent, consent_at, "
                "reachable, frequency, paused_until, created_at, updated_at) "
                "VALUES (?, ?, 'en', ?, ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    name or f"Guest{user_id}",
                    consent,
                    stamp if consent != "unknown" else None,
                    int(reachable),
                    frequency,
                    to_db(paused_until) if paused_until else None,
                    stamp,
                    stamp,
                ),
            )
            if not purchases_days_ago and card is None:
                return None
            account_id = await accounts.insert(tx, now - 300 * DAY, card_code=card, user_id=user_id)
            for n, days in enumerate(purchases_days_ago):
                await ledger.insert_purchase(
                    tx, account_id, f"p-{user_id}-{n}", 10_000, "UAH", now - days * DAY, now
                )
        return account_id

    async def purchase(self, account_id: int, external_id: str, at: datetime) -> None:
        assert await ledger.record_purchase(self.db, account_id, external_id, 5_000, "UAH", at, at)

    async def outbox_row(
        self,
        user_id: int,
        rule: str,
        state: str,
        *,
        at: datetime,
        step: int = 0,
        reason: str | None = None,
        campaign_id: int | None = None,
        period: str | None = None,
    ) -> int:
        """A past outbox row: sent rows have sent_at = at; others were created and last updated at `at`.
        Its period is `at` unless given (a customer has one row for a rule's step in a period)."""
        async with self.db.transaction() as tx:
            cursor = await tx.execute(
                "INSERT INTO outbox (user_id, rule, step, period, campaign_id, template, state, "
                "reason, due_at, created_at, updated_at, sent_at) "
                "VALUES (?, ?, ?, ?, ?, 'tip', ?, ?, ?, ?, ?, ?)",
                (
                    user_id,
                    rule,
                    step,
                    period or to_db(at),
                    campaign_id,
                    state,
                    reason,
                    to_db(at),
                    to_db(at),
                    to_db(at),
                    to_db(at) if state == "sent" else None,
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    async def coupon(
        self, code: str, user_id: int | None, rule: str, *, issued: datetime, valid_days: int = 14
    ) -> None:
        async with self.db.transaction() as tx:
            assert await coupons.insert(
                tx, code, user_id or 0, rule, None, "percent", 15, issued, issued + valid_days * DAY
            )
            if user_id is None:
                await tx.execute("UPDATE coupons SET user_id = NULL WHERE code = ?", (code,))

    async def rows(self, sql: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        found = await self.db.fetch_all(f"SELECT * FROM outbox {sql} ORDER BY id", params)
        return [dict(r) for r in found]


ShopFactory = Callable[..., Awaitable[Shop]]


@pytest.fixture
async def make_shop(make_config: Callable[..., Config], clock: ManualClock) -> AsyncIterator[ShopFactory]:
    """`await make_shop(delivery={...})`: a migrated shop whose nudges go to a FakeSender."""
    async with AsyncExitStack() as stack:

        async def make(**sections: dict[str, Any]) -> Shop:
            merged = {name: {**FAST.get(name, {}), **sections.get(name, {})} for name in {*FAST, *sections}}
            config = make_config(**merged)
            db = await Database.open(Path(config.database.path))
            stack.push_async_callback(db.close)
            await db.migrate()
            sender = FakeSender()
            texts = Texts.load(config.shop.default_language)
            return Shop(build_workflow_data(config, clock, db, texts, None, sender), sender, clock)

        yield make


@pytest.fixture
async def shop(make_shop: ShopFactory) -> Shop:
    return await make_shop()


# -- the kill switch --------------------------------------------------------------------------------


async def test_the_kill_switch_survives_a_reopened_database(
    tmp_path: Path, config: Config, clock: ManualClock
) -> None:
    path = tmp_path / "switch.sqlite3"

    async def reopened() -> tuple[Database, ConsoleService]:
        db = await Database.open(path)
        await db.migrate()
        return db, ConsoleService(db, clock, config)

    db, console = await reopened()
    try:
        assert await console.is_paused() is False
        await console.set_paused(True, OWNER)
    finally:
        await db.close()

    clock.advance(DAY)
    db, console = await reopened()
    try:
        assert await console.is_paused() is True
        row = await db.fetch_one(
            "SELECT value, updated_by, updated_at FROM settings WHERE key = ?", ("marketing_paused",)
        )
        assert row is not None and tuple(row) == ("1", f"staff:{OWNER}", to_db(clock.now() - DAY))
        await console.set_paused(False, STAFF)
    finally:
        await db.close()

    db, console = await reopened()
    try:
        assert await console.is_paused() is False
        assert await db.fetch_value("SELECT COUNT(*) FROM settings") == 1
        assert await db.fetch_value("SELECT updated_by FROM settings") == f"staff:{STAFF}"
    finally:
        await db.close()


async def test_nothing_is_sent_while_paused_and_everything_once_after_resume(shop: Shop) -> None:
    ids = [2001, 2002, 2003]
    for uid in ids:
        await shop.customer(uid, f"Name{uid}")
    progress = await shop.campaigns.launch(OWNER, "all", None, "Hello {{ customer.first_name }}")
    campaign_id = progress.campaign.id
    await shop.console.set_paused(True, OWNER)
    assert await shop.delivery.paused() is True

    for _ in range(3):
        report = await shop.delivery.deliver_due()
        assert report.attempted == 0
        shop.clock.advance(timedelta(hours=1))
    assert shop.sender.sent == []
    assert [r["state"] for r in await shop.rows()] == ["planned"] * 3
    # Even a row handed to delivery directly is held back by the switch, and stays planned.
    [first, *_] = await outbox_store.due(shop.db, shop.clock.now(), 10)
    assert await shop.delivery.deliver(first) == "paused"
    assert shop.sender.sent == []
    assert (await shop.rows("WHERE id = ?", (first.id,)))[0]["state"] == "planned"
    assert (await shop.campaigns.progress(campaign_id)).planned == 3

    await shop.console.set_paused(False, OWNER)
    report = await shop.delivery.deliver_due()
    assert report.outcomes == {"sent": 3}
    assert sorted(shop.sender.chats) == ids
    assert sorted(html for _, html in shop.sender.sent) == [f"Hello Name{uid}" for uid in ids]
    assert [r["state"] for r in await shop.rows()] == ["sent"] * 3

    # Later calls find nothing left: each customer got it exactly once.
    shop.clock.advance(DAY)
    assert (await shop.delivery.deliver_due()).attempted == 0
    assert sorted(shop.sender.chats) == ids
    progress = await shop.campaigns.progress(campaign_id)
    assert progress.finished and progress.campaign.state == "done" and progress.counts == {"sent": 3}


async def test_pausing_in_the_middle_stops_the_very_next_send(make_shop: ShopFactory) -> None:
    # One sender at a time. The switch is trusted for PAUSE_RECHECK seconds (a fifth of a second in
    # production); at 0 it is read before every send: the rows already claimed go back to planned.
    shop = await make_shop(delivery={"senders": 1})
    shop.delivery.PAUSE_RECHECK = 0
    ids = list(range(3001, 3011))
    for uid in ids:
        await shop.customer(uid)
    await shop.campaigns.launch(OWNER, "all", None, "News for {{ customer.first_name }}")

    async def pause_after_three(_chat: int) -> None:
        if len(shop.sender.sent) == 3:
            await shop.console.set_paused(True, OWNER)

    shop.sender.on_send = pause_after_three
    report = await shop.delivery.deliver_due()
    assert report.outcomes["sent"] == 3
    assert len(shop.sender.sent) == 3
    states = [r["state"] for r in await shop.rows()]
    assert states.count("sent") == 3 and states.count("planned") == 7

    shop.sender.on_send = None
    assert (await shop.delivery.deliver_due()).attempted == 0
    await shop.console.set_paused(False, OWNER)
    report = await shop.delivery.deliver_due()
    assert report.outcomes == {"sent": 7}
    assert sorted(shop.sender.chats) == ids  # everyone once, no one twice


# -- coupons ------------------------------------------------------------------------------------------


async def test_coupon_redemption_checks(shop: Shop) -> None:
    now = shop.clock.now()
    await shop.customer(4001, card="CARD-4001")
    await shop.customer(4002, card="CARD-4002")
    await shop.coupon("AB2C-DE3F", 4001, "win_back", issued=now - 2 * DAY)
    await shop.coupon("EXPD-2222", 4001, "birthday", issued=now - 20 * DAY, valid_days=7)
    await shop.coupon("MINE-3333", 4001, "welcome", issued=now - DAY)

    assert await shop.console.redeem_coupon("ZZZZ-9999", STAFF) == (CouponCheck.UNKNOWN, None)
    assert await shop.console.redeem_coupon("not a code", STAFF) == (CouponCheck.UNKNOWN, None)

    result, coupon = await shop.console.redeem_coupon("EXPD-2222", STAFF)
    assert result is CouponCheck.EXPIRED and coupon is not None
    assert coupon.valid_until == now - 13 * DAY

    result, coupon = await shop.console.redeem_coupon("MINE-3333", STAFF, customer_id=4002)
    assert result is CouponCheck.WRONG_CUSTOMER and coupon is not None and coupon.user_id == 4001

    # Typed in lower case at the till, for the right customer: redeemed, once.
    result, coupon = await shop.console.redeem_coupon(" ab2c-de3f ", STAFF, customer_id=4001)
    assert result is CouponCheck.REDEEMED and coupon is not None and coupon.rule == "win_back"
    result, again = await shop.console.redeem_coupon("AB2C-DE3F", OWNER)
    assert result is CouponCheck.USED and again is not None and again.redeemed_at == now

    stored = {
        r["code"]: (r["redeemed_at"], r["redeemed_by"])
        for r in await shop.db.fetch_all("SELECT code, redeemed_at, redeemed_by FROM coupons")
    }
    assert stored == {
        "AB2C-DE3F": (to_db(now), f"staff:{STAFF}"),
        "EXPD-2222": (None, None),
        "MINE-3333": (None, None),
    }

    # The refused ones are still good for their owner (the expired one is not).
    assert (await shop.console.redeem_coupon("MINE-3333", STAFF, 4001))[0] is CouponCheck.REDEEMED
    assert (await shop.console.redeem_coupon("EXPD-2222", STAFF, 4001))[0] is CouponCheck.EXPIRED


async def test_a_forgotten_customers_coupon_belongs_to_no_one_named(shop: Shop) -> None:
    await shop.customer(4101, card="CARD-4101")
    await shop.coupon("GONE-4444", None, "win_back", issued=shop.clock.now())
    assert (await shop.console.redeem_coupon("GONE-4444", STAFF, 4101))[0] is CouponCheck.WRONG_CUSTOMER
    assert (await shop.console.redeem_coupon("GONE-4444", STAFF))[0] is CouponCheck.REDEEMED


async def test_redemptions_show_in_stats_under_the_issuing_rule(shop: Shop) -> None:
    start = shop.clock.now()
    await shop.customer(4201)
    await shop.coupon("OLDR-2345", 4201, "welcome", issued=start, valid_days=60)
    assert (await shop.console.redeem_coupon("OLDR-2345", STAFF))[0] is CouponCheck.REDEEMED
    shop.clock.advance(31 * DAY)  # that redemption falls out of the 30 days
    now = shop.clock.now()
    for n, rule in enumerate(["win_back", "win_back", "birthday"]):
        code = f"RED{n}-ABCD"
        await shop.coupon(code, 4201, rule, issued=now - DAY)
        assert (await shop.console.redeem_coupon(code, STAFF))[0] is CouponCheck.REDEEMED
    await shop.coupon("KEPT-ABCD", 4201, "win_back", issued=now - DAY)  # issued, not redeemed

    view = await shop.console.stats()
    assert view.redemptions_30 == {"win_back": 2, "birthday": 1}


# -- stats --------------------------------------------------------------------------------------------


async def test_stats_counts_segments_and_messages(shop: Shop) -> None:
    now = shop.clock.now()
    # Segments by days since the last purchase (new < 30 days with one purchase; at risk 21, lapsed 35,
    # lost 180), opted in or not.
    await shop.customer(5001)  # new: no purchase
    await shop.customer(5002, purchases_days_ago=(10,), consent="declined")  # new: one recent purchase
    await shop.customer(5003, purchases_days_ago=(40, 5))  # active
    await shop.customer(5004, purchases_days_ago=(60, 25), reachable=False)  # at risk
    await shop.customer(5005, purchases_days_ago=(90, 50))  # lapsed
    await shop.customer(5006, purchases_days_ago=(45,), consent="withdrawn")  # lapsed: one old purchase
    await shop.customer(5007, purchases_days_ago=(400, 200))  # lost
    await shop.customer(5008, consent="unknown")  # new
    await shop.customer(5009, purchases_days_ago=(3,))  # to be erased
    assert await customer_store.erase(shop.db, 5009, now)

    await shop.outbox_row(5001, "welcome", "sent", at=now - 2 * DAY)
    await shop.outbox_row(5003, "welcome", "sent", at=now - 6 * DAY)
    await shop.outbox_row(5005, "win_back", "sent", at=now - 8 * DAY)
    await shop.outbox_row(5005, "win_back", "sent", at=now - 29 * DAY, step=1)
    await shop.outbox_row(5007, "win_back", "sent", at=now - 31 * DAY)  # too old for either count
    await shop.outbox_row(5003, "nps", "failed", at=now - 3 * DAY, reason="blocked")
    await shop.outbox_row(5004, "nps", "failed", at=now - 3 * DAY, reason="template: boom")
    await shop.outbox_row(5001, "nps", "planned", at=now)
    await shop.outbox_row(5005, "nps", "held_out", at=now - DAY)
    await shop.outbox_row(5003, "nps", "skipped", at=now - DAY, reason="capped")

    view = await shop.console.stats()
    assert (view.customers, view.opted_in, view.reachable, view.linked, view.erased) == (8, 5, 7, 6, 1)
    assert dict(view.segments) == {"new": 3, "active": 1, "at_risk": 1, "lapsed": 2, "lost": 1}
    assert view.sent_7 == {"welcome": 2}
    assert view.sent_30 == {"welcome": 2, "win_back": 2}
    assert (view.sent_30_total, view.blocked_30) == (4, 1)
    assert view.block_rate == 20
    assert view.percent(view.opted_in) == 62  # 5 of 8
    assert view.redemptions_30 == {}


async def test_stats_of_an_empty_shop(shop: Shop) -> None:
    view = await shop.console.stats()
    assert view.customers == 0 and view.percent(0) == 0 and view.block_rate == 0
    assert dict(view.segments) == {"new": 0, "active": 0, "at_risk": 0, "lapsed": 0, "lost": 0}
    assert view.sent_7 == view.sent_30 == view.redemptions_30 == {}


# -- uplift -------------------------------------------------------------------------------------------


async def test_uplift_counts_buyers_inside_the_window_only(shop: Shop) -> None:
    now = shop.clock.now()
    at = now - 20 * DAY  # matured: the 14-day window closed 6 days ago
    window = 14 * DAY
    # (user id, group, purchase offsets from the message; None = no purchase). Inside: (0, 14 days].
    nudged = {
        6001: [DAY],  # bought
        6002: [window],  # bought on the last moment of the window
        6003: [window + timedelta(seconds=1)],  # too late
        6004: [-DAY],  # only before the message
        6005: [timedelta(0)],  # at the very moment of the message: not "after"
        6006: [-DAY, 3 * DAY, 5 * DAY],  # bought (twice): counted once
        6007: [],
    }
    held = {
        6101: [2 * DAY],  # bought
        6102: [20 * DAY],  # too late
        6103: [],
        6104: [-3 * DAY],
    }
    for group, state in ((nudged, "sent"), (held, "held_out")):
        for uid, offsets in group.items():
            account = await shop.customer(uid, card=f"C-{uid}")
            assert account is not None
            await shop.outbox_row(uid, "win_back", state, at=at)
            for n, offset in enumerate(offsets):
                await shop.purchase(account, f"u-{uid}-{n}", at + offset)

    # Rows that do not count: later steps, campaigns, not matured, neither sent nor held out, other rule.
    await shop.outbox_row(6001, "win_back", "sent", at=at + DAY, step=1)
    await shop.outbox_row(6003, "win_back", "sent", at=now - 10 * DAY)  # window still open
    await shop.outbox_row(6004, "win_back", "held_out", at=now - 13 * DAY)
    await shop.outbox_row(6005, "win_back", "skipped", at=at, reason="capped", period="later")
    await shop.outbox_row(6007, "win_back", "failed", at=at, reason="blocked", period="later")
    campaign_id = await campaigns.create(shop.db, OWNER, "all", None, "Hi", 1, at)
    await shop.outbox_row(6007, f"campaign_{campaign_id}", "sent", at=at, campaign_id=campaign_id)
    await shop.outbox_row(6101, "birthday", "sent", at=now - 15 * DAY)
    await shop.outbox_row(6102, "birthday", "held_out", at=now - 15 * DAY)

    assert await shop.console.uplift() == {
        "birthday": Uplift(nudged=1, nudged_bought=0, held_out=1, held_out_bought=0),
        "win_back": Uplift(nudged=7, nudged_bought=3, held_out=4, held_out_bought=1),
    }
    # A shorter window: only the purchases within 2 days count (6001 and 6101), and rows 2+ days old.
    short = await shop.console.uplift(window_days=2)
    assert short["win_back"] == Uplift(nudged=8, nudged_bought=1, held_out=5, held_out_bought=1)


async def test_uplift_of_a_shop_without_history_is_empty(shop: Shop) -> None:
    await shop.customer(6201)
    await shop.outbox_row(6201, "win_back", "sent", at=shop.clock.now() - DAY)
    assert await shop.console.uplift() == {}


# -- campaigns -----------------------------------------------------------------------------------------


async def test_the_audience_leaves_out_those_who_did_not_opt_in_paused_and_capped(shop: Shop) -> None:
    now = shop.clock.now()
    lapsed = (90, 50)
    await shop.customer(7001, purchases_days_ago=lapsed)  # in
    await shop.customer(7002, purchases_days_ago=lapsed, consent="unknown")
    await shop.customer(7003, purchases_days_ago=lapsed, consent="declined")
    await shop.customer(7004, purchases_days_ago=lapsed, consent="withdrawn")
    await shop.customer(7005, purchases_days_ago=lapsed, reachable=False)
    await shop.customer(7006, purchases_days_ago=lapsed, paused_until=now + 10 * DAY)  # paused
    await shop.customer(7007, purchases_days_ago=lapsed, paused_until=now - DAY)  # pause over: in
    await shop.customer(7008, purchases_days_ago=lapsed)  # capped: a message 2 days ago (1 per 7 days)
    await shop.outbox_row(7008, "win_back", "sent", at=now - 2 * DAY)
    await shop.customer(7009, purchases_days_ago=lapsed, frequency="monthly")  # capped by own choice
    await shop.outbox_row(7009, "win_back", "sent", at=now - 10 * DAY)
    await shop.customer(7010, purchases_days_ago=lapsed)  # last message 8 days ago: in
    await shop.outbox_row(7010, "win_back", "sent", at=now - 8 * DAY)
    await shop.outbox_row(7001, "win_back", "held_out", at=now - DAY)  # held out is no message
    await shop.customer(7011, purchases_days_ago=(40, 3))  # active, not lapsed
    await shop.customer(7012)  # new

    lapsed_audience = await shop.campaigns.audience("lapsed")
    assert lapsed_audience.eligible == [7001, 7007, 7010]
    assert (lapsed_audience.in_segment, lapsed_audience.excluded) == (6, 3)
    everyone = await shop.campaigns.audience("all")
    assert everyone.eligible == [7001, 7007, 7010, 7011, 7012]
    assert (everyone.in_segment, everyone.excluded) == (8, 3)
    assert (await shop.campaigns.audience("active")).eligible == [7011]
    assert (await shop.campaigns.audience("lost")).eligible == []
    with pytest.raises(ValueError, match="unknown segment"):
        await shop.campaigns.audience("everyone")


async def test_a_launch_writes_one_outbox_row_per_recipient(shop: Shop) -> None:
    for uid in (7101, 7102, 7103):
        await shop.customer(uid, f"N{uid}")
    await shop.customer(7104, consent="declined")
    progress = await shop.campaigns.launch(OWNER, "all", "tip", None)
    campaign_id = progress.campaign.id
    assert progress.campaign.recipients == 3 and progress.campaign.state == "running"
    assert progress.counts == {"planned": 3} and progress.planned == 3 and not progress.finished
    rows = await shop.rows()
    assert [
        (
            r["user_id"],
            r["rule"],
            r["step"],
            r["period"],
            r["template"],
            r["priority"],
            r["state"],
            r["campaign_id"],
        )
        for r in rows
    ] == [
        (
            uid,
            f"campaign_{campaign_id}",
            0,
            f"c{campaign_id}",
            "tip",
            CAMPAIGN_PRIORITY,
            "planned",
            campaign_id,
        )
        for uid in (7101, 7102, 7103)
    ]
    assert {r["due_at"] for r in rows} == {to_db(shop.clock.now())}
    stored = await campaigns.get(shop.db, campaign_id)
    assert stored is not None
    assert (stored.created_by, stored.segment, stored.template, stored.text) == (OWNER, "all", "tip", None)

    await shop.delivery.deliver_due()
    assert sorted(shop.sender.chats) == [7101, 7102, 7103]
    assert all(html.startswith(f"N{chat}, thank you") for chat, html in shop.sender.sent)
    progress = await shop.campaigns.progress(campaign_id)
    assert (
        progress.finished and progress.campaign.state == "done" and progress.campaign.finished_at is not None
    )

    # Caps apply to campaigns: a second one the same day reaches no one.
    second = await shop.campaigns.launch(OWNER, "all", None, "Again, {{ customer.first_name }}?")
    assert second.campaign.recipients == 0 and second.counts == {}
    assert (await shop.campaigns.progress(second.campaign.id)).campaign.state == "done"


async def test_caps_are_checked_again_when_a_campaign_row_is_sent(shop: Shop) -> None:
    for uid in (7201, 7202):
        await shop.customer(uid)
    progress = await shop.campaigns.launch(OWNER, "all", None, "Hi {{ customer.first_name }}")
    # A nudge reached 7202 after the launch and before delivery.
    await shop.outbox_row(7202, "welcome", "sent", at=shop.clock.now())
    await shop.delivery.deliver_due()
    assert shop.sender.chats == [7201]
    [row] = await shop.rows("WHERE user_id = ? AND campaign_id IS NOT NULL", (7202,))
    assert row["state"] == "planned" and row["reason"] == "capped"
    assert row["due_at"] == to_db(shop.clock.now() + 7 * DAY)
    assert not (await shop.campaigns.progress(progress.campaign.id)).finished


async def test_a_name_is_escaped_in_the_owners_own_text(shop: Shop) -> None:
    await shop.customer(7401, "<b>Ann</b> & Co")
    await shop.campaigns.launch(OWNER, "all", None, "Hi <i>{{ customer.first_name }}</i>!")
    await shop.delivery.deliver_due()
    assert shop.sender.sent == [(7401, "Hi <i>&lt;b&gt;Ann&lt;/b&gt; &amp; Co</i>!")]


async def test_cancel_skips_the_rows_not_sent_yet(shop: Shop) -> None:
    ids = list(range(7301, 7306))
    for uid in ids:
        await shop.customer(uid)
    progress = await shop.campaigns.launch(OWNER, "all", None, "Sale, {{ customer.first_name }}!")
    campaign_id = progress.campaign.id
    for row in await outbox_store.due(shop.db, shop.clock.now(), 2):
        assert await shop.delivery.deliver(row) == "sent"

    shop.clock.advance(timedelta(minutes=1))
    progress = await shop.campaigns.cancel(campaign_id)
    assert progress.campaign.state == "cancelled" and progress.finished
    assert progress.counts == {"sent": 2, "skipped": 3}
    assert progress.campaign.finished_at == shop.clock.now()
    assert await shop.campaigns.skipped_reasons(campaign_id) == {"campaign cancelled": 3}

    assert (await shop.delivery.deliver_due()).attempted == 0
    assert len(shop.sender.sent) == 2
    # Cancelling twice changes nothing.
    again = await shop.campaigns.cancel(campaign_id)
    assert again.counts == progress.counts and again.campaign.finished_at == progress.campaign.finished_at


async def test_own_text_is_checked_and_previewed(shop: Shop) -> None:
    assert shop.campaigns.check_text("Hi {{ customer.first_name }}!") is None
    assert shop.campaigns.check_text("Hi {{ customer.first_name") is not None
    preview = shop.campaigns.preview(
        None, "Hi <b>{{ customer.first_name }}</b> from {{ shop.name }}", "en", "Taras"
    )
    assert preview == "Hi <b>Taras</b> from Test Shop"
    assert "tip" in shop.campaigns.templates() and "welcome" not in shop.campaigns.templates()


# -- exports and the audit log -----------------------------------------------------------------------------


async def test_exports_have_a_header_and_a_row_each(shop: Shop) -> None:
    now = shop.clock.now()
    account = await shop.customer(8001, "Olena", card="CARD-8001", purchases_days_ago=(5,))
    assert account is not None
    await ledger.append(
        shop.db, account, LedgerKind.EARN, 25, reason="purchase", actor="till", at=now - 5 * DAY
    )
    await ledger.append(shop.db, account, LedgerKind.REDEEM, -10, reason="redeemed", actor="till", at=now)
    await shop.customer(8002, "Emma", consent="declined")
    await shop.outbox_row(8001, "welcome", "sent", at=now - 8 * DAY)  # not capped any more
    await shop.campaigns.launch(OWNER, "all", None, "Hi")

    customers = await shop.console.export("customers")
    assert customers[0][:2] == ["user_id", "first_name"] and customers[0][-2:] == ["phone", "points"]
    body = {row[0]: dict(zip(customers[0], row, strict=True)) for row in customers[1:]}
    assert set(body) == {"8001", "8002"}
    assert (
        body["8001"]["first_name"],
        body["8001"]["consent"],
        body["8001"]["card"],
        body["8001"]["points"],
    ) == (
        "Olena",
        "granted",
        "CARD-8001",
        "15",
    )
    assert (body["8002"]["consent"], body["8002"]["card"], body["8002"]["points"]) == ("declined", "", "0")

    entries = await shop.console.export("ledger")
    assert entries[0][:3] == ["entry_id", "account_id", "card"]
    assert [(row[2], row[5], row[6]) for row in entries[1:]] == [
        ("CARD-8001", "earn", "25"),
        ("CARD-8001", "redeem", "-10"),
    ]

    messages = await shop.console.export("messages")
    assert messages[0][:3] == ["message_id", "user_id", "rule"]
    header = messages[0]
    rows = [dict(zip(header, row, strict=True)) for row in messages[1:]]
    assert [(r["user_id"], r["rule"], r["state"], r["campaign_id"]) for r in rows] == [
        ("8001", "welcome", "sent", ""),
        ("8001", "campaign_1", "planned", "1"),
    ]
    with pytest.raises(ValueError, match="nothing to export"):
        await shop.console.export("passwords")


async def test_the_audit_log_lists_the_latest_actions_first(shop: Shop) -> None:
    assert await shop.console.audit_log() == []
    await shop.console.record(OWNER, "/pause", "")
    shop.clock.advance(timedelta(minutes=5))
    await shop.console.record(STAFF, "/redeem", "AB2C-DE3F 1001")
    await shop.console.record(OWNER, "camp", "seg:all")  # the same second: the later one first
    await shop.console.record(STAFF, "/customer", "x" * 600)

    log = await shop.console.audit_log()
    assert [(e.staff_id, e.action, e.detail[:20]) for e in log] == [
        (STAFF, "/customer", "x" * 20),
        (OWNER, "camp", "seg:all"),
        (STAFF, "/redeem", "AB2C-DE3F 1001"),
        (OWNER, "/pause", ""),
    ]
    assert len(log[0].detail) == 500
    assert log[0].at == shop.clock.now() and log[-1].at == shop.clock.now() - timedelta(minutes=5)
    assert [e.action for e in await shop.console.audit_log(limit=2)] == ["/customer", "camp"]
