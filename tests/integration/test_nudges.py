"""Nudges end to end on a real SQLite file: planning into the outbox, delivery through a fake sender,
and the `nudges` commands.

Time only moves through the ManualClock. The fake sender records every attempt and answers with
scripted results. Delivery pacing is set so fast (1000/s, no per-chat interval) that it never slows a
test down; only the flood-control test waits for real, one second.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.clock import ManualClock, to_db
from bot.config import Config
from bot.models import TelegramProfile
from bot.rules.nudges import Decision
from bot.rules.pacing import in_holdout
from bot.services.loyalty import PurchaseInput, PurchaseItem
from bot.services.nudges import (
    DeliveryReport,
    NudgeDelivery,
    SendResult,
    SendStatus,
    SurveyAttachment,
)
from bot.services.planner import NudgePlanner, PlanReport
from bot.storage import customers as customer_store
from bot.storage import outbox as outbox_store
from bot.storage.db import Database, Tx
from bot.storage.outbox import NewOutboxRow, OutboxState
from bot.telegram.deps import WorkflowData, build_workflow_data
from bot.texts import Texts

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday 11:00 in Kyiv (UTC+2)
DAY = timedelta(days=1)
OLENA = 1001
DMYTRO = 1002
CODE = re.compile(r"<code>([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})</code>")
FAST = {
    "nudges": {"holdout_percent": 0},
    "delivery": {"messages_per_second": 1000, "paid_broadcast": True, "per_chat_interval_seconds": 0},
}


class ProcessDied(Exception):
    """Stands in for the bot being killed in the middle of a send."""


@dataclass
class Attempt:
    chat_id: int
    html: str
    button: str
    survey: SurveyAttachment | None


@dataclass
class FakeSender:
    """Records every send; answers from `script[chat_id]` in turn, then with success."""

    attempts: list[Attempt] = field(default_factory=list)
    script: dict[int, list[SendResult | BaseException]] = field(default_factory=dict)
    next_message_id: int = 500
    # Run before each send with the chat id: a test holds a send back or acts in the middle of delivery.
    before_send: Callable[[int], Awaitable[None]] | None = None

    async def send(
        self, chat_id: int, html: str, fewer_button: str, survey: SurveyAttachment | None = None
    ) -> SendResult:
        if self.before_send is not None:
            await self.before_send(chat_id)
        self.attempts.append(Attempt(chat_id, html, fewer_button, survey))
        queue = self.script.get(chat_id)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        self.next_message_id += 1
        return SendResult(SendStatus.SENT, message_id=self.next_message_id)

    @property
    def sent(self) -> list[tuple[int, str]]:
        return [(a.chat_id, a.html) for a in self.attempts]


@dataclass
class Shop:
    data: WorkflowData
    sender: FakeSender
    clock: ManualClock

    @property
    def db(self) -> Database:
        return self.data["db"]

    @property
    def planner(self) -> NudgePlanner:
        return self.data["planner"]

    @property
    def delivery(self) -> NudgeDelivery:
        delivery = self.data["delivery"]
        assert delivery is not None
        return delivery

    async def tick(self) -> tuple[PlanReport, DeliveryReport]:
        """What the scheduler does: plan, then deliver whatever is due."""
        return await self.planner.plan(), await self.delivery.deliver_due()

    async def days(self, count: int) -> None:
        for _ in range(count):
            self.clock.advance(DAY)
            await self.tick()

    async def join(
        self, user_id: int, name: str = "Olena", *, opt_in: bool = True, language: str = "uk"
    ) -> None:
        await self.data["customers"].start(TelegramProfile(user_id, name, None, None, language), None)
        if opt_in:
            await self.data["customers"].grant_consent(user_id, "/start")

    async def welcome_planned_for(self, user_ids: Iterable[int]) -> None:
        """These customers join, opted in; planning puts their welcome in the outbox."""
        for user_id in user_ids:
            await self.join(user_id)
        await self.planner.plan()

    async def buy(self, user_id: int, purchase_id: str, at: datetime, amount_minor: int = 50_000) -> None:
        phone = f"+38050{user_id:07d}"
        await self.data["customers"].link_phone(user_id, phone, user_id, "Olena")
        purchase = PurchaseInput(purchase_id, amount_minor, "UAH", at, phone=phone)
        await self.data["loyalty"].record_purchase(purchase, actor="till", source="api")

    async def outbox(self, user_id: int | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE user_id = ?", (user_id,)) if user_id is not None else ("", ())
        rows = await self.db.fetch_all(f"SELECT * FROM outbox {where} ORDER BY id", params)
        return [dict(r) for r in rows]

    async def coupons(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch_all("SELECT * FROM coupons ORDER BY issued_at, code")]


@pytest.fixture
async def make_shop(
    make_config: Callable[..., Config], clock: ManualClock
) -> AsyncIterator[Callable[..., Awaitable[Shop]]]:
    """`await make_shop(nudges={...})`: a migrated shop whose nudges go to a FakeSender."""
    stack = AsyncExitStack()

    async def make(**sections: dict[str, Any]) -> Shop:
        merged = {name: {**FAST.get(name, {}), **sections.get(name, {})} for name in {*FAST, *sections}}
        config = make_config(**merged)
        db = await Database.open(Path(config.database.path))
        stack.push_async_callback(db.close)
        await db.migrate()
        sender = FakeSender()
        data = build_workflow_data(config, clock, db, Texts.load(config.shop.default_language), None, sender)
        return Shop(data, sender, clock)

    try:
        yield make
    finally:
        await stack.aclose()


@pytest.fixture
async def shop(make_shop: Callable[..., Awaitable[Shop]]) -> Shop:
    return await make_shop()


def welcome_uk(code: str, valid_until: str = "24 березня 2026\u202fр.") -> str:
    return (
        "Ласкаво просимо до <b>Test Shop</b>, Olena! Дякуємо, що ви з нами.\n"
        "\n"
        "Подарунок на подяку: <b>знижка 10%</b> на наступний візит.\n"
        f"Покажіть цей код на касі: <code>{code}</code> (діє до {valid_until})."
    )


def code_in(html: str) -> str:
    match = CODE.search(html)
    assert match is not None, html
    return match[1]


# -- welcome --------------------------------------------------------------------------------------------


async def test_an_opted_in_customer_gets_the_welcome_with_a_unique_coupon_once(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro", language="en")
    for _ in range(3):
        await shop.tick()
    assert [a.chat_id for a in shop.sender.attempts] == [OLENA, DMYTRO]
    olena, dmytro = shop.sender.attempts
    code = code_in(olena.html)
    assert olena.html == welcome_uk(code)
    assert olena.button == "🔕 Рідше"
    assert olena.survey is None
    assert dmytro.html.startswith("Welcome to <b>Test Shop</b>, Dmytro!")
    assert dmytro.button == "🔕 Fewer messages"
    other_code = code_in(dmytro.html)
    assert other_code != code

    [row] = await shop.outbox(OLENA)
    assert (row["rule"], row["step"], row["period"], row["state"]) == ("welcome", 0, "once", "sent")
    assert (row["coupon_code"], row["language"], row["attempts"]) == (code, "uk", 1)
    assert row["sent_at"] == to_db(T0)
    assert row["message_id"] == 501
    coupons = {c["code"]: c for c in await shop.coupons()}
    assert set(coupons) == {code, other_code}
    coupon = coupons[code]
    assert (coupon["user_id"], coupon["rule"], coupon["outbox_id"]) == (OLENA, "welcome", row["id"])
    assert (coupon["kind"], coupon["value"]) == ("percent", 10)
    assert (coupon["issued_at"], coupon["valid_until"]) == (to_db(T0), to_db(T0 + 14 * DAY))
    assert coupon["redeemed_at"] is None


async def test_the_next_message_waits_for_the_weekly_cap(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.buy(OLENA, "p1", T0 - 2 * DAY)  # the tip is due 3 days after the first purchase
    await shop.tick()
    assert len(shop.sender.attempts) == 1
    # The next day the tip is due, but one marketing message a week is the promise.
    shop.clock.advance(DAY)
    report, delivered = await shop.tick()
    assert shop.sender.attempts[1:] == []
    assert delivered.attempted == 0
    assert report.written == 0
    assert report.counts[("first_purchase_tip", "wait", "capped")] == 1
    # Until a week after the welcome.
    shop.clock.set(T0 + 7 * DAY - timedelta(minutes=1))
    await shop.tick()
    assert len(shop.sender.attempts) == 1
    shop.clock.set(T0 + 7 * DAY)
    await shop.tick()
    assert len(shop.sender.attempts) == 2
    tip = shop.sender.attempts[1]
    assert tip.html == (
        "Olena, дякуємо за першу покупку в Test Shop!\n"
        "Порада: за кожну покупку нараховуються бали — у вас уже <b>25 балів</b>. "
        "Надішліть /balance, щоб їх побачити."
    )
    assert [(r["rule"], r["state"]) for r in await shop.outbox(OLENA)] == [
        ("welcome", "sent"),
        ("first_purchase_tip", "sent"),
    ]


async def test_planning_the_same_moment_twice_writes_no_new_rows(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    first = await shop.planner.plan(T0)
    again = await shop.planner.plan(T0)
    later = await shop.planner.plan(T0 + timedelta(minutes=15))
    assert (first.written, again.written, later.written) == (2, 0, 0)
    assert [(r["user_id"], r["rule"], r["state"]) for r in await shop.outbox()] == [
        (OLENA, "welcome", "planned"),
        (DMYTRO, "welcome", "planned"),
    ]
    assert again.counts == {}  # the welcome is in flight: nothing else to decide
    # And should two planners race, the unique key turns the second insert into nothing.
    row = NewOutboxRow(OLENA, "welcome", 0, "once", "welcome", 100, OutboxState.PLANNED, T0)
    assert await outbox_store.insert_many(shop.db, [row, row], T0) == 0
    assert len(await shop.outbox()) == 2


# -- win-back -------------------------------------------------------------------------------------------


async def lapsed_customer(shop: Shop) -> None:
    """Opted in 60 days ago (the welcome long gone), one purchase 40 days ago: lapsed since T0 - 5 days."""
    shop.clock.set(T0 - 60 * DAY)
    await shop.join(OLENA)
    shop.clock.set(T0)
    await shop.buy(OLENA, "old", T0 - 40 * DAY)


async def test_a_lapsed_customer_is_won_back_step_by_step_then_left_alone(shop: Shop) -> None:
    await lapsed_customer(shop)
    await shop.tick()
    [offer] = shop.sender.attempts
    code = code_in(offer.html)
    assert offer.html == (
        "Olena, ми сумуємо за вами в Test Shop! Минуло 40 днів.\n\n"
        f"Повертайтеся — <b>знижка 15%</b>.\nВаш код: <code>{code}</code>, діє до 24 березня 2026\u202fр."
    )
    [coupon] = await shop.coupons()
    assert (coupon["code"], coupon["rule"], coupon["value"]) == (code, "win_back", 15)

    await shop.days(13)
    assert len(shop.sender.attempts) == 1
    await shop.days(1)  # T0 + 14 days, no purchase: the second step
    assert len(shop.sender.attempts) == 2
    news = shop.sender.attempts[1]
    assert news.html == (
        "Olena, у Test Shop новинки: багато нового з вашого останнього візиту. "
        "Будемо раді бачити вас знову!\n"
        "У вас і далі <b>25 балів</b>."
    )
    assert news.survey is None

    await shop.days(13)
    assert len(shop.sender.attempts) == 2
    await shop.days(1)  # T0 + 28 days: the last step asks why
    assert len(shop.sender.attempts) == 3
    survey = shop.sender.attempts[2]
    assert survey.html.startswith("Olena, можна одне запитання? Чому ви перестали заходити до Test Shop?")
    assert survey.survey is not None and survey.survey.kind == "leave"
    assert list(survey.survey.labels) == ["service", "quality", "price", "forgot", "moved", "other"]

    # Then nothing, day after day, for 180 days.
    await shop.days(180)
    assert len(shop.sender.attempts) == 3
    rows = await shop.outbox(OLENA)
    assert [(r["rule"], r["step"], r["state"], r["sent_at"]) for r in rows] == [
        ("win_back", 0, "sent", to_db(T0)),
        ("win_back", 1, "sent", to_db(T0 + 14 * DAY)),
        ("win_back", 2, "sent", to_db(T0 + 28 * DAY)),
    ]
    assert len(await shop.coupons()) == 1


async def test_a_purchase_in_between_stops_the_win_back(shop: Shop) -> None:
    await lapsed_customer(shop)
    await shop.tick()
    assert len(shop.sender.attempts) == 1
    # Planning runs daily; the customer comes back on day 10, after the weekly cap let go.
    await shop.days(10)
    await shop.buy(OLENA, "back", shop.clock.now())
    await shop.days(20)
    rows = await shop.outbox(OLENA)
    # No second win-back step; the only later message asks about the new purchase (3 days after it).
    assert [(r["rule"], r["step"], r["state"], r["sent_at"]) for r in rows] == [
        ("win_back", 0, "sent", to_db(T0)),
        ("nps", 0, "sent", to_db(T0 + 13 * DAY)),
    ]
    assert [a.survey.kind if a.survey else None for a in shop.sender.attempts] == [None, "nps"]


# -- checks right before the send -----------------------------------------------------------------------


async def test_stop_between_planning_and_delivery_skips_the_message(shop: Shop) -> None:
    await shop.join(OLENA)
    assert (await shop.planner.plan()).written == 1
    assert await shop.data["customers"].withdraw_consent(OLENA) is True
    report = await shop.delivery.deliver_due()
    assert dict(report.outcomes) == {"skipped: no consent": 1}
    assert shop.sender.attempts == []
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"], row["attempts"], row["coupon_code"]) == (
        "skipped",
        "no consent",
        0,
        None,
    )
    assert await shop.coupons() == []
    await shop.days(3)
    assert shop.sender.attempts == []


async def test_a_long_pause_skips_the_planned_message(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.planner.plan()
    until = await shop.data["customers"].choose_frequency(OLENA, "pause")
    assert until == T0 + 91 * DAY
    report = await shop.delivery.deliver_due()
    assert dict(report.outcomes) == {"skipped: paused by customer": 1}
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"]) == ("skipped", "paused by customer")
    assert shop.sender.attempts == []


async def test_a_short_pause_makes_the_message_wait(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.planner.plan()
    await customer_store.set_frequency(shop.db, OLENA, "normal", T0 + 2 * DAY, T0)
    report = await shop.delivery.deliver_due()
    assert dict(report.outcomes) == {"waits: paused by customer": 1}
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"], row["due_at"]) == (
        "planned",
        "paused by customer",
        to_db(T0 + 2 * DAY),
    )
    # While it waits, planning adds nothing (the welcome is in flight) and nothing is sent.
    shop.clock.advance(DAY)
    report_plan, delivered = await shop.tick()
    assert (report_plan.counts, report_plan.written, delivered.attempted) == ({}, 0, 0)
    shop.clock.set(T0 + 2 * DAY)
    await shop.tick()
    assert [a.chat_id for a in shop.sender.attempts] == [OLENA]
    assert [r["state"] for r in await shop.outbox(OLENA)] == ["sent"]


async def test_a_paused_customer_is_not_planned(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.data["customers"].choose_frequency(OLENA, "pause")
    report = await shop.planner.plan()
    assert report.counts == {("welcome", "not_eligible", "paused by customer"): 1}
    assert await shop.outbox() == []


async def test_delivery_in_quiet_hours_waits_until_10_shop_time(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.planner.plan()
    shop.clock.set(datetime(2026, 3, 10, 19, 30, tzinfo=UTC))  # 21:30 in Kyiv
    report = await shop.delivery.deliver_due()
    assert dict(report.outcomes) == {"waits: quiet hours": 1}
    [row] = await shop.outbox(OLENA)
    morning = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 10:00 in Kyiv
    assert (row["state"], row["reason"], row["due_at"]) == ("planned", "quiet hours", to_db(morning))
    shop.clock.set(morning - timedelta(minutes=1))
    assert (await shop.delivery.deliver_due()).attempted == 0
    shop.clock.set(morning)
    assert dict((await shop.delivery.deliver_due()).outcomes) == {"sent": 1}
    [attempt] = shop.sender.attempts
    assert attempt.html == welcome_uk(code_in(attempt.html), "25 березня 2026\u202fр.")


async def test_planning_in_quiet_hours_plans_for_10_shop_time(shop: Shop) -> None:
    evening = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 22:00 in Kyiv
    shop.clock.set(evening)
    await shop.join(OLENA)
    _, delivered = await shop.tick()
    assert delivered.attempted == 0
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["due_at"]) == ("planned", to_db(datetime(2026, 3, 11, 8, 0, tzinfo=UTC)))
    shop.clock.set(datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    await shop.tick()
    assert len(shop.sender.attempts) == 1


# -- what Telegram answers ------------------------------------------------------------------------------


async def test_a_block_makes_the_customer_unreachable_after_one_try(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.buy(OLENA, "p1", T0 - 2 * DAY)  # more would be due later: the tip, the NPS question
    shop.sender.script[OLENA] = [
        SendResult(SendStatus.BLOCKED, reason="Forbidden: bot was blocked by the user")
    ]
    _, delivered = await shop.tick()
    assert dict(delivered.outcomes) == {"failed: blocked": 1}
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"], row["attempts"]) == ("failed", "blocked", 1)
    customer = await shop.data["customers"].get(OLENA)
    assert customer is not None and customer.reachable is False
    await shop.days(30)
    assert len(shop.sender.attempts) == 1
    assert len(await shop.outbox(OLENA)) == 1


async def test_a_bot_telegram_refuses_stops_delivery_and_every_message_waits(shop: Shop) -> None:
    """401 (token revoked) or 404 (wrong Bot API address): no message is to blame and none would go.
    Delivery stops at the first refusal; the messages stay planned, none failed or unknown, and go
    once the bot is let in again."""
    customers = [OLENA, DMYTRO, *range(2001, 2009)]
    for user_id in customers:
        await shop.join(user_id)
    shop.sender.script[OLENA] = [SendResult(SendStatus.REFUSED, reason="Unauthorized")]
    shop.sender.script[DMYTRO] = [SendResult(SendStatus.REFUSED, reason="Unauthorized")]
    _, delivered = await shop.tick()
    assert delivered.outcomes["stopped: Telegram refused the bot (Unauthorized)"] >= 1
    assert not any(outcome.startswith(("sent", "failed")) for outcome in delivered.outcomes)
    tried = {a.chat_id for a in shop.sender.attempts}
    assert len(tried) < len(customers)  # it stopped: the others were not tried
    states = {user_id: [r["state"] for r in await shop.outbox(user_id)] for user_id in customers}
    assert states == {user_id: ["planned"] for user_id in customers}
    # Let in again (the token fixed): everyone gets the welcome, once.
    shop.sender.script.clear()
    _, delivered = await shop.tick()
    assert delivered.outcomes["sent"] == len(customers)
    for user_id in customers:
        assert [r["state"] for r in await shop.outbox(user_id)] == ["sent"]


async def test_flood_control_sends_the_same_message_again_later_exactly_once(shop: Shop) -> None:
    await shop.join(OLENA)
    shop.sender.script[OLENA] = [
        SendResult(SendStatus.RETRY_AFTER, retry_after=1.0, reason="Too Many Requests")
    ]
    _, delivered = await shop.tick()
    assert dict(delivered.outcomes) == {"retry: flood control": 1}
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"], row["attempts"]) == ("planned", "flood control", 1)
    assert row["due_at"] == to_db(T0 + timedelta(seconds=1))
    code = row["coupon_code"]
    # Not before Telegram's wait is over.
    assert (await shop.delivery.deliver_due()).attempted == 0
    shop.clock.advance(timedelta(seconds=1))
    _, delivered = await shop.tick()
    assert dict(delivered.outcomes) == {"sent": 1}
    await shop.tick()
    await shop.days(2)
    first, second = shop.sender.attempts  # two tries in all, the second one delivered
    assert first.html == second.html == welcome_uk(code)
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["attempts"], row["sent_at"]) == ("sent", 2, to_db(T0 + timedelta(seconds=1)))
    assert [c["code"] for c in await shop.coupons()] == [code]  # the same coupon, not a second one


async def test_a_transient_error_is_retried_with_backoff_then_fails(
    make_shop: Callable[..., Awaitable[Shop]],
) -> None:
    shop = await make_shop(delivery={"max_attempts": 3})
    await shop.join(OLENA)
    error = SendResult(SendStatus.ERROR, reason="Bad Gateway", transient=True)
    shop.sender.script[OLENA] = [error, error, error, error]
    outcomes = [dict((await shop.tick())[1].outcomes)]
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["attempts"], row["due_at"]) == ("planned", 1, to_db(T0 + timedelta(seconds=30)))
    shop.clock.advance(timedelta(seconds=29))
    assert (await shop.delivery.deliver_due()).attempted == 0
    shop.clock.advance(timedelta(seconds=1))
    outcomes.append(dict((await shop.delivery.deliver_due()).outcomes))
    [row] = await shop.outbox(OLENA)
    # The wait doubles.
    assert (row["state"], row["attempts"], row["due_at"]) == ("planned", 2, to_db(T0 + timedelta(seconds=90)))
    shop.clock.set(T0 + timedelta(seconds=90))
    outcomes.append(dict((await shop.delivery.deliver_due()).outcomes))
    assert outcomes == [{"retry: error": 1}, {"retry: error": 1}, {"failed: error": 1}]
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["attempts"], row["reason"]) == ("failed", 3, "Bad Gateway")
    await shop.days(3)
    assert len(shop.sender.attempts) == 3
    customer = await shop.data["customers"].get(OLENA)
    assert customer is not None and customer.reachable is True


async def test_a_retry_shows_the_coupons_real_expiry(shop: Shop) -> None:
    """The coupon is issued at the first try; a retry the next morning must not promise a later date."""
    await shop.join(OLENA)
    await shop.planner.plan()
    first_try = datetime(2026, 3, 10, 18, 59, 45, tzinfo=UTC)  # 20:59:45 in Kyiv
    shop.clock.set(first_try)
    shop.sender.script[OLENA] = [SendResult(SendStatus.ERROR, reason="Bad Gateway", transient=True)]
    assert dict((await shop.delivery.deliver_due()).outcomes) == {"retry: error": 1}
    shop.clock.advance(timedelta(seconds=30))  # 21:00:15: quiet hours, so 10:00 tomorrow
    assert dict((await shop.delivery.deliver_due()).outcomes) == {"waits: quiet hours": 1}
    shop.clock.set(datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    assert dict((await shop.delivery.deliver_due()).outcomes) == {"sent": 1}
    [coupon] = await shop.coupons()
    assert coupon["valid_until"] == to_db(first_try + 14 * DAY)  # 24 March, 20:59 in Kyiv
    first, second = shop.sender.attempts
    assert first.html == second.html == welcome_uk(coupon["code"], "24 березня 2026\u202fр.")


async def test_a_permanent_error_fails_at_once(shop: Shop) -> None:
    await shop.join(OLENA)
    shop.sender.script[OLENA] = [SendResult(SendStatus.ERROR, reason="Bad Request: can't parse entities")]
    _, delivered = await shop.tick()
    assert dict(delivered.outcomes) == {"failed: error": 1}
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["attempts"], row["reason"]) == (
        "failed",
        1,
        "Bad Request: can't parse entities",
    )
    await shop.days(2)
    assert len(shop.sender.attempts) == 1


async def test_a_send_interrupted_by_a_crash_is_never_repeated(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.buy(OLENA, "p1", T0 - 2 * DAY)
    # The process dies while the request is out: the row was marked 'sending' just before.
    shop.sender.script[OLENA] = [ProcessDied()]
    with pytest.raises(ProcessDied):
        await shop.tick()
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["attempts"]) == ("sending", 1)

    assert await shop.delivery.recover() == 1
    assert await shop.delivery.recover() == 0
    [row] = await shop.outbox(OLENA)
    assert (row["state"], row["reason"]) == ("unknown", "interrupted while sending")
    await shop.tick()
    assert len(shop.sender.attempts) == 1
    # It may have arrived, so it counts against the caps: the tip due tomorrow waits a week.
    shop.clock.advance(DAY)
    report, _ = await shop.tick()
    assert report.counts[("first_purchase_tip", "wait", "capped")] == 1
    await shop.days(5)
    assert len(shop.sender.attempts) == 1
    assert [(r["rule"], r["state"]) for r in await shop.outbox(OLENA)] == [("welcome", "unknown")]


# -- claiming a group of messages at once -----------------------------------------------------------------


def planned_row(user_id: int, rule: str, template: str, period: str, due_at: datetime) -> NewOutboxRow:
    return NewOutboxRow(user_id, rule, 0, period, template, 10, OutboxState.PLANNED, due_at)


async def test_two_messages_for_one_customer_in_one_group_keep_the_cap(shop: Shop) -> None:
    # Both are claimed in the same transaction: the second sees the first as sent.
    await shop.join(OLENA, opt_in=False)
    await shop.data["customers"].grant_consent(OLENA, "/start")
    now = shop.clock.now()
    rows = [
        planned_row(OLENA, "welcome", "welcome", "once", now),
        planned_row(OLENA, "birthday", "birthday", "2026", now),
    ]
    assert await outbox_store.insert_many(shop.db, rows, now) == 2
    report = await shop.delivery.deliver_due()
    assert report.outcomes == {"sent": 1, "waits: capped": 1}
    assert len(shop.sender.attempts) == 1
    states = sorted((r["rule"], r["state"], r["reason"]) for r in await shop.outbox(OLENA))
    assert states == [("birthday", "planned", "capped"), ("welcome", "sent", None)]


async def test_a_drawn_coupon_code_that_exists_is_drawn_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    async with shop.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO coupons (code, user_id, rule, kind, value, issued_at, valid_until) "
            "VALUES ('AAAA-AAAA', NULL, 'old', 'percent', 5, ?, ?)",
            (to_db(T0), to_db(T0 + DAY)),
        )
    # Both drawn codes exist; then both draw the same new one (only one may have it); then a fresh one.
    draws = iter(["AAAA-AAAA", "AAAA-AAAA", "BBBB-BBBB", "BBBB-BBBB", "CCCC-CCCC"])
    monkeypatch.setattr("bot.services.nudges.coupon_codes", lambda n: [next(draws) for _ in range(n)])
    await shop.tick()
    assert sorted(code_in(a.html) for a in shop.sender.attempts) == ["BBBB-BBBB", "CCCC-CCCC"]
    assert sorted(c["code"] for c in await shop.coupons()) == ["AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC"]


async def test_messages_claimed_when_delivery_stops_go_back_to_planned(
    make_shop: Callable[..., Awaitable[Shop]],
) -> None:
    # One sender: the first send stops delivery (a shutdown); the rest of its group was claimed already.
    shop = await make_shop(delivery={"senders": 1})
    ids = list(range(2001, 2006))
    await shop.welcome_planned_for(ids)
    stop = asyncio.Event()

    async def stop_delivery(_chat_id: int) -> None:
        stop.set()

    shop.sender.before_send = stop_delivery
    report = await shop.delivery.deliver_due(stop=stop)
    assert report.outcomes == {"sent": 1}
    rows = await shop.outbox()
    assert sorted((r["state"], r["attempts"]) for r in rows) == [("planned", 0)] * 4 + [("sent", 1)]
    assert {c["outbox_id"] for c in await shop.coupons()} <= {r["id"] for r in rows}

    shop.sender.before_send = None
    report = await shop.delivery.deliver_due()
    assert report.outcomes == {"sent": 4}
    assert sorted(a.chat_id for a in shop.sender.attempts) == ids  # each once
    # A put-back row keeps the coupon drawn for it: the code it is sent with is the one on record.
    for row in await shop.outbox():
        coupons = [c for c in await shop.coupons() if c["outbox_id"] == row["id"]]
        assert [c["code"] for c in coupons] == [row["coupon_code"]]


async def test_a_slow_answer_does_not_hold_up_the_next_batch(shop: Shop) -> None:
    # Batches of two: the first send is answered only once a message of the third batch has gone. Were
    # each batch answered in full before the next was read, this would never finish.
    ids = list(range(3001, 3007))
    await shop.welcome_planned_for(ids)
    later_batch_sent = asyncio.Event()

    async def first_answered_late(chat_id: int) -> None:
        if chat_id == ids[0]:
            await later_batch_sent.wait()
        elif chat_id == ids[4]:
            later_batch_sent.set()

    shop.sender.before_send = first_answered_late
    report = await asyncio.wait_for(shop.delivery.deliver_due(batch=2), timeout=10)
    assert report.outcomes == {"sent": 6}
    assert sorted(a.chat_id for a in shop.sender.attempts) == ids
    assert {r["state"] for r in await shop.outbox()} == {"sent"}


async def test_groups_start_small_and_double_up_to_the_claim_size(
    make_shop: Callable[..., Awaitable[Shop]], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await make_shop(delivery={"messages_per_second": 1000, "paid_broadcast": True})  # claim size 100
    assert NudgeDelivery.claim_size(1000) == 100 and NudgeDelivery.FIRST_CLAIM == 32
    await shop.welcome_planned_for(range(4001, 4251))
    groups: list[int] = []
    mark_sending_many = outbox_store.mark_sending_many

    async def recorded(tx: Tx, claims: Sequence[outbox_store.Claim], now: datetime) -> None:
        groups.append(len(claims))
        await mark_sending_many(tx, claims, now)

    monkeypatch.setattr(outbox_store, "mark_sending_many", recorded)
    report = await shop.delivery.deliver_due()
    assert report.outcomes == {"sent": 250}
    assert groups == [32, 64, 100, 54]


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "row-by-row"])
async def test_claims_and_answers_are_written_alike_with_or_without_update_from(
    shop: Shop, monkeypatch: pytest.MonkeyPatch, update_from: bool
) -> None:
    # SQLite before 3.33 has no UPDATE … FROM: the group is then written a row at a time, to the same end.
    monkeypatch.setattr(outbox_store, "UPDATE_FROM", update_from)
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro", language="en")
    await shop.tick()
    rows = {r["user_id"]: r for r in await shop.outbox()}
    sent = {a.chat_id: code_in(a.html) for a in shop.sender.attempts}
    message_ids = sorted(r["message_id"] for r in rows.values())
    assert message_ids == [501, 502]
    for uid, language in ((OLENA, "uk"), (DMYTRO, "en")):
        row = rows[uid]
        assert (row["state"], row["attempts"], row["language"]) == ("sent", 1, language)
        assert row["coupon_code"] == sent[uid] and row["sent_at"] == to_db(T0)
    coupons = {c["code"]: c for c in await shop.coupons()}
    assert {c["outbox_id"] for c in coupons.values()} == {r["id"] for r in rows.values()}
    assert all(c["issued_at"] == to_db(T0) for c in coupons.values())


async def test_each_message_says_what_its_template_asks_for(shop: Shop) -> None:
    # One group, three templates: each message gets its own facts (read only for the templates using them).
    ivan = 1003
    await shop.join(OLENA, language="en")
    beans = PurchaseItem("ARABICA-250", "Arabica 250 g", Decimal("1"), 30_000)
    for user_id, name, bought in ((DMYTRO, "Dmytro", T0 - 20 * DAY), (ivan, "Ivan", T0 - 360 * DAY)):
        await shop.join(user_id, name, language="en")
        phone = f"+38050{user_id:07d}"
        await shop.data["customers"].link_phone(user_id, phone, user_id, name)
        purchase = PurchaseInput(f"p-{user_id}", 30_000, "UAH", bought, phone=phone, items=(beans,))
        await shop.data["loyalty"].record_purchase(purchase, actor="till", source="api")
    now = shop.clock.now()
    rows = [
        planned_row(OLENA, "welcome", "welcome", "once", now),
        planned_row(DMYTRO, "restock", "restock", "ARABICA-250@2026-03-10", now),
        planned_row(ivan, "points_expiring", "points_expiring", "2026-03-15", now),
    ]
    assert await outbox_store.insert_many(shop.db, rows, now) == 3
    assert (await shop.delivery.deliver_due()).outcomes == {"sent": 3}
    sent = dict(shop.sender.sent)
    assert sent[OLENA].startswith("Welcome to <b>Test Shop</b>, Olena!")
    assert sent[DMYTRO].startswith("Dmytro, running low on Arabica 250 g?")
    # Bought 360 days ago: its points go 12 months after the purchase, in 5 days.
    assert sent[ivan].startswith("Ivan, <b>15 points</b> will expire on March 15, 2026.")


# -- holdout and erasure --------------------------------------------------------------------------------


async def test_holdout_records_about_half_and_never_sends_to_them(
    make_shop: Callable[..., Awaitable[Shop]],
) -> None:
    shop = await make_shop(nudges={"holdout_percent": 50})
    users = list(range(5001, 5201))
    for user_id in users:
        await shop.join(user_id, f"Customer {user_id}")
    await shop.tick()
    await shop.tick()
    held = {user_id for user_id in users if in_holdout(user_id, "welcome", 50)}
    assert 80 <= len(held) <= 120
    rows = await shop.outbox()
    assert len(rows) == 200
    assert {r["user_id"] for r in rows if r["state"] == "held_out"} == held
    assert all(r["reason"] == "held out" for r in rows if r["state"] == "held_out")
    assert {r["user_id"] for r in rows if r["state"] == "sent"} == set(users) - held
    assert sorted(a.chat_id for a in shop.sender.attempts) == sorted(set(users) - held)
    assert len(await shop.coupons()) == 200 - len(held)
    await shop.days(8)
    assert len(shop.sender.attempts) == 200 - len(held)


async def test_erasure_removes_the_outbox_rows_and_unowns_the_coupons(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    await shop.tick()
    olena_code = code_in(shop.sender.attempts[0].html)
    dmytro_code = code_in(shop.sender.attempts[1].html)
    assert await shop.data["customers"].erase(OLENA) is True
    assert await shop.outbox(OLENA) == []
    assert [r["user_id"] for r in await shop.outbox()] == [DMYTRO]
    coupons = {c["code"]: c for c in await shop.coupons()}
    assert (coupons[olena_code]["user_id"], coupons[olena_code]["outbox_id"]) == (None, None)
    assert coupons[olena_code]["value"] == 10  # kept for the shop's books
    assert coupons[dmytro_code]["user_id"] == DMYTRO
    assert coupons[dmytro_code]["outbox_id"] is not None
    assert await shop.data["customers"].get(OLENA) is None
    await shop.days(2)
    assert len(shop.sender.attempts) == 2


async def test_erasure_with_a_planned_message(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.planner.plan()
    assert await shop.data["customers"].erase(OLENA) is True
    assert await shop.outbox() == []
    assert (await shop.delivery.deliver_due()).attempted == 0
    assert shop.sender.attempts == []


# -- the `nudges` commands ------------------------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "bot.sqlite3"}"\n\n'
        '[shop]\nname = "Test Shop"\ndefault_language = "uk"\n\n'
        "[nudges]\nholdout_percent = 0\n",
        encoding="utf-8",
    )
    return path


async def seed(tmp_path: Path, make_config: Callable[..., Config]) -> None:
    """Olena opted in an hour before T0; Dmytro never agreed and last bought 40 days before T0."""
    from bot.app import open_application

    clock = ManualClock(T0 - timedelta(hours=1))
    async with open_application(make_config(), clock) as data:
        customers = data["customers"]
        await customers.start(TelegramProfile(OLENA, "Olena", None, None, "uk"), None)
        await customers.grant_consent(OLENA, "/start")
        await customers.start(TelegramProfile(DMYTRO, "Dmytro", None, None, "uk"), None)
        await customers.decline_consent(DMYTRO, "/start")
        await customers.link_phone(DMYTRO, "+380501234567", DMYTRO, "Dmytro")
        purchase = PurchaseInput("old", 50_000, "UAH", T0 - 40 * DAY, phone="+380501234567")
        await data["loyalty"].record_purchase(purchase, actor="till", source="api")


def outbox_count(tmp_path: Path) -> int:
    with closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


NOW_ARG = ["--now", "2026-03-10T11:00:00+02:00"]


def test_cli_plan_dry_run_prints_the_table_and_writes_nothing(
    tmp_path: Path, make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(tmp_path, make_config))
    config = str(write_config(tmp_path))
    assert main(["--config", config, "nudges", "plan", "--dry-run", *NOW_ARG]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = "    customer  rule                 step  outcome      when (shop time)  reason"
    assert lines == [
        header,
        "-" * len(header),
        "        1001  welcome                 0  plan         2026-03-10 11:00  due",
        "        1002  win_back                0  not_eligible 2026-03-05 11:00  no consent",
        "",
        "customers looked at: 2",
        "  welcome              plan         due                          1",
        "  win_back             not_eligible no consent                   1",
    ]
    assert outbox_count(tmp_path) == 0


def test_cli_plan_all_looks_at_every_customer_and_decides_the_same(
    tmp_path: Path, make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(tmp_path, make_config))
    config = str(write_config(tmp_path))
    later = ["--now", "2026-05-09T11:00:00+03:00"]  # Olena's welcome long stale, Dmytro still lapsed
    assert main(["--config", config, "nudges", "plan", "--dry-run", *later]) == 0
    windowed = capsys.readouterr().out.splitlines()
    assert main(["--config", config, "nudges", "plan", "--dry-run", "--all", *later]) == 0
    everyone = capsys.readouterr().out.splitlines()
    assert "customers looked at: 1" in windowed
    assert "customers looked at: 2" in everyone
    assert [line for line in windowed if "looked at" not in line] == [
        line for line in everyone if "looked at" not in line
    ]
    assert "        1002  win_back                0  not_eligible 2026-03-05 11:00  no consent" in everyone


def test_cli_plan_then_status(
    tmp_path: Path, make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(tmp_path, make_config))
    config = str(write_config(tmp_path))
    assert main(["--config", config, "nudges", "status"]) == 0
    assert capsys.readouterr().out == "the outbox is empty\n"
    assert main(["--config", config, "nudges", "plan", *NOW_ARG]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "customers looked at: 1",  # only those who agreed are planned for
        "  welcome              plan         due                          1",
        "new outbox rows: 1",
    ]
    assert outbox_count(tmp_path) == 1
    assert main(["--config", config, "nudges", "plan", *NOW_ARG]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "new outbox rows: 0"
    assert main(["--config", config, "nudges", "status"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "rule                 state         count",
        "welcome              planned           1",
    ]


# -- the planner's prefilter: only customers inside a rule's due window are decided for ------------------
# Asking the database only for them must decide exactly what deciding for every customer decides. A shop
# of customers with varied lives (regulars with a rhythm of their own and products they restock, one-off
# buyers, lapsed and lost ones, birthdays, points about to expire, opt-outs, pauses) runs for four months
# of ticks; before each tick the windowed plan and the plan over every customer are compared.

PRODUCTS = [("BEANS", "Beans"), ("MILK", "Oat milk"), ("TEA", "Tea"), ("CAKE", "Cake")]


def _decisions(plan: list[Decision]) -> list[tuple[object, ...]]:
    return sorted((d.user_id, d.rule, d.step, d.period, d.outcome.value, d.reason, d.due_at) for d in plan)


async def _seed_customers(shop: Shop, count: int, rng: random.Random) -> list[int]:
    users = list(range(7001, 7001 + count))
    loyalty = shop.data["loyalty"]
    for user_id in users:
        await shop.join(
            user_id, f"Name{user_id}", opt_in=rng.random() < 0.9, language=rng.choice(["uk", "en"])
        )
        if rng.random() < 0.3:
            await loyalty.set_birthday(user_id, (T0 + rng.randint(-3, 40) * DAY).strftime("%m-%d"))
        if rng.random() < 0.15:
            continue  # never bought anything
        # A rhythm of their own: every `gap` days (± a little), ending some time before T0.
        gap = rng.choice([3, 7, 7, 14, 30])
        last = T0 - timedelta(days=rng.uniform(0, 200), hours=rng.randint(0, 23))
        purchases = rng.choice([1, 2, 3, 4, 6, 8])
        favourite = rng.choice(PRODUCTS)
        for n in range(purchases):
            at = last - timedelta(days=gap * n + rng.uniform(-1, 1))
            sku, name = favourite if rng.random() < 0.7 else rng.choice(PRODUCTS)
            if n == 0:
                await shop.data["customers"].link_phone(user_id, f"+38050{user_id:07d}", user_id, "Olena")
            await loyalty.record_purchase(
                PurchaseInput(
                    f"p{user_id}-{n}",
                    10_000 + rng.randrange(90_000),
                    "UAH",
                    at,
                    phone=f"+38050{user_id:07d}",
                    items=(PurchaseItem(sku, name, Decimal(1), 10_000),),
                ),
                actor="till",
                source="api",
            )
    return users


async def test_the_windows_decide_what_deciding_for_everyone_decides(
    make_shop: Callable[..., Awaitable[Shop]],
) -> None:
    shop = await make_shop(
        loyalty={"points_expire_months": 3},
        nudges={"holdout_percent": 20},
    )
    rng = random.Random(20261123)
    users = await _seed_customers(shop, 160, rng)
    customers = shop.data["customers"]
    compared = 0
    planned = 0
    for tick in range(4 * 30 * 2):  # every 12 hours for four months
        # The bot is down for four days in the middle: what fell due meanwhile is still due after.
        if not 100 <= tick < 108:
            windowed = await shop.planner.plan(dry_run=True, keep=100_000)
            everyone = await shop.planner.plan(dry_run=True, every_customer=True, keep=100_000)
            assert _decisions(windowed.decisions) == _decisions(everyone.decisions), shop.clock.now()
            assert windowed.counts == everyone.counts
            if tick % 4 == 0:
                # A few customers a slice: the windows are looked at range by range of user ids, and a
                # range with more due customers than a slice holds is cut short.
                sliced = await shop.planner.plan(dry_run=True, keep=100_000, slice_size=3)
                assert _decisions(sliced.decisions) == _decisions(everyone.decisions), shop.clock.now()
            compared += len(everyone.decisions)
            report, _ = await shop.tick()
            planned += report.written
        # Life goes on: some buy again, newcomers join, one stops, one pauses, one stops and opts in
        # again.
        for user_id in rng.sample(users, 3):
            if rng.random() < 0.5:
                await shop.buy(user_id, f"later-{tick}-{user_id}", shop.clock.now() - timedelta(hours=1))
        if tick % 10 == 0:
            users.append(max(users) + 1)
            await shop.join(users[-1], "Newcomer")
        if tick % 7 == 0:
            again = rng.choice(users)
            await customers.withdraw_consent(again)
            await customers.grant_consent(again, "/start")
        if tick % 40 == 0:
            await customers.withdraw_consent(rng.choice(users))
            await customers.choose_frequency(rng.choice(users), rng.choice(["weekly", "monthly", "pause"]))
        shop.clock.advance(timedelta(hours=12))
    # The comparison compared something: every kind of rule was due for someone along the way.
    assert compared > 1000
    rules = {rule for (rule, outcome, _reason) in windowed.counts} | {r["rule"] for r in await shop.outbox()}
    assert {
        "welcome",
        "first_purchase_tip",
        "win_back",
        "birthday",
        "points_expiring",
        "restock",
        "nps",
        "late",
    } <= rules
    assert planned > 100


async def test_planning_leaves_the_switch_interval_as_it_found_it(
    make_shop: Callable[..., Awaitable[Shop]],
) -> None:
    """Planning shortens the interpreter's switch interval while it runs; two runs at once (the
    scheduler's and a dry run) must not leave it short."""
    shop = await make_shop()
    await shop.join(7001, "Olena")
    before = sys.getswitchinterval()
    seen: list[float] = []
    plans = [asyncio.create_task(shop.planner.plan(dry_run=True)) for _ in range(2)]
    while not all(plan.done() for plan in plans):
        seen.append(sys.getswitchinterval())
        await asyncio.sleep(0)
    await asyncio.gather(*plans)
    assert sys.getswitchinterval() == before
    assert min(seen) < before  # and it was shorter meanwhile
