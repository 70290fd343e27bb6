"""/language: the customer picks ru, uk or en; it wins over Telegram's language from then on."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import SUPPORTED_LANGUAGES
from bot.services.customers import CustomerService
from bot.telegram import keyboards
from bot.telegram.callbacks import LanguageChoice
from bot.telegram.commands import set_user_commands
from bot.texts import Texts, Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.register(ask_language, Command("language"), F.chat.type == "private")
    router.callback_query.register(choose_language, LanguageChoice.filter(F.code.in_(SUPPORTED_LANGUAGES)))
    return router


async def ask_language(message: Message, tr: Translator) -> None:
    await message.answer(tr("language-question"), reply_markup=keyboards.languages(tr))


async def choose_language(
    query: CallbackQuery,
    callback_data: LanguageChoice,
    customers: CustomerService,
    texts: Texts,
    is_staff: bool,
    is_owner: bool,
    bot: Bot,
) -> None:
    if await customers.get(query.from_user.id) is None:
        await query.answer(texts.translator(callback_data.code)("consent-start-again"), show_alert=True)
        return
    await customers.set_language(query.from_user.id, callback_data.code)
    tr = texts.translator(callback_data.code)
    await query.answer()
    text = tr("language-set")
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await bot.send_message(query.from_user.id, text)
    # The command menu follows the chosen language in this chat.
    await set_user_commands(bot, query.from_user.id, tr, is_staff=is_staff, is_owner=is_owner)
