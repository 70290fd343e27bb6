"""What a customer sees, through the real dispatcher: consent, /stop, language, balance, data, erasure."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

from bot.models import ConsentAction, ConsentState, LedgerKind
from bot.storage import accounts, customers, ledger
from bot.telegram.local_session import SentMessage

SHOP_NAME = "Spice Shop"  # as tests/inprocess/conftest.py configures it


def only(messages: list[SentMessage]) -> SentMessage:
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def labels(message: SentMessage) -> list[str]:
    return [str(b["text"]) for row in message.buttons for b in row]


# -- consent ---------------------------------------------------------------------------------------


async def test_consent_flow_in_english(app) -> None:
    en = app.tr("en")
    chat = app.chat(1003, "Emma", "en")
    question = only(await chat.send("/start"))
    assert question.text == en("consent-question", name="Emma", shop=SHOP_NAME, per_week=1, per_month=3)
    assert "never more than one message a week and 3 a month" in question.text.lower()
    assert labels(question) == ["✅ Yes, send me offers", "No, thanks"]

    answer = only(await chat.press(question, "Yes"))
    assert answer.message_id == question.message_id  # the question is edited into the answer
    assert answer.edited
    assert answer.text == en("consent-granted")
    assert answer.buttons == []

    customer = await customers.get(app.data["db"], 1003)
    assert customer is not None
    assert customer.consent is ConsentState.GRANTED
    (event,) = await customers.consent_history(app.data["db"], 1003)
    assert (event.action, event.source, event.text_version) == (ConsentAction.GRANTED, "/start", "1")

    again = only(await chat.send("/start"))
    assert again.text == en("welcome-back-subscribed", name="Emma", shop=SHOP_NAME)
    assert again.buttons == []


async def test_consent_flow_in_russian_with_a_deep_link(app) -> None:
    ru = app.tr("ru")
    chat = app.chat(1002, "Дмитрий", "ru")
    question = only(await chat.send("/start promo_spring"))
    assert question.text.startswith("Здравствуйте, Дмитрий! Это бот <b>Spice Shop</b>.")
    assert "Не чаще 1 сообщения в неделю и 3 в месяц" in question.text
    assert labels(question) == ["✅ Да, присылайте", "Нет, спасибо"]

    answer = only(await chat.press(question, "Нет, спасибо"))
    assert answer.text == ru("consent-declined")
    (event,) = await customers.consent_history(app.data["db"], 1002)
    assert (event.action, event.source) == (ConsentAction.DECLINED, "/start promo_spring")

    # Declining is not final: /start asks again, and yes is recorded as a second decision.
    question = only(await chat.send("/start"))
    assert question.text.startswith("Здравствуйте")
    only(await chat.press(question, "Да"))
    history = await customers.consent_history(app.data["db"], 1002)
    assert [e.action for e in history] == [ConsentAction.DECLINED, ConsentAction.GRANTED]


async def test_language_follows_telegram_else_the_shop_default(app) -> None:
    assert only(await app.chat(2001, "Оля", "uk").send("/start")).text.startswith("Вітаємо, Оля!")
    assert only(await app.chat(2002, "Hans", "de").send("/start")).text.startswith("Вітаємо, Hans!")
    assert only(await app.chat(2003, "Ann", None).send("/start")).text.startswith("Вітаємо, Ann!")
    assert only(await app.chat(2004, "Ann", "en-GB").send("/start")).text.startswith("Hello, Ann!")


async def test_stop(app) -> None:
    en = app.tr("en")
    stranger = app.chat(5000, "Nobody", "en")
    assert only(await stranger.send("/stop")).text == en("stop-not-subscribed")
    assert await customers.get(app.data["db"], 5000) is None  # /stop alone stores nobody

    chat = app.chat(1003, "Emma", "en")
    only(await chat.press(only(await chat.send("/start")), "Yes"))
    assert only(await chat.send("/stop")).text == en("stop-done")
    customer = await customers.get(app.data["db"], 1003)
    assert customer is not None and customer.consent is ConsentState.WITHDRAWN
    assert only(await chat.send("/stop")).text == en("stop-not-subscribed")
    # /start after /stop asks again rather than welcoming back.
    assert only(await chat.send("/start")).buttons


# -- language --------------------------------------------------------------------------------------


async def test_language_switch(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    question = only(await chat.send("/language"))
    assert question.text == "Choose your language:"
    assert labels(question) == ["Русский", "Українська", "English"]
    answer = only(await chat.press(question, "Русский"))
    assert answer.text == "Язык: русский."
    assert await customers.get_language(app.data["db"], 1003) == "ru"
    # From now on the bot speaks Russian to Emma, whatever her Telegram says.
    assert only(await chat.send("/help")).text == app.tr("ru")("help", shop=SHOP_NAME)
    # and her command menu followed.
    menus = app.session.settings["SetMyCommands"]
    mine = [m for m in menus if m.get("scope", {}).get("chat_id") == 1003]
    assert mine, menus
    assert {"command": "balance", "description": "Мои баллы, уровень и сгорание"} in mine[-1]["commands"]


async def test_language_button_of_a_stranger_asks_for_start(app) -> None:
    chat = app.chat(5001, "Emma", "en")
    question = only(await chat.send("/language"))
    assert await chat.press(question, "Українська") == []
    assert app.session.alerts[-1] == (0, app.tr("uk")("consent-start-again"))
    assert await customers.get(app.data["db"], 5001) is None


# -- balance and linking ---------------------------------------------------------------------------


async def test_balance_unlinked_offers_the_phone_button(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    answer = only(await chat.send("/balance"))
    assert answer.text == app.tr("en")("balance-unlinked")
    (button,) = [b for row in answer.reply_keyboard for b in row]
    assert button == {"text": "📱 Share my phone number", "request_contact": True}


async def test_balance_linked_by_card(app) -> None:
    db = app.data["db"]
    now = app.clock.now()
    account = await accounts.create(db, now, card_code="SPICE-7", name="Olena")
    for n, (points, days_ago) in enumerate([(21, 300), (40, 30)]):
        at = now - timedelta(days=days_ago)
        await ledger.append(
            db,
            account.id,
            LedgerKind.EARN,
            points,
            reason="purchase",
            actor="import",
            at=at,
            expires_at=at + timedelta(days=365),
            external_id=f"seed-{n}",
        )
        await ledger.record_purchase(db, account.id, f"p-{n}", 10_000, "UAH", at, now)
    chat = app.chat(1001, "Олена", "uk")
    first, question = await chat.send("/start card_spice-7")
    assert first.text == "Ваш бонусний рахунок у Spice Shop прив'язано до цього чату."
    assert question.buttons  # the consent question still follows
    answer = only(await chat.send("/balance"))
    expiry = app.tr("uk").date(now - timedelta(days=300) + timedelta(days=365), app.config.shop.zone)
    assert answer.text.splitlines() == [
        "<b>Ваші бали: 61</b>",
        "Рівень: Новий",
        f"Найближче згоряння: {expiry} — 21 бал.",
        "Картка: SPICE-7",
    ]


async def test_linking_by_shared_contact(app) -> None:
    db = app.data["db"]
    account = await accounts.create(db, app.clock.now(), phone="+380671234567", name="Дмитрий")
    chat = app.chat(1002, "Дмитрий", "ru")
    # Before /start there is no one to link.
    assert only(await chat.share_contact("+380671234567")).text == app.tr("ru")("consent-start-again")
    await chat.send("/start")
    assert only(await chat.share_contact("+380671234567", own=False)).text == app.tr("ru")(
        "link-not-own-contact"
    )
    assert (await accounts.get(db, account.id)).user_id is None  # type: ignore[union-attr]
    linked, hint = await chat.share_contact("380671234567")
    assert linked.text == "Ваш бонусный счёт в Spice Shop привязан к этому чату."
    assert hint.text == app.tr("ru")("link-see-balance")
    assert (await accounts.get(db, account.id)).user_id == 1002  # type: ignore[union-attr]
    answer = only(await chat.send("/balance"))
    assert answer.text.splitlines()[:3] == [
        "<b>Ваши баллы: 0</b>",
        "Уровень: Новый",
        "Ни один из ваших баллов пока не сгорает.",
    ]


async def test_link_command_shows_how(app) -> None:
    answer = only(await app.chat(1003, "Emma", "en").send("/link"))
    assert answer.text == app.tr("en")("link-how")
    assert answer.reply_keyboard == [[{"text": "📱 Share my phone number", "request_contact": True}]]


# -- my data and forget ----------------------------------------------------------------------------


async def test_mydata(app) -> None:
    en = app.tr("en")
    chat = app.chat(1003, "Emma", "en", username="emma")
    assert only(await chat.send("/mydata")).text == en("mydata-none")
    await chat.press(only(await chat.send("/start ig")), "Yes")
    answer = only(await chat.send("/mydata"))
    assert answer.text == en("mydata-caption")
    assert answer.document_name == "mydata-1003.json"
    assert answer.document is not None
    document = json.loads(answer.document.decode("utf-8"))
    assert document["shop"] == SHOP_NAME
    assert document["customer"]["user_id"] == 1003
    assert document["customer"]["username"] == "emma"
    assert document["customer"]["consent"] == "granted"
    assert [(e["action"], e["source"]) for e in document["consent_history"]] == [("granted", "/start ig")]
    assert document["loyalty_account"] is None


async def test_forget_confirmed(app) -> None:
    db = app.data["db"]
    en = app.tr("en")
    chat = app.chat(1003, "Emma", "en")
    consent_question = only(await chat.send("/start"))
    old_question = copy.deepcopy(consent_question)  # pressing edits the message the session keeps
    await chat.press(consent_question, "Yes")
    question = only(await chat.send("/forget"))
    assert question.text == en("forget-question")
    assert labels(question) == ["Yes, erase", "Cancel"]
    answer = only(await chat.press(question, "Yes, erase"))
    assert answer.text == en("forget-done")
    assert await customers.get(db, 1003) is None
    assert await db.fetch_value("SELECT COUNT(*) FROM consent_events") == 0
    assert await db.fetch_value("SELECT COUNT(*) FROM erasures") == 1
    # Buttons from before the erasure do not bring the person back.
    assert await chat.press(old_question, "Yes") == []
    assert app.session.alerts[-1] == (0, en("consent-start-again"))
    assert await customers.get(db, 1003) is None
    assert only(await chat.send("/forget")).text == en("forget-nothing")
    assert only(await chat.send("/mydata")).text == en("mydata-none")


async def test_forget_cancelled(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    question = only(await chat.send("/forget"))
    answer = only(await chat.press(question, "Cancel"))
    assert answer.text == app.tr("en")("forget-cancelled")
    assert await customers.get(app.data["db"], 1003) is not None


async def test_forget_pressed_twice(app) -> None:
    chat = app.chat(1003, "Emma", "en")
    await chat.send("/start")
    question = only(await chat.send("/forget"))
    old_question = copy.deepcopy(question)
    only(await chat.press(question, "Yes, erase"))
    # The old button pressed again (a second device, a slow network).
    assert only(await chat.press(old_question, "Yes, erase")).text == app.tr("en")("forget-nothing")
    assert await app.data["db"].fetch_value("SELECT COUNT(*) FROM erasures") == 1
