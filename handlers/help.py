"""/help: what the bot does and which commands there are."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.config import Config
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.register(show_help, Command("help"))
    return router


async def show_help(message: Message, config: Config, tr: Translator, is_staff: bool) -> None:
    text = tr("help", shop=config.shop.name)
    if is_staff:
        text += "\n\n" + tr("staff-help")
    await message.answer(text)
