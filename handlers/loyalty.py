"""The customer's loyalty commands: /history, /invite, /birthday."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.config import Config
from bot.rules.dates import parse_day_month
from bot.services.loyalty import LoyaltyService
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.message.register(history, Command("history"))
    router.message.register(invite, Command("invite"))
    router.message.register(birthday, Command("birthday"))
    return router


async def history(message: Message, loyalty: LoyaltyService, config: Config, tr: Translator) -> None:
    assert message.from_user is not None
    entries = await loyalty.history(message.from_user.id)
    if entries is None:
        await message.answer(tr("balance-unlinked"))
        return
    if not entries:
        await message.answer(tr("history-empty"))
        return
    lines = [tr("history-title")]
    for entry in entries:
        lines.append(
            tr(
                "history-line",
                date=tr.date(entry.at, config.shop.zone),
                points=f"{entry.points:+d}",
                kind=tr(f"ledger-{entry.kind.value}"),
            )
        )
    await message.answer("\n".join(lines))


async def invite(message: Message, loyalty: LoyaltyService, config: Config, tr: Translator, bot: Bot) -> None:
    assert message.from_user is not None
    code = await loyalty.referral_code(message.from_user.id)
    if code is None:
        await message.answer(tr("consent-start-again"))
        return
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=ref_{code}"
    invited, bought = await loyalty.invited_counts(message.from_user.id)
    await message.answer(
        tr("invite", link=link, points=config.loyalty.referral_bonus, invited=invited, bought=bought)
    )


async def birthday(message: Message, command: CommandObject, loyalty: LoyaltyService, tr: Translator) -> None:
    assert message.from_user is not None
    if not command.args:
        current = await loyalty.birthday(message.from_user.id)
        if current is None:
            await message.answer(tr("birthday-ask"))
        else:
            month, day = current.split("-")
            await message.answer(tr("birthday-current", date=f"{day}.{month}"))
        return
    month_day = parse_day_month(command.args)
    if month_day is None:
        await message.answer(tr("birthday-invalid", text=command.args.strip()[:20]))
        return
    if not await loyalty.set_birthday(message.from_user.id, month_day):
        await message.answer(tr("consent-start-again"))
        return
    month, day = month_day.split("-")
    await message.answer(tr("birthday-saved", date=f"{day}.{month}"))
