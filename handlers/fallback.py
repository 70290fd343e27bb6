"""The catch-all: unknown commands, free text and anything else get a short helpful answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.register(unknown_command, F.text.startswith("/"))
    router.message.register(free_text, F.text)
    router.message.register(other_content)
    router.callback_query.register(stale_button)
    return router


async def unknown_command(message: Message, tr: Translator) -> None:
    await message.answer(tr("unknown-command"))


async def free_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("free-text"))


async def other_content(message: Message, tr: Translator) -> None:
    await message.answer(tr("other-content"))


async def stale_button(query: CallbackQuery, tr: Translator) -> None:
    await query.answer(tr("stale-button"), show_alert=True)
