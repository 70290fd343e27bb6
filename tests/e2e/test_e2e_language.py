"""/language switches texts and the chat menu; start-up sets menus per language and for staff."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from tgemu import Emulator, User

from bot.telegram import commands

from .conftest import BotEnv
from .support import OWNER_ID, STAFF_ID, value
from .texts import TEXT, part, seen, text

pytestmark = pytest.mark.e2e

# The menus the bot declares; whatever else they hold, they must offer these.
CUSTOMER_COMMANDS = list(commands.CUSTOMER_COMMANDS)
STAFF_COMMANDS = list(commands.STAFF_COMMANDS)
OWNER_COMMANDS = list(commands.OWNER_COMMANDS)
ESSENTIAL = {"start", "balance", "language", "mydata", "forget", "stop", "help"}
UK_BALANCE = "Мої бали, рівень і згоряння"  # cmd-balance in templates/uk/bot.ftl


@pytest.fixture
async def api(bot_env: BotEnv) -> AsyncIterator[Bot]:
    """An aiogram Bot with the session bot's token: asks the emulator what the bot has set."""
    bot = Bot(
        bot_env.token, session=AiohttpSession(api=TelegramAPIServer.from_base(bot_env.emulator.api_base))
    )
    try:
        yield bot
    finally:
        await bot.session.close()


def menu(commands: list[BotCommand]) -> dict[str, str]:
    return {c.command: c.description for c in commands}


def set_commands_calls(
    settings: dict[str, list[dict[str, Any]]],
) -> list[tuple[dict[str, Any], str, dict[str, str]]]:
    """(scope, language_code, {command: description}) of every setMyCommands call, in order."""
    out = []
    for call in settings.get("setMyCommands", []):
        scope = call.get("scope") or {"type": "default"}
        listed = call["commands"]
        out.append(
            (
                json.loads(scope) if isinstance(scope, str) else scope,
                str(call.get("language_code") or ""),
                {
                    c["command"]: c["description"]
                    for c in (json.loads(listed) if isinstance(listed, str) else listed)
                },
            )
        )
    return out


async def chat_menu_once_set(api: Bot, chat_id: int, timeout: float = 5.0) -> dict[str, str]:
    """The chat's own menu; the bot sets it just after confirming the choice, so allow it a moment."""
    deadline = time.monotonic() + timeout
    while not (found := menu(await api.get_my_commands(scope=BotCommandScopeChat(chat_id=chat_id)))):
        assert time.monotonic() < deadline, f"no command menu for chat {chat_id}"
        await asyncio.sleep(0.05)
    return found


@pytest.mark.parametrize(("lang", "other", "label"), [("ru", "en", "English"), ("en", "ru", "Русский")])
async def test_language_choice_changes_texts_and_menu(
    lang: str, other: str, label: str, bot_env: BotEnv, people: Callable[..., User], api: Bot
) -> None:
    user = people(lang)
    await user.command("/start")
    await user.wait_messages(1)

    await user.command("/language")
    [question] = await user.wait_messages(1)
    assert seen(question) == text(lang, "language-question")
    assert [b["text"] for row in question.buttons for b in row] == ["Русский", "Українська", "English"]

    await user.press(question, label)
    [edited] = await user.wait_messages(1)
    assert edited.message_id == question.message_id
    assert seen(edited) == text(other, "language-set")
    assert value(bot_env.db_path, "SELECT language FROM customers WHERE user_id = ?", (user.id,)) == other

    # Later answers follow the choice, not Telegram's language_code (still `lang`).
    await user.command("/help")
    [answer] = await user.wait_messages(1)
    assert part(other, "help") in seen(answer)
    await user.send("hello?")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(other, "free-text")

    # This chat's menu is now in the chosen language, without staff commands.
    chat_menu = await chat_menu_once_set(api, user.id)
    assert list(chat_menu) == CUSTOMER_COMMANDS
    assert set(chat_menu) >= ESSENTIAL and not set(STAFF_COMMANDS + OWNER_COMMANDS) & set(chat_menu)
    assert chat_menu["balance"] == TEXT[other]["cmd-balance"]


async def test_start_up_sets_menus_per_language_and_for_staff(emu: Emulator, api: Bot) -> None:
    calls = set_commands_calls(await emu.bot_settings())
    default_scope = [(lang, cmds) for scope, lang, cmds in calls if scope == {"type": "default"}]
    assert {lang for lang, _ in default_scope} == {"ru", "uk", "en", ""}
    for lang, customer_menu in default_scope:
        assert list(customer_menu) == CUSTOMER_COMMANDS, lang
        assert set(customer_menu) >= ESSENTIAL and not set(STAFF_COMMANDS + OWNER_COMMANDS) & set(
            customer_menu
        )

    for lang in ("ru", "en"):
        customer_menu = menu(await api.get_my_commands(scope=BotCommandScopeDefault(), language_code=lang))
        assert list(customer_menu) == CUSTOMER_COMMANDS
        assert customer_menu["balance"] == TEXT[lang]["cmd-balance"]
    uk = menu(await api.get_my_commands(scope=BotCommandScopeDefault(), language_code="uk"))
    assert uk["balance"] == UK_BALANCE
    # People whose language the bot does not speak see the shop's default language (uk).
    fallback = menu(await api.get_my_commands(scope=BotCommandScopeDefault()))
    assert fallback["balance"] == UK_BALANCE

    # Staff get their commands in their chat; owners theirs on top.
    staff_menu = menu(await api.get_my_commands(scope=BotCommandScopeChat(chat_id=STAFF_ID)))
    assert list(staff_menu) == CUSTOMER_COMMANDS + STAFF_COMMANDS
    owner_menu = menu(await api.get_my_commands(scope=BotCommandScopeChat(chat_id=OWNER_ID)))
    assert list(owner_menu) == CUSTOMER_COMMANDS + STAFF_COMMANDS + OWNER_COMMANDS
    for chat_menu in (staff_menu, owner_menu):
        assert "stats" in chat_menu and set(chat_menu) >= ESSENTIAL
        assert chat_menu["balance"] == UK_BALANCE
