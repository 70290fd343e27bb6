"""Feedback end to end: the win-back survey and NPS through the Bot API emulator, answered while the real
`retention-bot run` process is polling.

The shop has a bot token, a database and a config of its own on the session's emulator. The database is
seeded through the bot's own services, then `retention-bot nudges run-once --now …` runs three times, at
NOW, NOW + 14 days and NOW + 28 days, a minute or two on (the win-back's three steps; the NPS question
goes with the first).
NOW is two years ahead at noon in Kyiv, so quiet hours never hold a message back whatever the hour of
the test, and the `run` process (planning with the real clock) finds every purchase and consent in the
future and sends nothing of its own: it only answers the buttons, as the tests need.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from babel.dates import format_date
from tgemu import BotMessage, Emulator, User

from bot.app import open_application
from bot.clock import ManualClock, from_db
from bot.config import load_config
from bot.models import TelegramProfile
from bot.services.loyalty import PurchaseInput
from bot.storage import accounts

from .conftest import EmulatorProcess
from .support import (
    OWNER_ID,
    SHOP_NAME,
    SHOP_ZONE,
    BotProcess,
    query,
    run_command,
    start_bot,
    write_config,
)
from .texts import seen

pytestmark = pytest.mark.e2e

NOW = datetime(date.today().year + 2, 1, 14, 12, 0, tzinfo=SHOP_ZONE)
DAY = timedelta(days=1)
TOKEN = "732001:e2e-surveys"
LAPSED_ID = 732_100_001  # a win-back's third step asks why
NPS_ID = 732_100_002  # bought 3 days before NOW: asked for a score
RUN_TIMEOUT_S = 60.0
ALERT_WITHIN_S = 5.0
CODE = re.compile(r"<code>([A-Z2-9]{4}-[A-Z2-9]{4})</code>")

REASONS_RU = [
    "😞 Обслуживание",
    "👎 Качество",
    "💸 Цена / лучшее предложение",
    "🤷 Забыл(а) о вас",
    "🚚 Переехал(а) / больше не нужно",
    "✍️ Другое",
]
COMMENT = "Дорого <b>&"


def labels(message: BotMessage) -> list[list[str]]:
    return [[str(b["text"]) for b in row] for row in message.buttons]


async def seed(config_path: Path) -> None:
    """Both agreed to offers 50 days before NOW; each has a card with two purchases (days before NOW):
    the lapsed one 100 and 60 (lapsed since NOW − 25 days), the other 100 and 3."""
    config = load_config(config_path)
    clock = ManualClock(NOW - 50 * DAY)
    async with open_application(config, clock) as data:
        customers, loyalty = data["customers"], data["loyalty"]
        for profile in (
            TelegramProfile(LAPSED_ID, "Дмитрий", None, None, "ru"),
            TelegramProfile(NPS_ID, "Emma", "Stone", "emma_s", "en"),
        ):
            user_id, name = profile.user_id, profile.first_name
            await customers.start(profile, None)
            await customers.grant_consent(user_id, "/start")
            card = f"SURVEY-{user_id}"
            await accounts.create(data["db"], clock.now(), card_code=card, name=name)
            assert (await customers.link_card(user_id, card)).value == "linked"
        clock.set(NOW)
        for user_id, last in ((LAPSED_ID, 60), (NPS_ID, 3)):
            card = f"SURVEY-{user_id}"
            for n, days_ago in enumerate((100, last)):
                purchase = PurchaseInput(f"{card}-{n}", 14_000, "UAH", NOW - days_ago * DAY, card=card)
                await loyalty.record_purchase(purchase, actor="import", source="import")


async def cli(config_path: Path, *args: str) -> str:
    return await run_command(config_path, TOKEN, *args, timeout=RUN_TIMEOUT_S)


async def callback_answers(emu: Emulator) -> int:
    calls, _ = await emu.call_log()
    return sum(1 for c in calls if c["method"] == "answerCallbackQuery")


async def press_and_wait_for_answer(emu: Emulator, user: User, message: BotMessage, label: str) -> None:
    """Press, then wait until the bot has answered the button (its pop-up), so silence means something."""
    before = await callback_answers(emu)
    await user.press(message, label)
    deadline = time.monotonic() + 10
    while await callback_answers(emu) == before:
        assert time.monotonic() < deadline, "the bot did not answer the button within 10 s"
        await asyncio.sleep(0.05)


def survey_rows(db_path: Path) -> list[dict[str, object]]:
    rows = query(db_path, "SELECT id, user_id, kind, state, reason, score, comment FROM surveys ORDER BY id")
    return [dict(r) for r in rows]


async def test_survey_answers_follow_ups_and_alerts_through_telegram(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    db_path = tmp_path / "bot.sqlite3"
    config_path = write_config(tmp_path / "config.toml", api_base=emulator.api_base, db_path=db_path)
    with config_path.open("a", encoding="utf-8") as f:
        f.write("\n[nudges]\nholdout_percent = 0\n")
    await seed(config_path)
    # A step is due 14 days after the previous one was *sent*, a few seconds after its run's --now (the
    # run's clock starts at --now and runs on): the later runs start a minute after their day begins.
    for days, sent in ((0, 2), (14, 1), (28, 1)):
        at = NOW + days * DAY + days // 14 * timedelta(minutes=1)
        out = await cli(config_path, "nudges", "run-once", "--now", at.isoformat())
        assert f"sent: {sent}" in out and "failed" not in out, out
    outbox = query(db_path, "SELECT user_id, rule, step, state FROM outbox ORDER BY id")
    assert [tuple(r) for r in outbox] == [
        (LAPSED_ID, "win_back", 0, "sent"),
        (NPS_ID, "nps", 0, "sent"),
        (LAPSED_ID, "win_back", 1, "sent"),
        (LAPSED_ID, "win_back", 2, "sent"),
    ]

    emu = Emulator(emulator.proc, emulator.api_base, TOKEN)
    bot: BotProcess | None = None
    try:
        bot = await asyncio.to_thread(start_bot, config_path, TOKEN, emulator.api_base, tmp_path / "bot.log")
        owner = emu.user(OWNER_ID, "Taras", username="taras", language_code="en")
        lapsed = emu.user(LAPSED_ID, "Дмитрий", language_code="ru")
        scorer = emu.user(NPS_ID, "Emma", username="emma_s", language_code="en", last_name="Stone")
        await owner.command("/start")  # once, so the bot knows the owner's language
        await owner.wait_messages(1)

        # -- why did you leave: "price", a comment, and the coupon ---------------------------------------
        offer, news, question = await lapsed.wait_messages(3)
        assert CODE.search(offer.body) and not CODE.search(news.body)
        assert seen(question) == (
            f"Дмитрий, можно один вопрос? Почему вы перестали заходить в {SHOP_NAME}? "
            "Достаточно одного нажатия — честный ответ поможет нам стать лучше."
        )
        assert labels(question) == [REASONS_RU[0:2], REASONS_RU[2:4], REASONS_RU[4:6], ["🔕 Реже"]]

        await lapsed.press(question, REASONS_RU[2])
        [ask] = await lapsed.wait_messages(1)
        assert seen(ask) == (
            "Спасибо! Хотите что-то добавить? Просто напишите сообщение или нажмите «Без комментария»."
        )
        assert labels(ask) == [["Без комментария"]]
        await lapsed.send(COMMENT)
        [follow_up] = await lapsed.wait_messages(1)
        code = CODE.search(follow_up.body)
        assert code is not None
        [coupon] = query(
            db_path,
            "SELECT code, rule, value, issued_at, valid_until FROM coupons WHERE user_id = ? "
            "AND rule = 'survey_price'",
            (LAPSED_ID,),
        )
        assert (coupon["code"], coupon["value"]) == (code[1], 15)
        valid_until = from_db(coupon["valid_until"])
        assert valid_until - from_db(coupon["issued_at"]) == 14 * DAY
        until = format_date(valid_until.astimezone(SHOP_ZONE).date(), format="long", locale="ru")
        assert seen(follow_up) == (
            f"Спасибо, Дмитрий. Вот персональное предложение, чтобы вернуться в {SHOP_NAME} выгоднее: "
            f"скидка 15% по коду {code[1]}, действует до {until}"
        )
        answered = survey_rows(db_path)
        assert [(r["user_id"], r["kind"], r["state"], r["reason"], r["comment"]) for r in answered] == [
            (NPS_ID, "nps", "open", None, None),  # sent first, with the win-back's offer
            (LAPSED_ID, "leave", "answered", "price", COMMENT),
        ]

        # A second tap on the same question: the pop-up only, nothing changes.
        await press_and_wait_for_answer(emu, lapsed, question, REASONS_RU[0])
        await lapsed.expect_silence(0.5)
        assert survey_rows(db_path) == answered
        assert len(query(db_path, "SELECT code FROM coupons WHERE user_id = ?", (LAPSED_ID,))) == 2
        await owner.expect_silence(0)  # "price" alerts no one

        # -- NPS 3: the owner is alerted within seconds -------------------------------------------------
        [nps] = await scorer.wait_messages(1)
        assert labels(nps)[:2] == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]
        pressed = time.monotonic()
        await scorer.press(nps, "3")
        [alert] = await owner.wait_messages(1, timeout=ALERT_WITHIN_S)
        took = time.monotonic() - pressed
        assert took < ALERT_WITHIN_S, took
        assert alert.body == (
            f'⚠️ <b>NPS 3</b> from <a href="tg://user?id={NPS_ID}">Emma Stone</a> '
            f"(@emma_s, id {NPS_ID}, phone —, card SURVEY-{NPS_ID}, New)."
        )
        [ask] = await scorer.wait_messages(1)
        assert seen(ask) == (
            "Thank you! Would you like to add anything? Just write it in a message, or tap “No comment”."
        )
        await press_and_wait_for_answer(emu, scorer, nps, "10")
        await scorer.expect_silence(0.5)
        await owner.expect_silence(0)
        [scored] = [r for r in survey_rows(db_path) if r["user_id"] == NPS_ID]
        assert (scored["state"], scored["score"]) == ("awaiting_comment", 3)

        # -- the owner's /survey counts both -------------------------------------------------------------
        await owner.command("/survey")
        picture, summary = await owner.wait_messages(2)
        assert picture.caption == "Survey results" and picture.photo_id is not None
        assert (await emu.file_bytes(picture.photo_id)).startswith(b"\x89PNG\r\n\x1a\n")
        assert summary.body == (
            "<b>Why customers left</b> (last 90 days)\n"
            "💸 Price / a better offer elsewhere: 1 (100%)\n"
            "<b>NPS</b>: 30 days -100 (1 answer), 90 days -100 (1 answer)\n"
            "Trend against the 30 days before: —\n"
            "<b>Latest comments</b>\n"
            "• Дорого &lt;b&gt;&amp;"
        )

        exit_code = await asyncio.to_thread(bot.stop)
        assert exit_code == 0, bot.tail()
        assert not bot.problems(), bot.log()
    finally:
        await emu.close()
        if bot is not None and bot.proc.poll() is None:
            bot.proc.kill()
            await asyncio.to_thread(bot.proc.wait)
