"""The bot's HTTP session: calls as one JSON body, uploads as multipart, Telegram's errors as aiogram's;
and the nudge sender on it: what a nudge's call says, and what each of Telegram's answers becomes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramNetworkError, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
)
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.services.nudges import SendResult, SendStatus
from bot.telegram.dispatcher import build_bot
from bot.telegram.sender import TelegramSender
from bot.telegram.sessions import telegram_session

TOKEN = "123456:session-test"


@dataclass
class Seen:
    """What the fake Bot API server was sent: (method, content type, parsed body)."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    answer: tuple[int, dict[str, Any]] | None = None  # instead of a sent message
    raw: tuple[int, str] | None = None  # a body that is not JSON, instead of anything else


def _message(chat_id: int, text: str) -> dict[str, Any]:
    return {
        "message_id": 7,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
        "text": text,
    }


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()

    async def call(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = {k: v if isinstance(v, str) else "<file>" for k, v in (await request.post()).items()}
        seen.calls.append((method, request.content_type, body))
        if seen.raw is not None:
            status, text = seen.raw
            return web.Response(text=text, status=status, content_type="text/html")
        if seen.answer is not None:
            status, answer = seen.answer
            return web.json_response(answer, status=status)
        chat_id = int(body["chat_id"])
        return web.json_response({"ok": True, "result": _message(chat_id, str(body.get("text", "")))})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", call)
    async with TestServer(app) as test_server:
        yield str(test_server.make_url("")).rstrip("/"), seen


@pytest.fixture
async def bot(server: tuple[str, Seen]) -> AsyncIterator[Bot]:
    api_base, _ = server
    bot = build_bot(TOKEN, telegram_session(api_base))
    try:
        yield bot
    finally:
        await bot.session.close()


async def test_a_message_goes_as_one_json_body_with_its_keyboard_as_an_object(
    bot: Bot, server: tuple[str, Seen]
) -> None:
    _, seen = server
    fewer = InlineKeyboardButton(text="Рідше", callback_data="f:ask")
    markup = InlineKeyboardMarkup(inline_keyboard=[[fewer]])

    sent = await bot.send_message(42, "<b>Привіт</b> & welcome", reply_markup=markup)

    assert sent.message_id == 7 and sent.text == "<b>Привіт</b> & welcome"
    method, content_type, body = seen.calls[-1]
    assert (method, content_type) == ("sendMessage", "application/json")
    assert body == {
        "chat_id": 42,
        "text": "<b>Привіт</b> & welcome",
        "parse_mode": "HTML",  # the bot's default, resolved as aiogram's own session does
        "reply_markup": {"inline_keyboard": [[{"text": "Рідше", "callback_data": "f:ask"}]]},
    }


async def test_false_and_zero_are_sent_and_none_is_left_out(bot: Bot, server: tuple[str, Seen]) -> None:
    _, seen = server
    preview = LinkPreviewOptions(is_disabled=True)  # its other fields are None

    await bot.send_message(
        0, "x", disable_notification=False, reply_markup=None, link_preview_options=preview
    )

    _, _, body = seen.calls[-1]
    assert body == {
        "chat_id": 0,
        "text": "x",
        "parse_mode": "HTML",
        "disable_notification": False,
        "link_preview_options": {"is_disabled": True},
    }


async def test_an_upload_goes_as_a_multipart_form(bot: Bot, server: tuple[str, Seen]) -> None:
    _, seen = server

    await bot.send_document(42, BufferedInputFile(b"a,b\n1,2\n", filename="report.csv"), caption="звіт")

    method, content_type, body = seen.calls[-1]
    assert (method, content_type) == ("sendDocument", "multipart/form-data")
    assert body["caption"] == "звіт"
    attached = body["document"].removeprefix("attach://")  # aiogram names the file part
    assert body[attached] == "<file>"


async def test_telegrams_refusals_raise_what_aiogram_raises(bot: Bot, server: tuple[str, Seen]) -> None:
    _, seen = server
    seen.answer = (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(42, "hello")
    assert flood.value.retry_after == 3

    blocked = "Forbidden: bot was blocked by the user"
    seen.answer = (403, {"ok": False, "error_code": 403, "description": blocked})
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(42, "hello")


async def test_an_answer_that_is_not_telegrams_json_is_tried_again(
    bot: Bot, server: tuple[str, Seen]
) -> None:
    """A proxy's error page instead of Telegram's answer: aiogram cannot read it (ClientDecodeError).
    Raised, it stopped the whole delivery run; it is an error worth another try."""
    _, seen = server
    seen.raw = (502, "<html>Bad Gateway</html>")

    result = await TelegramSender(bot).send(42, "x", "Fewer")

    assert (result.status, result.transient) == (SendStatus.ERROR, True)


async def test_an_unreachable_server_is_a_network_error() -> None:
    bot = build_bot(TOKEN, telegram_session("http://127.0.0.1:9"))  # discard port: nothing listens
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.send_message(42, "hello")
    finally:
        await bot.session.close()


async def test_a_nudge_goes_with_its_button_and_only_its_message_id_is_read(
    bot: Bot, server: tuple[str, Seen]
) -> None:
    _, seen = server

    sent = await TelegramSender(bot).send(42, "<b>Ми сумуємо</b> &amp; чекаємо", "🔕 Рідше")

    assert sent == SendResult(SendStatus.SENT, message_id=7)
    method, content_type, body = seen.calls[-1]
    assert (method, content_type) == ("sendMessage", "application/json")
    assert body == {
        "chat_id": 42,
        "text": "<b>Ми сумуємо</b> &amp; чекаємо",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "🔕 Рідше", "callback_data": "fewer:ask"}]]},
    }
    # An answer is read for its message id alone: the rest of the echoed message is not required.
    seen.answer = (200, {"ok": True, "result": {"message_id": 9}})
    assert await TelegramSender(bot).send(42, "x", "Fewer") == SendResult(SendStatus.SENT, message_id=9)


async def test_a_shop_paying_for_broadcasts_says_so_on_each_nudge(bot: Bot, server: tuple[str, Seen]) -> None:
    _, seen = server

    await TelegramSender(bot, paid_broadcast=True).send(42, "x", "Fewer")

    _, _, body = seen.calls[-1]
    assert body["allow_paid_broadcast"] is True


@pytest.mark.parametrize(
    ("status", "description", "expected"),
    [
        (429, "Too Many Requests: retry after 3", SendResult(SendStatus.RETRY_AFTER, retry_after=3.0)),
        (403, "Forbidden: bot was blocked by the user", SendResult(SendStatus.BLOCKED)),
        (403, "Forbidden: user is deactivated", SendResult(SendStatus.BLOCKED)),
        (400, "Bad Request: chat not found", SendResult(SendStatus.CHAT_NOT_FOUND)),
        (400, "Bad Request: message is too long", SendResult(SendStatus.ERROR, transient=False)),
        (502, "Bad Gateway", SendResult(SendStatus.ERROR, transient=True)),
        # The bot itself refused (token revoked, wrong Bot API address): delivery stops, nobody fails.
        (401, "Unauthorized", SendResult(SendStatus.REFUSED)),
        (404, "Not Found", SendResult(SendStatus.REFUSED)),
        # Too large to ever go: failed, not tried again (aiogram raises it as a network error).
        (413, "Request Entity Too Large", SendResult(SendStatus.ERROR, transient=False)),
        # Anything else: tried again with backoff, then failed with Telegram's words.
        (409, "Conflict: something new", SendResult(SendStatus.ERROR, transient=True)),
    ],
)
async def test_each_refusal_becomes_what_delivery_acts_on(
    bot: Bot, server: tuple[str, Seen], status: int, description: str, expected: SendResult
) -> None:
    _, seen = server
    answer: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if status == 429:
        answer["parameters"] = {"retry_after": 3}
    seen.answer = (status, answer)

    result = await TelegramSender(bot).send(42, "x", "Fewer")

    assert result._replace(reason="") == expected
    assert description in result.reason
