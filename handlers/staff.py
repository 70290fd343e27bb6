"""Staff commands. The router-wide filter admits numeric ids from config only; anyone else falls
through to the catch-all and gets the same answer as for any unknown command."""

from __future__ import annotations

import html
import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.charts import stats_chart
from bot.config import Config
from bot.services.console import ConsoleService, CouponCheck
from bot.services.loyalty import LoyaltyService
from bot.services.staff import CustomerCard, StaffService
from bot.telegram.filters import is_staff_event
from bot.telegram.middlewares import AuditMiddleware
from bot.texts import Translator

COUPON = re.compile(r"^[A-Za-z2-9]{4}-[A-Za-z2-9]{4}$")


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private", is_staff_event)
    router.message.middleware(AuditMiddleware())
    router.message.register(stats, Command("stats"))
    router.message.register(customer, Command("customer"))
    router.message.register(redeem_coupon, Command("redeem"), F.text.func(_names_a_coupon))
    router.message.register(staff_help, Command("staffhelp"))
    return router


def _names_a_coupon(text: str) -> bool:
    parts = text.split()
    return len(parts) >= 2 and bool(COUPON.match(parts[1]))


async def staff_help(message: Message, tr: Translator) -> None:
    await message.answer(tr("staff-help"))


async def stats(message: Message, console: ConsoleService, tr: Translator) -> None:
    view = await console.stats()
    segments = {tr(f"segment-{name}"): count for name, count in view.segments.items()}
    lines = [
        tr(
            "stats",
            customers=view.customers,
            opted_in=view.opted_in,
            opted_in_pct=view.percent(view.opted_in),
            linked=view.linked,
            linked_pct=view.percent(view.linked),
            reachable=view.reachable,
            reachable_pct=view.percent(view.reachable),
            erased=view.erased,
            block_rate=view.block_rate,
        ),
        tr("stats-segments") + " " + ", ".join(f"{name} {count}" for name, count in segments.items()),
        tr("stats-sent-title"),
    ]
    rules = sorted(set(view.sent_30) | set(view.sent_7))
    lines += [
        tr("stats-sent-line", rule=r, week=view.sent_7.get(r, 0), month=view.sent_30.get(r, 0)) for r in rules
    ]
    if not rules:
        lines.append(tr("stats-sent-none"))
    redeemed = sum(view.redemptions_30.values())
    lines.append(tr("stats-redemptions", count=redeemed))
    png = stats_chart(segments, view.sent_30, tr("stats-chart-segments"), tr("stats-chart-messages"))
    await message.answer_photo(
        BufferedInputFile(png, filename="stats.png"), caption=tr("stats-chart-caption")
    )
    await message.answer("\n".join(lines))


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


async def redeem_coupon(
    message: Message,
    command: CommandObject,
    console: ConsoleService,
    loyalty: LoyaltyService,
    config: Config,
    tr: Translator,
) -> None:
    """`/redeem <coupon> [customer]`: valid, unused, not expired, and the named customer's; then used."""
    assert message.from_user is not None
    code, _, who = (command.args or "").strip().partition(" ")
    customer_id = None
    if who.strip():
        account = await loyalty.resolve_account(who.strip())
        if account is None or account.user_id is None:
            await message.answer(tr("customer-not-found", query=who.strip()))
            return
        customer_id = account.user_id
    result, coupon = await console.redeem_coupon(code, message.from_user.id, customer_id)
    if result is CouponCheck.REDEEMED and coupon is not None:
        value = (
            f"{coupon.value}%"
            if coupon.kind == "percent"
            else tr.money(coupon.value * 100, config.shop.currency)
        )
        await message.answer(tr("coupon-redeemed", code=coupon.code, value=value, rule=coupon.rule))
        return
    until = tr.date(coupon.valid_until, config.shop.zone) if coupon else ""
    await message.answer(tr(f"coupon-{result.value}", code=code.upper(), date=until))


def _render_card(card: CustomerCard, config: Config, tr: Translator) -> str:
    zone = config.shop.zone
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
        for event in card.consent_history[-3:]:
            lines.append(
                tr(
                    "customer-consent-event",
                    date=tr.date(event.at, zone),
                    action=event.action.value,
                    source=event.source,
                )
            )
        lines.append(tr("customer-language", language=c.language or c.telegram_language or "—"))
        if c.frequency != "normal" or c.paused_until:
            lines.append(tr("customer-frequency", frequency=c.frequency))
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
    if card.purchases:
        lines.append(tr("customer-purchases-title"))
        lines += [f"• {tr.date(p.at, zone)} · {tr.money(p.amount_minor, p.currency)}" for p in card.purchases]
    if card.messages:
        lines.append(tr("customer-messages-title"))
        for m in card.messages:
            when = tr.date(m.sent_at or m.due_at, zone)
            reason = f" ({html.escape(m.reason)})" if m.reason else ""
            lines.append(f"• {when} · {m.rule} · {m.state.value}{reason}")
    if card.surveys:
        lines.append(tr("customer-surveys-title"))
        for s in card.surveys:
            answer = tr(f"survey-reason-{s.reason}") if s.reason else f"NPS {s.score}"
            comment = f" — {s.comment}" if s.comment else ""
            lines.append(tr("customer-survey-line", answer=answer, comment=comment))
    return "\n".join(lines)
