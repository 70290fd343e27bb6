"""Loyalty commands through the real dispatcher, routers and services, with Telegram replaced by LocalSession.

Every assertion is on what a person sees in their chat (or on what the database then holds).
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot, Dispatcher

from bot.app import open_application
from bot.clock import ManualClock
from bot.config import Config
from bot.models import LedgerKind
from bot.services.loyalty import PurchaseInput
from bot.storage import accounts, ledger
from bot.telegram.deps import WorkflowData
from bot.telegram.dispatcher import build_bot, build_dispatcher
from bot.telegram.local_session import LocalChat, LocalSession, SentMessage

STAFF = 1
UNKNOWN_COMMAND = "I don't know this command. /help lists what I can do."
START_FIRST = "Please send /start first."


@dataclass
class Shop:
    """The running bot: its dispatcher, the in-memory Telegram, the services and the clock."""

    dispatcher: Dispatcher
    bot: Bot
    session: LocalSession
    data: WorkflowData
    clock: ManualClock

    def chat(self, user_id: int, name: str, language: str = "en", username: str | None = None) -> LocalChat:
        return LocalChat(self.dispatcher, self.bot, self.session, user_id, name, language, username=username)

    async def customer(
        self, user_id: int, name: str, card: str, language: str = "en", username: str | None = None
    ) -> LocalChat:
        """A customer who scanned their card's QR code: in Telegram, linked to a shop record."""
        await accounts.create(self.data["db"], self.clock.now(), card_code=card)
        chat = self.chat(user_id, name, language, username)
        replies = await chat.send(f"/start card_{card}")
        assert len(replies) == 2
        return chat

    async def points(self, card: str) -> int:
        account = await accounts.by_card(self.data["db"], card)
        assert account is not None
        return await ledger.balance(self.data["db"], account.id)

    async def count(self, table: str) -> int:
        return int(await self.data["db"].fetch_value(f"SELECT COUNT(*) FROM {table}"))

    async def give(self, card: str, amount_minor: int, purchase_id: str) -> None:
        """A purchase reported by the till (not through a chat)."""
        await self.data["loyalty"].record_purchase(
            PurchaseInput(purchase_id, amount_minor, "UAH", self.clock.now(), card=card),
            actor="api",
            source="api",
        )


@pytest.fixture
async def shop(make_config: Callable[..., Config], clock: ManualClock) -> AsyncIterator[Shop]:
    config = make_config(
        staff={"owners": [STAFF]},
        loyalty={"referral_bonus": 50, "birthday_bonus": 100, "regular_from": 2, "loyal_from": 10},
    )
    session = LocalSession(bot_id=42)
    bot = build_bot("42:local-test", session)
    try:
        async with open_application(config, clock, bot) as data:
            dispatcher = build_dispatcher(data)
            await dispatcher.emit_startup(bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data)
            try:
                yield Shop(dispatcher, bot, session, data, clock)
            finally:
                await dispatcher.emit_shutdown(bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data)
    finally:
        await bot.session.close()


@pytest.fixture
def staff(shop: Shop) -> LocalChat:
    return shop.chat(STAFF, "Taras", "en")


def texts(messages: list[SentMessage]) -> list[str]:
    return [m.text for m in messages]


def labels(message: SentMessage) -> list[str]:
    return [str(b["text"]) for row in message.buttons for b in row]


# -- /purchase ----------------------------------------------------------------------------------------


async def test_staff_records_a_purchase_after_confirming_and_the_customer_sees_the_points(
    shop: Shop, staff: LocalChat
) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    [preview] = await staff.send("/purchase ZERNO-1001 250,50")
    assert preview.text == "Record a purchase of <b>UAH\xa0250.50</b> for ZERNO-1001? Points: +12"
    assert labels(preview) == ["✅ Confirm", "Cancel"]
    assert await shop.count("purchases") == 0  # nothing happens before the confirmation

    [recorded] = await staff.press(preview, "Confirm")
    assert recorded.message_id == preview.message_id
    assert (recorded.text, recorded.buttons, recorded.edited) == (
        "Recorded: UAH\xa0250.50, +12 points.",
        [],
        True,
    )
    assert await shop.points("ZERNO-1001") == 12
    row = await shop.data["db"].fetch_one("SELECT amount_minor, source FROM purchases")
    assert row is not None
    assert (row["amount_minor"], row["source"]) == (25050, "staff")
    [entry] = await shop.data["db"].fetch_all("SELECT actor FROM points_ledger")
    assert entry["actor"] == f"staff:{STAFF}"

    assert olena.unseen() == []  # a first purchase changes no tier: nothing unprompted
    assert texts(await olena.send("/balance")) == [
        "<b>Your points: 12</b>\nTier: New\n12 points expire on March 10, 2027.\nCard: ZERNO-1001"
    ]


async def test_a_purchase_for_a_card_the_shop_does_not_know_creates_the_record(
    shop: Shop, staff: LocalChat
) -> None:
    [preview] = await staff.send("/purchase new-77 100 first visit")
    assert preview.text == "Record a purchase of <b>UAH\xa0100.00</b> for new customer NEW-77? Points: +5"
    [recorded] = await staff.press(preview, "Confirm")
    assert recorded.text == "Recorded: UAH\xa0100.00, +5 points."
    assert await shop.points("NEW-77") == 5
    assert await shop.data["db"].fetch_value("SELECT note FROM purchases") == "first visit"


async def test_cancel_records_nothing(shop: Shop, staff: LocalChat) -> None:
    await shop.customer(1001, "Olena", "ZERNO-1001")
    [preview] = await staff.send("/purchase ZERNO-1001 250")
    kept = copy.deepcopy(preview)  # the buttons as they were, to press again later
    [cancelled] = await staff.press(preview, "Cancel")
    assert (cancelled.text, cancelled.buttons) == ("Cancelled: nothing was recorded.", [])
    [late] = await staff.press(kept, "Confirm")
    assert late.text == "This confirmation has expired. Please send the command again."
    assert await shop.count("purchases") == 0
    assert await shop.count("points_ledger") == 0


async def test_confirming_twice_records_once(shop: Shop, staff: LocalChat) -> None:
    await shop.customer(1001, "Olena", "ZERNO-1001")
    [preview] = await staff.send("/purchase ZERNO-1001 250,50")
    kept = copy.deepcopy(preview)
    assert texts(await staff.press(preview, "Confirm")) == ["Recorded: UAH\xa0250.50, +12 points."]
    assert texts(await staff.press(kept, "Confirm")) == [
        "This confirmation has expired. Please send the command again."
    ]
    assert await shop.count("purchases") == 1
    assert await shop.points("ZERNO-1001") == 12


NOT_AN_AMOUNT = "“{}” is not an amount. Write it like 250 or 250.50."
PURCHASE_USAGE = "Usage: /purchase &lt;phone | card | @username | id&gt; &lt;amount&gt; [note]"
BAD_PURCHASES = {
    "/purchase ZERNO-1001 12.345": NOT_AN_AMOUNT.format("12.345"),
    "/purchase ZERNO-1001 -5": NOT_AN_AMOUNT.format("-5"),
    "/purchase ZERNO-1001 abc": NOT_AN_AMOUNT.format("abc"),
    "/purchase ZERNO-1001 1.2.3": NOT_AN_AMOUNT.format("1.2.3"),
    "/purchase ZERNO-1001 0": NOT_AN_AMOUNT.format("0"),
    "/purchase ZERNO-1001 1²": NOT_AN_AMOUNT.format("1²"),  # crashed the handler before the fix
    "/purchase ZERNO-1001": PURCHASE_USAGE,
    "/purchase": PURCHASE_USAGE,
    "/purchase @nobody 100": "No customer found for “@nobody”.",
}


async def test_a_bad_purchase_command_is_answered_and_records_nothing(shop: Shop, staff: LocalChat) -> None:
    await shop.customer(1001, "Olena", "ZERNO-1001")
    for command, answer in BAD_PURCHASES.items():
        replies = await staff.send(command)
        assert texts(replies) == [answer], command
        assert replies[0].buttons == [], command
    assert await shop.count("purchases") == 0


async def test_customers_cannot_use_staff_commands(shop: Shop) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    for command in ("/purchase ZERNO-1001 250", "/redeem ZERNO-1001 5", "/adjust ZERNO-1001 +100 mine"):
        assert texts(await olena.send(command)) == [UNKNOWN_COMMAND], command
    assert await shop.count("purchases") == 0
    assert await shop.count("points_ledger") == 0


# -- /redeem and /adjust ------------------------------------------------------------------------------


async def test_redeem_refuses_more_than_the_balance_and_tells_the_customer_what_was_spent(
    shop: Shop, staff: LocalChat
) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    await shop.give("ZERNO-1001", 60000, "till-1")  # 30 points
    assert texts(await staff.send("/redeem ZERNO-1001 31")) == ["Not enough points: the balance is 30."]
    assert olena.unseen() == []
    assert texts(await staff.send("/redeem ZERNO-1001")) == [
        "Usage: /redeem &lt;phone | card | @username | id&gt; &lt;points&gt;"
    ]
    assert texts(await staff.send("/redeem ZERNO-1001 ten")) == ["“ten” is not a number of points."]
    assert texts(await staff.send("/redeem NOBODY-1 5")) == ["No customer found for “NOBODY-1”."]
    assert await shop.points("ZERNO-1001") == 30

    assert texts(await staff.send("/redeem ZERNO-1001 10")) == ["Spent 10 points. Balance now: 20."]
    assert texts(olena.unseen()) == ["10 points were spent. Balance: 20."]
    # The customer named by Telegram id this time.
    assert texts(await staff.send("/redeem 1001 20")) == ["Spent 20 points. Balance now: 0."]
    assert texts(olena.unseen()) == ["20 points were spent. Balance: 0."]
    assert await shop.points("ZERNO-1001") == 0


async def test_the_redeem_notice_speaks_the_customers_language(shop: Shop, staff: LocalChat) -> None:
    ivan = await shop.customer(1002, "Иван", "IVAN-2", language="ru")
    await shop.give("IVAN-2", 60000, "till-1")
    assert texts(await staff.send("/redeem IVAN-2 21")) == ["Spent 21 points. Balance now: 9."]
    assert texts(ivan.unseen()) == ["Списано 21 балл. Остаток: 9."]


async def test_adjust_usage_and_corrections_both_ways(shop: Shop, staff: LocalChat) -> None:
    await shop.customer(1001, "Olena", "ZERNO-1001", username="olena")
    usage = "Usage: /adjust &lt;phone | card | @username | id&gt; &lt;+N or -N&gt; &lt;reason&gt;"
    assert texts(await staff.send("/adjust")) == [usage]
    assert texts(await staff.send("/adjust ZERNO-1001 +10")) == [usage]  # a reason is required
    assert texts(await staff.send("/adjust ZERNO-1001 ten gift")) == ["“ten” is not a number of points."]
    assert texts(await staff.send("/adjust ZERNO-1001 0 nothing")) == ["The correction cannot be zero."]

    assert texts(await staff.send("/adjust ZERNO-1001 +10 birthday gift")) == [
        "Corrected by +10 points. Balance now: 10."
    ]
    assert texts(await staff.send("/adjust @olena -15 oops")) == ["Not enough points: the balance is 10."]
    assert texts(await staff.send("/adjust @olena -3 typo")) == ["Corrected by -3 points. Balance now: 7."]
    rows = await shop.data["db"].fetch_all(
        "SELECT kind, points, reason, actor FROM points_ledger ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("adjust", 10, "birthday gift", f"staff:{STAFF}"),
        ("adjust", -3, "typo", f"staff:{STAFF}"),
    ]


# -- the customer's side ------------------------------------------------------------------------------


async def test_history_lists_the_newest_first_in_english_and_russian(shop: Shop, staff: LocalChat) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    ivan = await shop.customer(1002, "Иван", "IVAN-2", language="ru")
    assert texts(await olena.send("/history")) == ["No points operations yet."]
    assert texts(await ivan.send("/history")) == ["Операций с баллами пока нет."]
    for card in ("ZERNO-1001", "IVAN-2"):
        await shop.give(card, 25050, f"till-{card}")  # 10 March: +12
    shop.clock.advance(timedelta(days=1))
    await staff.send("/redeem ZERNO-1001 5")
    await staff.send("/redeem IVAN-2 5")
    shop.clock.advance(timedelta(days=1))
    await staff.send("/adjust ZERNO-1001 +10 sorry")
    await staff.send("/adjust IVAN-2 +10 sorry")
    assert texts(olena.unseen()) == ["5 points were spent. Balance: 7."]
    assert texts(ivan.unseen()) == ["Списано 5 баллов. Остаток: 7."]
    assert texts(await olena.send("/history")) == [
        "<b>Your last points operations</b>\n"
        "March 12, 2026 · +10 · correction\n"
        "March 11, 2026 · -5 · spent\n"
        "March 10, 2026 · +12 · purchase"
    ]
    assert texts(await ivan.send("/history")) == [
        "<b>Ваши последние операции с баллами</b>\n"
        "12 марта 2026\u202fг. · +10 · корректировка\n"
        "11 марта 2026\u202fг. · -5 · списание\n"
        "10 марта 2026\u202fг. · +12 · покупка"
    ]


async def test_history_and_balance_without_a_linked_record(shop: Shop) -> None:
    emma = shop.chat(1003, "Emma", "en")
    await emma.send("/start")
    unlinked = (
        "You have not linked a loyalty account yet. Scan the QR code on your loyalty card or receipt, "
        "or share your phone number with the button below."
    )
    assert texts(await emma.send("/history")) == [unlinked]
    assert texts(await emma.send("/balance")) == [unlinked]


async def test_a_tier_up_reaches_the_customer_in_their_language(shop: Shop) -> None:
    ivan = await shop.customer(1002, "Иван", "IVAN-2", language="ru")
    await shop.give("IVAN-2", 10000, "till-1")
    assert ivan.unseen() == []
    await shop.give("IVAN-2", 10000, "till-2")  # regular_from = 2 purchases
    assert texts(ivan.unseen()) == [
        "Поздравляем! Теперь ваш уровень — <b>Постоянный</b>. Спасибо, что возвращаетесь!"
    ]


async def test_invite_link_and_a_friend_who_accepts_and_buys(shop: Shop, staff: LocalChat) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    [invite] = await olena.send("/invite")
    match = re.fullmatch(
        r"Invite friends to https://t\.me/demo_bot\?start=ref_(\w+)\n"
        r"When a friend makes their first purchase, you both get 50 points\.\n"
        r"Invited: 0, already bought: 0\.",
        invite.text,
    )
    assert match is not None, invite.text
    code = match[1]
    assert code == await shop.data["loyalty"].referral_code(1001)
    assert texts(await olena.send("/invite"))[0] == invite.text  # the same link every time

    emma = shop.chat(1003, "Emma", "en")
    accepted, consent = await emma.send(f"/start ref_{code}")
    assert accepted.text == "Your friend invited you! After your first purchase you will both get 50 points."
    assert consent.text.startswith("Hello, Emma! This is the bot of <b>Test Shop</b>.")
    assert texts(await emma.send(f"/start ref_{code}"))[0] == "You have already been invited by someone."
    assert texts(await olena.send(f"/start ref_{code}"))[0] == (
        "This is your own invitation link: send it to a friend."
    )
    assert texts(await emma.send("/start ref_nosuchcode"))[0] == "This invitation link is not valid any more."
    assert texts(await olena.send("/invite"))[0].endswith("Invited: 1, already bought: 0.")

    # Emma links her new card and buys for the first time: both get the referral bonus, once.
    await accounts.create(shop.data["db"], shop.clock.now(), card_code="EMMA-3")
    await emma.send("/start card_EMMA-3")
    emma.unseen()
    [preview] = await staff.send("/purchase EMMA-3 100")
    assert texts(await staff.press(preview, "Confirm")) == ["Recorded: UAH\xa0100.00, +55 points."]
    assert texts(olena.unseen()) == ["Your friend made their first purchase: you got 50 points. Thank you!"]
    assert texts(emma.unseen()) == ["Welcome bonus for being invited by a friend: 50 points."]
    assert (await shop.points("ZERNO-1001"), await shop.points("EMMA-3")) == (50, 55)

    [preview] = await staff.send("/purchase EMMA-3 100")
    assert texts(await staff.press(preview, "Confirm")) == ["Recorded: UAH\xa0100.00, +5 points."]
    assert olena.unseen() == []
    assert (await shop.points("ZERNO-1001"), await shop.points("EMMA-3")) == (50, 60)
    assert texts(await olena.send("/invite"))[0].endswith("Invited: 1, already bought: 1.")


async def test_birthday_asked_refused_saved_shown_and_celebrated(shop: Shop) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    assert texts(await olena.send("/birthday")) == [
        "Tell us your birthday and get a gift: send /birthday DD.MM, for example /birthday 14.03. "
        "Only the day and month."
    ]
    assert texts(await olena.send("/birthday 31.02")) == [
        "“31.02” is not a date. Send day and month like this: /birthday 14.03"
    ]
    assert await shop.data["loyalty"].birthday(1001) is None
    assert texts(await olena.send("/birthday 14.03")) == ["Saved: 14.03. We will remember!"]
    assert texts(await olena.send("/birthday")) == [
        "Your birthday: 14.03. To change it, send /birthday DD.MM."
    ]
    assert texts(await olena.send("/birthday 1/4")) == ["Saved: 01.04. We will remember!"]
    assert texts(await olena.send("/birthday")) == [
        "Your birthday: 01.04. To change it, send /birthday DD.MM."
    ]

    shop.clock.set(datetime(2026, 3, 31, 22, 30, tzinfo=UTC))  # 1 April, 01:30 in Kyiv
    assert await shop.data["loyalty"].pay_birthday_bonuses() == 1
    assert texts(olena.unseen()) == ["Happy birthday! 🎉 A gift from us: 100 points."]
    assert await shop.data["loyalty"].pay_birthday_bonuses() == 0
    assert olena.unseen() == []
    assert await shop.points("ZERNO-1001") == 100


async def test_someone_who_never_started_is_asked_to_start_first(shop: Shop) -> None:
    stranger = shop.chat(4242, "Stranger", "en")
    # /invite used to loop for ever here: no customer row to keep a referral code in.
    assert texts(await asyncio.wait_for(stranger.send("/invite"), timeout=5)) == [START_FIRST]
    assert texts(await stranger.send("/birthday 14.03")) == [START_FIRST]
    assert texts(await stranger.send("/birthday")) == [
        "Tell us your birthday and get a gift: send /birthday DD.MM, for example /birthday 14.03. "
        "Only the day and month."
    ]
    assert await shop.count("customers") == 0


async def test_kinds_in_history_cover_bonuses_and_expiry(shop: Shop) -> None:
    olena = await shop.customer(1001, "Olena", "ZERNO-1001")
    await shop.give("ZERNO-1001", 20000, "till-1")  # +10 on 10 March 2026, expiring 10 March 2027
    shop.clock.set(datetime(2027, 3, 10, 9, 0, tzinfo=UTC))
    assert await shop.data["loyalty"].expire_due_points() == 10
    await shop.data["loyalty"].set_birthday(1001, "03-10")
    assert await shop.data["loyalty"].pay_birthday_bonuses() == 1
    olena.unseen()
    assert texts(await olena.send("/history")) == [
        "<b>Your last points operations</b>\n"
        "March 10, 2027 · +100 · bonus\n"
        "March 10, 2027 · -10 · expired\n"
        "March 10, 2026 · +10 · purchase"
    ]
    kinds = [e.kind for e in await ledger.entries(shop.data["db"], 1)]
    assert kinds == [LedgerKind.EARN, LedgerKind.EXPIRE, LedgerKind.BONUS]
