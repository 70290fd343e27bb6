"""Staff commands. The router-wide filter admits numeric ids from config only; anyone else falls
through to the catch-all and gets the same answer as for any unknown command."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.config import Config
from bot.services.staff import CustomerCard, StaffService
from bot.telegram.filters import is_staff_event
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private", is_staff_event)
    router.message.register(stats, Command("stats"))
    router.message.register(customer, Command("customer"))
    router.message.register(staff_help, Command("staffhelp"))
    return router


async def staff_help(message: Message, tr: Translator) -> None:
    await message.answer(tr("staff-help"))


async def stats(message: Message, staff: StaffService, tr: Translator) -> None:
    numbers = await staff.stats()
    await message.answer(tr("stats", **numbers))


async def customer(
    message: Message, command: CommandObject, staff: StaffService, config: Config, tr: Translator
) -> None:
    if not command.args:
        await message.answer(tr("customer-usage"))
        return
    card = await staff.look_up(command.args)
    if card is None:
        await message.answer(tr("customer-not-found", query=command.args.strip()))
        return
    await message.answer(_render_card(card, config, tr))


def _render_card(card: CustomerCard, config: Config, tr: Translator) -> str:
    lines: list[str] = []
    if card.customer is not None:
        c = card.customer
        name = " ".join(part for part in (c.first_name, c.last_name) if part)
        lines.append(
            tr(
                "customer-telegram",
                name=name,
                id=str(c.user_id),
                username=f"@{c.username}" if c.username else "—",
            )
        )
        lines.append(tr("customer-consent", state=tr(f"consent-state-{c.consent.value}")))
        lines.append(tr("customer-language", language=c.language or c.telegram_language or "—"))
        if not c.reachable:
            lines.append(tr("customer-unreachable"))
    else:
        lines.append(tr("customer-not-in-telegram"))
    if card.account is not None and card.balance is not None:
        a = card.account
        lines.append(tr("customer-account", card=a.card_code or "—", phone=a.phone or "—"))
        lines.append(tr("customer-points", points=card.balance.points))
        lines.append(tr("balance-tier", tier=tr(f"tier-{card.balance.tier.value}")))
        lines.append(
            tr(
                "customer-activity",
                purchases=card.balance.purchases_12m,
                spend=tr.money(card.balance.spend_12m_minor, config.shop.currency),
            )
        )
    return "\n".join(lines)
