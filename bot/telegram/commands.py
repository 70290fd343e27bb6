"""Command menus (setMyCommands): per language for customers, per chat for staff."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from bot.texts import Texts, Translator

log = logging.getLogger(__name__)

CUSTOMER_COMMANDS = (
    "start",
    "balance",
    "history",
    "invite",
    "birthday",
    "link",
    "language",
    "mydata",
    "forget",
    "stop",
    "help",
)
STAFF_COMMANDS = ("stats", "customer", "purchase", "redeem", "adjust", "survey", "staffhelp")
OWNER_COMMANDS = ("campaign", "pause", "resume", "report", "export", "audit")


def command_list(tr: Translator, *, is_staff: bool, is_owner: bool = False) -> list[BotCommand]:
    names = CUSTOMER_COMMANDS + (STAFF_COMMANDS if is_staff else ()) + (OWNER_COMMANDS if is_owner else ())
    return [BotCommand(command=name, description=tr(f"cmd-{name}")) for name in names]


async def set_default_commands(bot: Bot, texts: Texts) -> None:
    """The customer menu in each language, and in the shop's language for everyone else."""
    for tr in texts.all_translators():
        await bot.set_my_commands(
            command_list(tr, is_staff=False), scope=BotCommandScopeDefault(), language_code=tr.language
        )
    default = texts.translator(texts.default_language)
    await bot.set_my_commands(command_list(default, is_staff=False), scope=BotCommandScopeDefault())


async def set_user_commands(
    bot: Bot, user_id: int, tr: Translator, *, is_staff: bool, is_owner: bool = False
) -> None:
    """A menu for one private chat: the chosen language, plus staff commands for staff."""
    try:
        await bot.set_my_commands(
            command_list(tr, is_staff=is_staff, is_owner=is_owner), scope=BotCommandScopeChat(chat_id=user_id)
        )
    except TelegramAPIError as exc:
        # Telegram refuses chat scopes for people who have not opened the bot yet; their menu is set
        # again when they do.
        log.warning("cannot set the command menu for chat %s: %s", user_id, exc)
