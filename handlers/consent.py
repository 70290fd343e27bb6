"""/start with its deep link, the consent buttons, and /stop."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.config import Config
from bot.models import ConsentState, TelegramProfile
from bot.services.customers import CustomerService, LinkResult, consent_source
from bot.services.loyalty import LoyaltyService
from bot.telegram import keyboards
from bot.telegram.callbacks import ConsentAnswer
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.register(start, CommandStart(), F.chat.type == "private")
    router.callback_query.register(consent_answer, ConsentAnswer.filter())
    router.message.register(stop, Command("stop"), F.chat.type == "private")
    return router


async def start(
    message: Message,
    command: CommandObject,
    customers: CustomerService,
    loyalty: LoyaltyService,
    config: Config,
    tr: Translator,
) -> None:
    user = message.from_user
    assert user is not None
    outcome = await customers.start(
        TelegramProfile(user.id, user.first_name, user.last_name, user.username, user.language_code),
        command.args,
    )
    if outcome.link is not None:
        await message.answer(tr(f"link-{outcome.link.value}", shop=config.shop.name))
    if outcome.referral_code is not None:
        referral = await loyalty.accept_referral(user.id, outcome.referral_code)
        await message.answer(tr(f"referral-{referral.value}", points=config.loyalty.referral_bonus))
    if outcome.link is LinkResult.LINKED:
        await loyalty.settle_referral_after_link(user.id)
    if outcome.customer.consent is ConsentState.GRANTED:
        await message.answer(tr("welcome-back-subscribed", name=user.first_name, shop=config.shop.name))
        return
    await message.answer(
        tr(
            "consent-question",
            name=user.first_name,
            shop=config.shop.name,
            per_week=config.marketing.max_per_7_days,
            per_month=config.marketing.max_per_30_days,
        ),
        reply_markup=keyboards.consent(tr, outcome.payload),
    )


async def consent_answer(
    query: CallbackQuery, callback_data: ConsentAnswer, customers: CustomerService, tr: Translator, bot: Bot
) -> None:
    if await customers.get(query.from_user.id) is None:
        # An old button pressed after /forget: there is no one to record consent for.
        await query.answer(tr("consent-start-again"), show_alert=True)
        return
    source = consent_source(callback_data.source)
    if callback_data.granted:
        await customers.grant_consent(query.from_user.id, source)
        text = tr("consent-granted")
    else:
        await customers.decline_consent(query.from_user.id, source)
        text = tr("consent-declined")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await bot.send_message(query.from_user.id, text)


async def stop(message: Message, customers: CustomerService, tr: Translator) -> None:
    assert message.from_user is not None
    if await customers.get(message.from_user.id) is None:
        await message.answer(tr("stop-not-subscribed"))
        return
    was_subscribed = await customers.withdraw_consent(message.from_user.id)
    await message.answer(tr("stop-done" if was_subscribed else "stop-not-subscribed"))
