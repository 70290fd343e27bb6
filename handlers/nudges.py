"""The "Fewer messages" button under every nudge: weekly, monthly, a 3-month pause, or stop."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.config import Config
from bot.services.customers import CustomerService
from bot.telegram.callbacks import FewerMessages
from bot.texts import Translator

CHOICES = ("weekly", "monthly", "pause", "stop")


def get_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(ask, FewerMessages.filter(F.choice == "ask"))
    router.callback_query.register(choose, FewerMessages.filter(F.choice.in_(CHOICES)))
    return router


async def ask(query: CallbackQuery, tr: Translator, bot: Bot) -> None:
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=tr(f"fewer-{c}-button"), callback_data=FewerMessages(choice=c).pack())]
            for c in CHOICES
        ]
    )
    await query.answer()
    await bot.send_message(query.from_user.id, tr("fewer-question"), reply_markup=buttons)


async def choose(
    query: CallbackQuery,
    callback_data: FewerMessages,
    customers: CustomerService,
    config: Config,
    tr: Translator,
    bot: Bot,
) -> None:
    user_id = query.from_user.id
    await query.answer()
    if await customers.get(user_id) is None:
        text = tr("consent-start-again")
    elif callback_data.choice == "stop":
        await customers.withdraw_consent(user_id, source="fewer-messages")
        text = tr("stop-done")
    else:
        until = await customers.choose_frequency(user_id, callback_data.choice)
        if until is not None:
            text = tr("fewer-pause-done", date=tr.date(until, config.shop.zone))
        else:
            text = tr(f"fewer-{callback_data.choice}-done")
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await bot.send_message(user_id, text)
