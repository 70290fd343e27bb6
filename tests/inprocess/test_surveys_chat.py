"""Feedback through the real dispatcher: the win-back survey a lapsed customer gets after 28 days, the
NPS scale, the owner's /survey (chart and summary) and /export surveys.

Built as bot/demo.py builds it (tests/inprocess/conftest.py): `open_application(config, clock, bot)` on
a LocalSession, so staff alerts go through the same session into the owner's chat. Time passes as the
demo's `:wait` lets it: the ManualClock moves a day at a time and planning and delivery run.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from matplotlib.image import imread

from bot.charts import survey_chart
from bot.models import TelegramProfile
from bot.services.loyalty import PurchaseInput
from bot.services.nudges import NudgeDelivery
from bot.services.surveys import SurveyReport
from bot.storage import accounts
from bot.telegram.local_session import LocalChat, SentMessage

# tests/inprocess/conftest.py builds the app (`make_app`); it is not a package, so its names are repeated.
OWNER_ID = 1
STAFF_ID = 2
App = Any  # conftest's App: config, clock, data, dispatcher, bot, session; chat(...), tr(...)
AppFactory = Callable[..., Awaitable[App]]
T0 = datetime.fromisoformat("2026-03-10T09:00:00+00:00")  # the `clock` fixture's start, 11:00 in Kyiv
DAY = timedelta(days=1)
FAST = {
    "nudges": {"holdout_percent": 0},
    "delivery": {"messages_per_second": 1000, "paid_broadcast": True, "per_chat_interval_seconds": 0},
}
CODE = re.compile(r"<code>([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})</code>")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

REASONS = {
    "ru": [
        "😞 Обслуживание",
        "👎 Качество",
        "💸 Цена / лучшее предложение",
        "🤷 Забыл(а) о вас",
        "🚚 Переехал(а) / больше не нужно",
        "✍️ Другое",
    ],
    "en": [
        "😞 Service",
        "👎 Quality",
        "💸 Price / a better offer elsewhere",
        "🤷 Forgot about you",
        "🚚 Moved / no longer need",
        "✍️ Other",
    ],
}
FEWER = {"ru": "🔕 Реже", "en": "🔕 Fewer messages"}
SURVEY_TEXT = {
    "ru": "{name}, можно один вопрос? Почему вы перестали заходить в Spice Shop? "
    "Достаточно одного нажатия — честный ответ поможет нам стать лучше.",
    "en": "{name}, may we ask one question? What made you stop coming to Spice Shop? "
    "One tap is enough — an honest answer helps us get better.",
}
ASK_COMMENT = {
    "ru": "Спасибо! Хотите что-то добавить? Просто напишите сообщение или нажмите «Без комментария».",
    "en": "Thank you! Would you like to add anything? Just write it in a message, or tap “No comment”.",
}
SKIP = {"ru": "Без комментария", "en": "No comment"}
PRICE_FOLLOW_UP = {
    # Answered 28 days after T0; the coupon is valid 14 days more: 21 April 2026.
    "ru": "Спасибо, {name}. Вот персональное предложение, чтобы вернуться в Spice Shop выгоднее: "
    "<b>скидка 15%</b> по коду <code>{code}</code>, действует до 21 апреля 2026\u202fг.",
    "en": "Thank you, {name}. Here is a personal offer so you can come back to Spice Shop for less: "
    "<b>15%</b> off with the code <code>{code}</code>, valid until April 21, 2026.",
}
ALREADY = {
    "ru": "Вы уже ответили на этот опрос. Спасибо!",
    "en": "You have already answered this survey. Thank you!",
}
COMMENT = {"ru": "Дорого <b>&", "en": "Too pricey <b>&"}
ESCAPED_COMMENT = {"ru": "Дорого &lt;b&gt;&amp;", "en": "Too pricey &lt;b&gt;&amp;"}
OWNERS_ONLY_UK = "Це можуть лише власники магазину."
NAME = {"ru": "Дмитрий", "en": "Emma"}
UNKNOWN_COMMAND = {
    "ru": "Я не знаю такой команды. /help — что я умею.",
    "en": "I don't know this command. /help lists what I can do.",
}


# -- helpers --------------------------------------------------------------------------------------------


def only(messages: list[SentMessage]) -> SentMessage:
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def labels(message: SentMessage) -> list[list[str]]:
    return [[str(b["text"]) for b in row] for row in message.buttons]


async def make_shop(make_app: AppFactory) -> App:
    return await make_app(**FAST)


async def seed_customer(
    app: App,
    user_id: int,
    first_name: str,
    language: str,
    purchases_days_ago: tuple[int, ...],
    *,
    last_name: str | None = None,
    username: str | None = None,
) -> LocalChat:
    """Started the bot and agreed to offers 60 days ago; a card with purchases at T0 − the given days."""
    now = app.clock.now()
    app.clock.set(T0 - 60 * DAY)
    customers = app.data["customers"]
    profile = TelegramProfile(user_id, first_name, last_name, username, language)
    await customers.start(profile, None)
    await customers.grant_consent(user_id, "/start")
    card = f"CARD-{user_id}"
    await accounts.create(app.data["db"], app.clock.now(), card_code=card, name=first_name)
    assert (await customers.link_card(user_id, card)).value == "linked"
    app.clock.set(now)
    for n, days in enumerate(purchases_days_ago):
        purchase = PurchaseInput(f"{card}-{n}", 30_000, "UAH", T0 - days * DAY, card=card)
        await app.data["loyalty"].record_purchase(purchase, actor="till", source="api")
    chat: LocalChat = app.chat(user_id, first_name, language, username)
    chat.unseen()  # points notices of the seeded purchases are not what these tests look at
    return chat


async def owner_chat(app: App) -> LocalChat:
    """The owner, an English speaker, opened the bot once (never answered the consent question)."""
    owner: LocalChat = app.chat(OWNER_ID, "Taras", "en", "taras")
    await owner.send("/start")
    return owner


async def scheduler_runs(app: App) -> int:
    """What the scheduler does now: plan, then deliver what is due; how many nudges went out."""
    await app.data["planner"].plan()
    delivery: NudgeDelivery | None = app.data["delivery"]
    assert delivery is not None
    return (await delivery.deliver_due()).outcomes.get("sent", 0)


async def let_days_pass(app: App, days: int) -> int:
    """As bot/demo.py `_let_time_pass`: a day at a time, the daily jobs, planning and delivery."""
    sent = 0
    for _ in range(days):
        app.clock.advance(DAY)
        await app.data["loyalty"].expire_due_points()
        await app.data["loyalty"].pay_birthday_bonuses()
        sent += await scheduler_runs(app)
    return sent


async def survey_row(app: App, user_id: int) -> dict[str, object]:
    rows = await app.data["db"].fetch_all("SELECT * FROM surveys WHERE user_id = ? ORDER BY id", (user_id,))
    assert len(rows) == 1, [dict(r) for r in rows]
    return dict(rows[0])


async def coupon_rules(app: App, user_id: int) -> list[str]:
    rows = await app.data["db"].fetch_all(
        "SELECT rule FROM coupons WHERE user_id = ? ORDER BY issued_at", (user_id,)
    )
    return [r["rule"] for r in rows]


def chart(report: SurveyReport, reason_labels: dict[str, str]) -> bytes:
    """The chart as the owner's /survey draws it in English."""
    return survey_chart(report, reason_labels, "Why customers left", "NPS", "days ago")


def check_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (400, 900)  # 9 × 4 inches at 100 dpi


async def win_back_question(
    app: App, user_id: int, name: str, language: str, **profile: str
) -> tuple[LocalChat, SentMessage]:
    """A customer whose one purchase was 40 days ago (lapsed since 5 days ago) gets the win-back's three
    steps over 28 days; their chat and the last step, the question."""
    chat = await seed_customer(app, user_id, name, language, (40,), **profile)
    assert await scheduler_runs(app) == 1  # the offer with its coupon
    assert await let_days_pass(app, 14) == 1  # the news
    assert await let_days_pass(app, 13) == 0
    assert await let_days_pass(app, 1) == 1  # day 28: the question
    offer, news, question = chat.unseen()
    assert CODE.search(offer.text) and not CODE.search(news.text)
    return chat, question


# -- why did you leave ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("user_id", "language"), [(2001, "ru"), (2002, "en")])
async def test_a_lapsed_customer_answers_why_and_the_owner_sees_it(
    make_app: AppFactory, user_id: int, language: str
) -> None:
    app = await make_shop(make_app)
    owner = await owner_chat(app)
    name = NAME[language]
    chat, question = await win_back_question(app, user_id, name, language)
    owner.unseen()
    assert question.text == SURVEY_TEXT[language].format(name=name)
    reasons = REASONS[language]
    assert labels(question) == [reasons[0:2], reasons[2:4], reasons[4:6], [FEWER[language]]]
    assert [b["callback_data"] for row in question.buttons[:3] for b in row] == [
        f"why:{(await survey_row(app, user_id))['id']}:{r}"
        for r in ("service", "quality", "price", "forgot", "moved", "other")
    ]
    row = await survey_row(app, user_id)
    assert (row["kind"], row["state"], row["sent_at"]) == ("leave", "open", "2026-04-07T09:00:00+00:00")

    # "Price": asked for a comment, then the comment brings the personal coupon.
    ask = only(await chat.press(question, reasons[2]))
    assert ask.text == ASK_COMMENT[language]
    assert labels(ask) == [[SKIP[language]]]
    assert app.session.alerts == []
    follow_up = only(await chat.send(COMMENT[language]))
    code = CODE.search(follow_up.text)
    assert code is not None
    assert follow_up.text == PRICE_FOLLOW_UP[language].format(name=name, code=code[1])
    assert await coupon_rules(app, user_id) == ["win_back", "survey_price"]
    assert (
        await app.data["db"].fetch_value(
            "SELECT user_id FROM coupons WHERE code = ? AND rule = 'survey_price'", (code[1],)
        )
        == user_id
    )
    answered = await survey_row(app, user_id)
    assert (answered["state"], answered["reason"], answered["comment"]) == (
        "answered",
        "price",
        COMMENT[language],
    )
    # The comment is in: the next message is just a message.
    assert only(await chat.send("thanks")).text == app.tr(language)("free-text")
    assert owner.unseen() == []  # price is no complaint: staff are not alerted

    # A second tap on the same question (another reason, or the same) answers with a pop-up only.
    for reason in (reasons[0], reasons[4], reasons[2]):
        app.session.alerts.clear()
        assert await chat.press(question, reason) == []
        assert app.session.alerts == [(0, ALREADY[language])]
    app.session.alerts.clear()
    assert await chat.press(ask, SKIP[language]) == []  # "No comment" on a closed survey: nothing
    assert app.session.alerts == []
    assert await survey_row(app, user_id) == answered
    assert await coupon_rules(app, user_id) == ["win_back", "survey_price"]
    assert (
        await app.data["db"].fetch_value("SELECT no_win_back FROM customers WHERE user_id = ?", (user_id,))
        == 0
    )
    assert owner.unseen() == []

    # The owner's /survey: a chart, then the numbers and the customer's words, escaped.
    picture, summary = await owner.send("/survey")
    assert picture.text == "Survey results"
    assert picture.photo is not None
    check_png(picture.photo)
    assert summary.text == (
        "<b>Why customers left</b> (last 90 days)\n"
        "💸 Price / a better offer elsewhere: 1 (100%)\n"
        "<b>NPS</b>: 30 days — (0 answers), 90 days — (0 answers)\n"
        "Trend against the 30 days before: —\n"
        "<b>Latest comments</b>\n"
        f"• {ESCAPED_COMMENT[language]}"
    )
    # The chart draws exactly those numbers: one "price" (100 %), no NPS.
    expected = SurveyReport(since=app.clock.now() - 90 * DAY, reasons={"price": 1})
    price_label = {"price": "Price / a better offer elsewhere"}
    assert picture.photo == chart(expected, price_label)
    assert picture.photo != chart(SurveyReport(since=expected.since, reasons={"price": 2}), price_label)
    assert picture.photo == chart(await app.data["surveys"].report(), price_label)

    # Not for customers: /survey is an unknown command to them.
    assert only(await chat.send("/survey")).text == UNKNOWN_COMMAND[language]

    # The owner's export has the answer.
    document = only(await owner.send("/export surveys"))
    assert (document.document_name, document.text) == ("surveys.csv", "surveys.csv: 1 row")
    assert document.document is not None and document.document.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(document.document.decode("utf-8-sig"))))
    assert rows == [
        ["survey_id", "kind", "customer_id", "sent_at", "answered_at", "reason", "score", "comment"],
        [
            str(answered["id"]),
            "leave",
            str(user_id),
            "2026-04-07T09:00:00+00:00",
            "2026-04-07T09:00:00+00:00",
            "price",
            "",
            COMMENT[language],
        ],
    ]


async def test_service_alerts_the_owner_and_moved_ends_the_win_back(make_app: AppFactory) -> None:
    app = await make_shop(make_app)
    owner = await owner_chat(app)
    chat, question = await win_back_question(app, 2101, "Emma", "en", last_name="<Stone>", username="em")
    other, other_question = await win_back_question(app, 2102, "Tom", "en")
    owner.unseen()

    # "Service": asked for a comment; the owner hears of it with the comment, escaped.
    assert only(await chat.press(question, "Service")).text == ASK_COMMENT["en"]
    assert owner.unseen() == []
    sorry = only(await chat.send("Nobody said <hello> & the queue was long"))
    assert sorry.text == (
        "We are truly sorry, Emma. This is not how it should be at Spice Shop. "
        "A member of our team will get in touch with you personally."
    )
    assert [m.text for m in owner.unseen()] == [
        '⚠️ <b>Complaint about service</b> from <a href="tg://user?id=2101">Emma &lt;Stone&gt;</a> '
        "(@em, id 2101, phone —, card CARD-2101, New).\n"
        "Comment: Nobody said &lt;hello&gt; &amp; the queue was long\n"
        "Please get in touch with them."
    ]

    # "Moved": a goodbye after "No comment", and no win-back from then on, even after a new lapse.
    ask = only(await other.press(other_question, "Moved"))
    assert ask.text == ASK_COMMENT["en"]
    goodbye = only(await other.press(ask, "No comment"))
    assert goodbye.text == (
        "Thank you for letting us know, Tom, and for the time you spent with Spice Shop. "
        "We will not bother you with reminders. All the best!"
    )
    assert owner.unseen() == []
    db = app.data["db"]
    assert await db.fetch_value("SELECT no_win_back FROM customers WHERE user_id = 2102") == 1
    assert await db.fetch_value("SELECT no_win_back FROM customers WHERE user_id = 2101") == 0
    # Both come back after 150 days and lapse again 35 days later, past the win-back's 180-day cooldown.
    app.clock.advance(150 * DAY)
    for user_id in (2101, 2102):
        purchase = PurchaseInput(f"back-{user_id}", 30_000, "UAH", app.clock.now(), card=f"CARD-{user_id}")
        await app.data["loyalty"].record_purchase(purchase, actor="till", source="api")
    app.clock.advance(36 * DAY)
    await scheduler_runs(app)
    rows = await db.fetch_all(
        "SELECT user_id, step, state FROM outbox WHERE rule = 'win_back' ORDER BY user_id, id"
    )
    assert [tuple(r) for r in rows] == [
        *((2101, step, "sent") for step in (0, 1, 2)),
        (2101, 0, "sent"),  # Emma's new lapse: a new win-back
        *((2102, step, "sent") for step in (0, 1, 2)),
    ]


# -- NPS ------------------------------------------------------------------------------------------------


async def test_nps_detractor_alerts_the_owner_at_once_and_a_promoter_gets_the_link(
    make_app: AppFactory,
) -> None:
    app = await make_shop(make_app)
    owner = await owner_chat(app)
    staff = app.chat(STAFF_ID, "Ivan", "uk")  # never opened the bot: alerts in the shop's language
    # Two purchases, the last 3 days ago: the NPS question is due today (the first-purchase tip is stale).
    emma = await seed_customer(app, 3001, "Emma", "en", (100, 3), last_name="Stone", username="emma_s")
    dmitry = await seed_customer(app, 3002, "Дмитрий", "ru", (100, 3))
    owner.unseen()

    assert await scheduler_runs(app) == 2
    question = only(emma.unseen())
    assert question.text == (
        "Emma, how likely are you to recommend Spice Shop to a friend or colleague? "
        "0 — not at all, 10 — definitely."
    )
    assert labels(question) == [
        ["0", "1", "2", "3", "4", "5"],
        ["6", "7", "8", "9", "10"],
        ["🔕 Fewer messages"],
    ]
    vopros = only(dmitry.unseen())
    assert vopros.text.startswith("Дмитрий, насколько вероятно, что вы порекомендуете Spice Shop")
    assert labels(vopros)[:2] == labels(question)[:2]

    # 3: the owner's chat has the alert by the time the tap is handled (the same update).
    ask = only(await emma.press(question, "3"))
    assert ask.text == ASK_COMMENT["en"]
    assert labels(ask) == [["No comment"]]
    assert [m.text for m in owner.unseen()] == [
        '⚠️ <b>NPS 3</b> from <a href="tg://user?id=3001">Emma Stone</a> '
        "(@emma_s, id 3001, phone —, card CARD-3001, New)."
    ]
    assert [m.text for m in staff.unseen()] == [
        '⚠️ <b>NPS 3</b> від <a href="tg://user?id=3001">Emma Stone</a> '
        "(@emma_s, id 3001, телефон —, картка CARD-3001, Новий)."
    ]
    thanks = only(await emma.send("Rude <i>staff</i> & cold coffee"))
    assert thanks.text == "Thank you for being honest. We are sorry, and we will work on it."
    assert [m.text for m in owner.unseen()] == [
        '💬 NPS 3 from <a href="tg://user?id=3001">Emma Stone</a> added: '
        "Rude &lt;i&gt;staff&lt;/i&gt; &amp; cold coffee"
    ]
    assert [m.text for m in staff.unseen()] == [
        '💬 NPS 3 від <a href="tg://user?id=3001">Emma Stone</a>, коментар: '
        "Rude &lt;i&gt;staff&lt;/i&gt; &amp; cold coffee"
    ]
    # Another tap on the scale changes nothing and alerts no one.
    assert await emma.press(question, "10") == []
    assert app.session.alerts == [(0, ALREADY["en"])]
    assert owner.unseen() == [] and staff.unseen() == []
    row = await survey_row(app, 3001)
    assert (row["kind"], row["score"], row["state"], row["comment"]) == (
        "nps",
        3,
        "answered",
        "Rude <i>staff</i> & cold coffee",
    )

    # 10: no alert; "No comment", then the thanks with the customer's own invitation link.
    ask = only(await dmitry.press(vopros, "10"))
    assert ask.text == ASK_COMMENT["ru"]
    assert owner.unseen() == []
    thanks = only(await dmitry.press(ask, SKIP["ru"]))
    code = await app.data["loyalty"].referral_code(3002)
    assert code
    assert thanks.text == (
        "Спасибо! Нам приятно, что вам у нас нравится. Пригласите друга по вашей ссылке: "
        f"https://t.me/demo_bot?start=ref_{code}"
    )
    assert owner.unseen() == [] and staff.unseen() == []
    assert (await survey_row(app, 3002))["score"] == 10

    # The owner's /survey: NPS (1 − 1) / 2 = +0 over both periods, no reasons yet.
    picture, summary = await owner.send("/survey")
    assert summary.text == (
        "<b>Why customers left</b> (last 90 days)\n"
        "No answers yet.\n"
        "<b>NPS</b>: 30 days +0 (2 answers), 90 days +0 (2 answers)\n"
        "Trend against the 30 days before: —\n"
        "<b>Latest comments</b>\n"
        "• Rude &lt;i&gt;staff&lt;/i&gt; &amp; cold coffee"
    )
    assert picture.photo is not None
    check_png(picture.photo)
    expected = SurveyReport(since=app.clock.now() - 90 * DAY, nps_30=0, nps_90=0, answers_30=2, answers_90=2)
    assert picture.photo == chart(expected, {})
    assert picture.photo != chart(SurveyReport(since=expected.since, nps_30=100, nps_90=0), {})

    # Staff who are not owners see /survey but not the export; customers see neither.
    _, staff_summary = await staff.send("/survey")
    assert staff_summary.text.startswith(
        "<b>Чому клієнти пішли</b> (останні 90 днів)\nВідповідей поки немає."
    )
    assert only(await staff.send("/export surveys")).text == OWNERS_ONLY_UK
    assert only(await dmitry.send("/survey")).text == UNKNOWN_COMMAND["ru"]
    assert only(await emma.send("/export surveys")).text == UNKNOWN_COMMAND["en"]
