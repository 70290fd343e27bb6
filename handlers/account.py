"""The customer's own account: /balance, linking by phone, /mydata, /forget."""

from __future__ import annotations

import json

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message, ReplyKeyboardRemove

from bot.config import Config
from bot.services.customers import CustomerService, LinkResult
from bot.services.loyalty import LoyaltyService
from bot.telegram import keyboards
from bot.telegram.callbacks import ForgetAnswer
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(balance, Command("balance"))
    router.message.register(link, Command("link"))
    router.message.register(contact, F.contact)
    router.message.register(my_data, Command("mydata"))
    router.message.register(forget, Command("forget"))
    router.callback_query.register(forget_answer, ForgetAnswer.filter())
    return router


async def balance(message: Message, loyalty: LoyaltyService, config: Config, tr: Translator) -> None:
    assert message.from_user is not None
    view = await loyalty.balance_for_user(message.from_user.id)
    if view is None:
        await message.answer(tr("balance-unlinked"), reply_markup=keyboards.share_phone(tr))
        return
    lines = [
        tr("balance-points", points=view.points),
        tr("balance-tier", tier=tr(f"tier-{view.tier.value}")),
    ]
    if view.next_expiry is not None:
        lines.append(
            tr(
                "balance-expiry",
                points=view.next_expiry.points,
                date=tr.date(view.next_expiry.at, config.shop.zone),
            )
        )
    else:
        lines.append(tr("balance-no-expiry"))
    if view.account.card_code:
        lines.append(tr("balance-card", card=view.account.card_code))
    await message.answer("\n".join(lines))


async def link(message: Message, tr: Translator) -> None:
    await message.answer(tr("link-how"), reply_markup=keyboards.share_phone(tr))


async def contact(
    message: Message, customers: CustomerService, loyalty: LoyaltyService, config: Config, tr: Translator
) -> None:
    assert message.from_user is not None and message.contact is not None
    if await customers.get(message.from_user.id) is None:
        await message.answer(tr("consent-start-again"), reply_markup=ReplyKeyboardRemove())
        return
    result = await customers.link_phone(
        message.from_user.id,
        message.contact.phone_number,
        message.contact.user_id,
        message.from_user.full_name,
    )
    await message.answer(
        tr(f"link-{result.value}", shop=config.shop.name), reply_markup=ReplyKeyboardRemove()
    )
    if result in (LinkResult.LINKED, LinkResult.ALREADY_YOURS):
        await message.answer(tr("link-see-balance"))
    if result is LinkResult.LINKED:
        await loyalty.settle_referral_after_link(message.from_user.id)


async def my_data(message: Message, customers: CustomerService, tr: Translator) -> None:
    assert message.from_user is not None
    document = await customers.export_data(message.from_user.id)
    if document is None:
        await message.answer(tr("mydata-none"))
        return
    payload = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    await message.answer_document(
        BufferedInputFile(payload, filename=f"mydata-{message.from_user.id}.json"),
        caption=tr("mydata-caption"),
    )


async def forget(message: Message, customers: CustomerService, tr: Translator) -> None:
    assert message.from_user is not None
    if await customers.get(message.from_user.id) is None:
        await message.answer(tr("forget-nothing"))
        return
    await message.answer(tr("forget-question"), reply_markup=keyboards.forget(tr))


async def forget_answer(
    query: CallbackQuery, callback_data: ForgetAnswer, customers: CustomerService, tr: Translator, bot: Bot
) -> None:
    if callback_data.confirmed:
        erased = await customers.erase(query.from_user.id)
        text = tr("forget-done" if erased else "forget-nothing")
    else:
        text = tr("forget-cancelled")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await bot.send_message(query.from_user.id, text)
