"""The catch-all, staff commands, failures, repeated updates and hostile names, through the dispatcher."""

from __future__ import annotations

import logging

import pytest
from aiogram.types import Update

from bot.services.loyalty import LoyaltyService
from bot.storage import accounts, customers
from bot.storage import updates as update_store
from bot.telegram.local_session import SentMessage

OWNER_ID = 1  # as tests/inprocess/conftest.py configures [staff]
STAFF_ID = 2


def only(messages: list[SentMessage]) -> SentMessage:
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


# -- the catch-all ---------------------------------------------------------------------------------


async def test_unknown_command(app) -> None:
    assert only(await app.chat(1003, "Emma", "en").send("/frobnicate")).text == app.tr("en")(
        "unknown-command"
    )
    assert only(await app.chat(1004, "Оля", "uk").send("/frobnicate")).text == app.tr("uk")("unknown-command")


async def test_free_text(app) -> None:
    answer = only(await app.chat(1003, "Emma", "en").send("hello, is the shop open on Sunday?"))
    assert answer.text == app.tr("en")("free-text")


async def test_a_sticker_is_other_content(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    sticker = {
        "file_id": "CAACAgIAAxkBAAE",
        "file_unique_id": "AgADsticker",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    answer = only(await chat._feed(chat._message(sticker=sticker)))
    assert answer.text == app.tr("en")("other-content")


async def test_a_stale_button_gets_a_popup(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    old = SentMessage(
        chat_id=1003,
        message_id=1,
        text="An old offer",
        buttons=[[{"text": "Take it", "callback_data": "offer:77"}]],
    )
    assert await chat.press(old, "Take it") == []
    assert app.session.alerts == [(0, app.tr("en")("stale-button"))]


async def test_a_language_button_for_a_language_we_do_not_speak_is_stale(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    old = SentMessage(
        chat_id=1003, message_id=1, text="?", buttons=[[{"text": "Deutsch", "callback_data": "lang:de"}]]
    )
    assert await chat.press(old, "Deutsch") == []
    assert app.session.alerts == [(0, app.tr("en")("stale-button"))]
    assert await customers.get_language(app.data["db"], 1003) is None


# -- staff -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/stats", "/customer 1003", "/staffhelp"])
async def test_staff_commands_are_unknown_to_customers(app, command: str) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    unknown = only(await chat.send("/frobnicate")).text
    assert only(await chat.send(command)).text == unknown


async def test_stats_for_the_owner(app) -> None:
    emma = app.chat(1003, "Emma", "en")
    await emma.press(only(await emma.send("/start")), "Yes")
    await app.chat(1004, "Оля", "uk").send("/start")
    ira = app.chat(1005, "Іра", "uk")
    await ira.send("/start")
    await ira.press(only(await ira.send("/forget")), "Так")
    answers = await app.chat(OWNER_ID, "Тарас", "uk").send("/stats")
    text = "\n".join(m.text for m in answers)
    assert "<b>Клієнти</b>: 2" in text
    assert "Підписані на пропозиції: 1 " in text
    assert "Прив'язали бонусний рахунок: 0 " in text
    assert "Видалені на запит: 1" in text


async def test_staff_help_and_help_for_staff(app) -> None:
    staff = app.chat(STAFF_ID, "Ivan", "en")
    assert only(await staff.send("/staffhelp")).text == app.tr("en")("staff-help")
    assert app.tr("en")("staff-help") in only(await staff.send("/help")).text
    customer_help = only(await app.chat(1003, "Emma", "en").send("/help")).text
    assert app.tr("en")("staff-help") not in customer_help
    assert customer_help == app.tr("en")("help", shop="Spice Shop")


async def test_staff_get_their_own_command_menu_at_startup(app) -> None:
    menus = app.session.settings["SetMyCommands"]
    for staff_id in (OWNER_ID, STAFF_ID):
        (menu,) = [m for m in menus if m.get("scope", {}).get("chat_id") == staff_id]
        assert "stats" in [c["command"] for c in menu["commands"]]
    defaults = [m for m in menus if m["scope"]["type"] == "default"]
    assert len(defaults) == 4  # ru, uk, en and the fallback
    for menu in defaults:
        assert "stats" not in [c["command"] for c in menu["commands"]]


async def test_customer_lookup(app) -> None:
    db = app.data["db"]
    emma = app.chat(1003, "Emma", "en", username="emma_w")
    await emma.send("/start")
    await accounts.create(db, app.clock.now(), card_code="SPICE-9", phone="+447700900123", name="Emma")
    await emma.send("/start card_SPICE-9")
    owner = app.chat(OWNER_ID, "Taras", "en")
    by_card = only(await owner.send("/customer spice-9")).text
    assert by_card.splitlines()[:3] == [
        "<b>Emma</b> (id 1003, @emma_w)",
        "Offers: not asked yet",
        "Language: en",
    ]
    assert "Card: SPICE-9, phone: +447700900123" in by_card
    assert only(await owner.send("/customer @EMMA_W")).text == by_card
    assert only(await owner.send("/customer 1003")).text == by_card
    assert only(await owner.send("/customer +44 7700 900123")).text == by_card
    assert only(await owner.send("/customer nobody-here")).text == app.tr("en")(
        "customer-not-found", query="nobody-here"
    )
    assert only(await owner.send("/customer")).text == app.tr("en")("customer-usage")


# -- failures and repeats --------------------------------------------------------------------------


async def test_a_failing_handler_becomes_an_apology(
    app, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: LoyaltyService, user_id: int) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(LoyaltyService, "balance_for_user", broken)
    chat = app.chat(1002, "Дмитрий", "ru")
    await chat.send("/start")
    with caplog.at_level(logging.ERROR):
        answer = only(await chat.send("/balance"))
    assert answer.text == app.tr("ru")("error-generic")
    assert "database on fire" not in answer.text
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)
    # The bot keeps working for the next update.
    assert only(await chat.send("/help")).text == app.tr("ru")("help", shop="Spice Shop")


async def test_the_same_update_is_answered_once(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    payload = chat._message(text="/help", entities=[{"type": "bot_command", "offset": 0, "length": 5}])
    update_id = 2_000_000_001
    update = Update.model_validate({"update_id": update_id, **payload}, context={"bot": app.bot})
    before = app.session.last_seq
    await app.dispatcher.feed_update(app.bot, update)
    await app.dispatcher.feed_update(app.bot, update)
    answers = app.session.since(before, 1003)
    assert [m.text for m in answers] == [app.tr("en")("help", shop="Spice Shop")]
    assert await update_store.is_processed(app.data["db"], app.bot.id, update_id)


async def test_an_update_that_failed_is_not_marked_handled(app, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: LoyaltyService, user_id: int) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(LoyaltyService, "balance_for_user", broken)
    chat = app.chat(1003, "Emma", "en")
    payload = chat._message(text="/balance", entities=[{"type": "bot_command", "offset": 0, "length": 8}])
    update = Update.model_validate({"update_id": 2_000_000_002, **payload}, context={"bot": app.bot})
    await app.dispatcher.feed_update(app.bot, update)
    # Redelivered after the fault is gone, it is handled rather than dropped.
    assert not await update_store.is_processed(app.data["db"], app.bot.id, 2_000_000_002)
    assert app.data["in_flight"].count == 0


# -- hostile names ---------------------------------------------------------------------------------


async def test_a_name_with_html_is_escaped(app) -> None:
    chat = app.chat(1003, "<b>&", "en", username="tag")
    question = only(await chat.send("/start"))
    assert question.text.startswith("Hello, &lt;b&gt;&amp;! This is the bot of <b>Spice Shop</b>.")
    await chat.press(question, "Yes")
    assert only(await chat.send("/start")).text.startswith("Welcome back, &lt;b&gt;&amp;!")
    card = only(await app.chat(OWNER_ID, "Taras", "en").send("/customer @tag")).text
    assert card.splitlines()[0] == "<b>&lt;b&gt;&amp;</b> (id 1003, @tag)"
    # The data export is JSON, not HTML: the name is kept as given.
    assert (await customers.get(app.data["db"], 1003)).first_name == "<b>&"  # type: ignore[union-attr]


async def test_a_shop_name_with_html_is_escaped(make_app) -> None:
    app = await make_app(shop={"name": "Spice & <Co>"})
    question = only(await app.chat(1003, "Emma", "en").send("/start"))
    assert "This is the bot of <b>Spice &amp; &lt;Co&gt;</b>." in question.text


async def test_a_long_odd_deep_link_still_fits_the_buttons(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    payload = "x:" + "я" * 60
    question = only(await chat.send(f"/start {payload}"))
    for row in question.buttons:
        for button in row:
            assert len(button["callback_data"].encode()) <= 64
    only(await chat.press(question, "Yes"))
    (event,) = await customers.consent_history(app.data["db"], 1003)
    assert event.source.startswith("/start x_я")
