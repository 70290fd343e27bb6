"""A Bot API in process memory: the seam for the terminal demo and fast tests.

`LocalSession` stands where aiogram's HTTP session would, answers the methods the bot uses as Telegram
would, and keeps every chat's messages. `LocalChat` builds real `Update`s (messages, commands, button
presses, shared contacts) and feeds them to the real dispatcher, so the demo runs the very routers and
services that `run` does.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyKeyboardMarkup, Update

from bot.telegram.sender import SendNudge

_SETTINGS_METHODS = {
    "SetMyCommands",
    "DeleteMyCommands",
    "SetChatMenuButton",
    "SetMyDescription",
    "SetMyShortDescription",
    "SendChatAction",
}


@dataclass
class SentMessage:
    """A message the bot sent, as the person sees it now (edits replace text and buttons)."""

    chat_id: int
    message_id: int
    text: str
    buttons: list[list[dict[str, Any]]] = field(default_factory=list)
    reply_keyboard: list[list[dict[str, Any]]] = field(default_factory=list)
    document_name: str | None = None
    document: bytes | None = None
    photo: bytes | None = None
    edited: bool = False
    seq: int = 0  # when it was last sent or edited, to tell what is new since a given moment


class LocalSession(BaseSession):
    """Answers Bot API calls from memory; `sent` keeps everything the bot said, in order."""

    def __init__(self, bot_id: int = 42) -> None:
        super().__init__()
        self.bot_id = bot_id
        self.sent: list[SentMessage] = []
        self.alerts: list[tuple[int, str]] = []  # (user id, callback answer text)
        self.calls: list[str] = []
        self.settings: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)

    @property
    def last_seq(self) -> int:
        return max((m.seq for m in self.sent), default=0)

    def since(self, seq: int, chat_id: int) -> list[SentMessage]:
        """Messages to a chat sent or edited after `seq`, in that order."""
        return sorted((m for m in self.sent if m.seq > seq and m.chat_id == chat_id), key=lambda m: m.seq)

    async def close(self) -> None:
        return None

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        raise TelegramBadRequest(method=GetMe(), message="no file downloads in the local session")
        yield b""  # pragma: no cover

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = type(method).__name__
        self.calls.append(name)
        result: Any
        if isinstance(method, GetMe):
            result = {"id": self.bot_id, "is_bot": True, "first_name": "Demo Bot", "username": "demo_bot"}
        elif isinstance(method, SendMessage | SendNudge):
            result = self._store(int(method.chat_id), method.text, method.reply_markup)
        elif isinstance(method, SendDocument | SendPhoto):
            upload = method.document if isinstance(method, SendDocument) else method.photo
            data = upload.data if isinstance(upload, BufferedInputFile) else b""
            message = self._store(int(method.chat_id), method.caption or "", method.reply_markup)
            stored = self.sent[-1]
            if isinstance(method, SendDocument):
                stored.document = data
                stored.document_name = upload.filename if isinstance(upload, BufferedInputFile) else None
                message["document"] = {"file_id": f"D{stored.message_id}", "file_unique_id": "d"}
            else:
                stored.photo = data
                message["photo"] = [
                    {"file_id": f"P{stored.message_id}", "file_unique_id": "p", "width": 1, "height": 1}
                ]
            result = message
        elif isinstance(method, EditMessageText | EditMessageReplyMarkup):
            result = self._edit(method)
        elif isinstance(method, AnswerCallbackQuery):
            if method.text:
                self.alerts.append((0, method.text))
            result = True
        elif isinstance(method, DeleteMessage):
            self.sent = [
                m
                for m in self.sent
                if not (m.chat_id == int(method.chat_id) and m.message_id == method.message_id)
            ]
            result = True
        elif name in _SETTINGS_METHODS:
            self.settings.setdefault(name, []).append(method.model_dump(mode="json", exclude_none=True))
            result = True
        else:
            raise TelegramBadRequest(method=method, message=f"{name} is not available in the local session")
        body = json.dumps({"ok": True, "result": result}, default=str)
        return self.check_response(bot, method, 200, body).result  # type: ignore[return-value]

    def _store(self, chat_id: int, text: str, markup: Any) -> dict[str, Any]:
        message = SentMessage(chat_id, next(self._ids), text, seq=next(self._seq))
        _apply_markup(message, markup)
        self.sent.append(message)
        return _as_message(message)

    def _edit(self, method: EditMessageText | EditMessageReplyMarkup) -> dict[str, Any] | bool:
        for message in self.sent:
            if message.chat_id == int(cast(int, method.chat_id)) and message.message_id == method.message_id:
                if isinstance(method, EditMessageText):
                    message.text = method.text or ""
                    message.buttons = []
                _apply_markup(message, method.reply_markup)
                message.edited = True
                message.seq = next(self._seq)  # an edit shows up again to the reader, like Telegram's
                return _as_message(message)
        raise TelegramBadRequest(method=method, message="Bad Request: message to edit not found")


def _apply_markup(message: SentMessage, markup: Any) -> None:
    if isinstance(markup, InlineKeyboardMarkup):
        message.buttons = [[b.model_dump(exclude_none=True) for b in row] for row in markup.inline_keyboard]
    elif isinstance(markup, ReplyKeyboardMarkup):
        message.reply_keyboard = [[b.model_dump(exclude_none=True) for b in row] for row in markup.keyboard]


def _as_message(message: SentMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "message_id": message.message_id,
        "date": int(time.time()),
        "chat": {"id": message.chat_id, "type": "private"},
        "text": message.text,
    }
    if message.buttons:
        out["reply_markup"] = {"inline_keyboard": message.buttons}
    return out


class LocalChat:
    """One person's private chat with the bot, driven by feeding real updates to the dispatcher."""

    _update_ids = itertools.count(1)

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        session: LocalSession,
        user_id: int,
        first_name: str,
        language_code: str | None = "en",
        username: str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.bot = bot
        self.session = session
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self._seen = 0
        self._message_ids = itertools.count(1_000_000)

    def _user(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            user["language_code"] = self.language_code
        if self.username:
            user["username"] = self.username
        return user

    def _chat(self) -> dict[str, Any]:
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}

    async def _feed(self, payload: dict[str, Any]) -> list[SentMessage]:
        update = Update.model_validate(
            {"update_id": next(self._update_ids), **payload}, context={"bot": self.bot}
        )
        await self.dispatcher.feed_update(self.bot, update)
        return self.unseen()

    def unseen(self) -> list[SentMessage]:
        """What the bot sent or edited in this chat since this person last looked (unprompted ones too)."""
        fresh = self.session.since(self._seen, self.user_id)
        self._seen = self.session.last_seq
        return fresh

    def _message(self, **extra: Any) -> dict[str, Any]:
        return {
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": self._chat(),
                "from": self._user(),
                **extra,
            }
        }

    async def send(self, text: str) -> list[SentMessage]:
        """A text message; one starting with '/' is a command, as Telegram marks it."""
        extra: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
        return await self._feed(self._message(**extra))

    async def share_contact(self, phone: str, *, own: bool = True) -> list[SentMessage]:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": self.first_name}
        if own:
            contact["user_id"] = self.user_id
        return await self._feed(self._message(contact=contact))

    async def press(self, message: SentMessage, label_or_data: str) -> list[SentMessage]:
        button = find_button(message, label_or_data)
        return await self._feed(
            {
                "callback_query": {
                    "id": str(next(self._message_ids)),
                    "from": self._user(),
                    "chat_instance": str(self.user_id),
                    "data": button["callback_data"],
                    "message": {
                        **_as_message(message),
                        "from": {"id": self.session.bot_id, "is_bot": True, "first_name": "Demo Bot"},
                    },
                }
            }
        )


def find_button(message: SentMessage, label_or_data: str) -> dict[str, Any]:
    """By exact text or callback data first, then by a case-insensitive part of the text."""
    flat = [b for row in message.buttons for b in row if "callback_data" in b]
    for button in flat:
        if label_or_data in (button.get("text"), button.get("callback_data")):
            return button
    for button in flat:
        if label_or_data.lower() in str(button.get("text", "")).lower():
            return button
    raise LookupError(f"no button {label_or_data!r} in {[b.get('text') for b in flat]}")
