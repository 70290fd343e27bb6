"""Staff commands on points: /purchase (with a confirmation), /redeem, /adjust."""

from __future__ import annotations

import secrets

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.clock import Clock, from_db, to_db
from bot.config import Config
from bot.rules.earning import parse_amount
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.services.loyalty import LoyaltyError, LoyaltyService, PurchaseInput, PurchaseStatus
from bot.telegram.callbacks import PurchaseConfirm
from bot.telegram.filters import is_staff_event
from bot.telegram.middlewares import AuditMiddleware
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private", is_staff_event)
    router.callback_query.filter(is_staff_event)
    router.message.middleware(AuditMiddleware())
    router.callback_query.middleware(AuditMiddleware())
    router.message.register(purchase, Command("purchase"))
    router.callback_query.register(purchase_answer, PurchaseConfirm.filter())
    router.message.register(redeem_points, Command("redeem"), F.text.regexp(r"^/redeem(@\w+)?\s+\S+\s+\S+"))
    router.message.register(redeem_usage, Command("redeem"))
    router.message.register(adjust, Command("adjust"))
    return router


async def redeem_usage(message: Message, tr: Translator) -> None:
    await message.answer(tr("redeem-usage"))


async def purchase(
    message: Message,
    command: CommandObject,
    loyalty: LoyaltyService,
    config: Config,
    clock: Clock,
    state: FSMContext,
    tr: Translator,
) -> None:
    """`/purchase <phone|card|@username|id> <amount> [note]`: a preview first, then the confirmation."""
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 2:
        await message.answer(tr("purchase-usage"))
        return
    who, amount_text = parts[0], parts[1]
    note = parts[2] if len(parts) > 2 else None
    amount = parse_amount(amount_text, loyalty.currency_digits)
    if amount is None or amount == 0:
        await message.answer(tr("error-amount-text", text=amount_text))
        return
    account = await loyalty.resolve_account(who)
    pending: dict[str, object] = {"amount": amount, "note": note, "at": to_db(clock.now())}
    if account is not None:
        pending["account_id"] = account.id
        label = account.card_code or account.phone or f"#{account.id}"
    elif phone := normalize_phone(who, config.shop.phone_region) if who[:1] in "+0123456789" else None:
        pending["phone"] = phone
        label = tr("purchase-new-customer", who=phone)
    elif not who.startswith("@") and (card := normalize_card_code(who)):
        pending["card"] = card
        label = tr("purchase-new-customer", who=card)
    else:
        await message.answer(tr("customer-not-found", query=who))
        return
    op = secrets.token_hex(4)
    await state.update_data({f"purchase:{op}": pending})
    preview = tr(
        "purchase-preview",
        who=label,
        amount=tr.money(amount, config.shop.currency),
        points=loyalty.points_for(amount),
    )
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("confirm-button"), callback_data=PurchaseConfirm(op=op, confirmed=True).pack()
                ),
                InlineKeyboardButton(
                    text=tr("cancel-button"), callback_data=PurchaseConfirm(op=op, confirmed=False).pack()
                ),
            ]
        ]
    )
    await message.answer(preview, reply_markup=buttons)


async def purchase_answer(
    query: CallbackQuery,
    callback_data: PurchaseConfirm,
    loyalty: LoyaltyService,
    config: Config,
    state: FSMContext,
    tr: Translator,
    bot: Bot,
) -> None:
    data = await state.get_data()
    key = f"purchase:{callback_data.op}"
    pending = data.get(key)
    await query.answer()
    if not isinstance(pending, dict):
        await _reply(query, bot, tr("purchase-expired"))
        return
    await state.update_data({key: None})
    if not callback_data.confirmed:
        await _reply(query, bot, tr("purchase-cancelled"))
        return
    request = PurchaseInput(
        purchase_id=f"staff:{query.from_user.id}:{callback_data.op}",
        amount_minor=int(pending["amount"]),
        currency=config.shop.currency,
        at=from_db(str(pending["at"])),
        account_id=pending.get("account_id"),
        phone=pending.get("phone"),
        card=pending.get("card"),
        note=pending.get("note"),
    )
    try:
        result = await loyalty.record_purchase(request, actor=f"staff:{query.from_user.id}", source="staff")
    except LoyaltyError as exc:
        await _reply(query, bot, tr(exc.key, **exc.args_for_text))
        return
    if result.status is PurchaseStatus.DUPLICATE:
        await _reply(query, bot, tr("purchase-duplicate"))
        return
    await _reply(
        query,
        bot,
        tr(
            "purchase-recorded",
            amount=tr.money(request.amount_minor, config.shop.currency),
            points=result.points_earned + result.bonus_points,
        ),
    )


async def redeem_points(
    message: Message, command: CommandObject, loyalty: LoyaltyService, tr: Translator
) -> None:
    """`/redeem <customer> <points>`. The operation id comes from the message, so a redelivery is a no-op."""
    who, points_text = (command.args or "").split(maxsplit=1)
    account = await loyalty.resolve_account(who)
    if account is None:
        await message.answer(tr("customer-not-found", query=who))
        return
    if not points_text.strip().isdigit():
        await message.answer(tr("error-points-text", text=points_text.strip()[:20]))
        return
    try:
        balance = await loyalty.redeem(
            account.id,
            int(points_text),
            actor=f"staff:{message.chat.id}",
            operation_id=f"redeem:{message.chat.id}:{message.message_id}",
        )
    except LoyaltyError as exc:
        await message.answer(tr(exc.key, **exc.args_for_text))
        return
    await message.answer(tr("redeem-done", points=int(points_text), balance=balance))


async def adjust(message: Message, command: CommandObject, loyalty: LoyaltyService, tr: Translator) -> None:
    """`/adjust <customer> <+N|-N> <reason>`: a correction, with the reason kept in the ledger."""
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3:
        await message.answer(tr("adjust-usage"))
        return
    who, points_text, reason = parts
    if not points_text.lstrip("+-").isdigit():
        await message.answer(tr("error-points-text", text=points_text[:20]))
        return
    points = int(points_text)
    account = await loyalty.resolve_account(who)
    if account is None:
        await message.answer(tr("customer-not-found", query=who))
        return
    try:
        balance = await loyalty.adjust(
            account.id,
            points,
            reason,
            actor=f"staff:{message.chat.id}",
            operation_id=f"adjust:{message.chat.id}:{message.message_id}",
        )
    except LoyaltyError as exc:
        await message.answer(tr(exc.key, **exc.args_for_text))
        return
    await message.answer(tr("adjust-done", points=points, shown=f"{points:+d}", balance=balance))


async def _reply(query: CallbackQuery, bot: Bot, text: str) -> None:
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    else:
        await bot.send_message(query.from_user.id, text)
