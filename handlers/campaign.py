"""/campaign (owners): segment → template or own text → preview → recipients → confirm → live progress.

Cancel works at every step, and while the campaign runs (unsent messages are then skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.services.campaigns import SEGMENT_CHOICES, CampaignService, Progress
from bot.telegram.callbacks import CampaignStep
from bot.telegram.deps import BackgroundTasks
from bot.telegram.filters import is_owner_event
from bot.telegram.middlewares import AuditMiddleware
from bot.texts import Translator

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 3.0


class CampaignFlow(StatesGroup):
    segment = State()
    content = State()
    text = State()
    confirm = State()


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private", is_owner_event)
    router.callback_query.filter(is_owner_event)
    router.message.middleware(AuditMiddleware())
    router.callback_query.middleware(AuditMiddleware())
    router.message.register(start, Command("campaign"))
    router.callback_query.register(cancel, CampaignStep.filter(F.action == "cancel"))
    router.callback_query.register(stop_running, CampaignStep.filter(F.action == "stop"))
    router.callback_query.register(
        segment_chosen, CampaignStep.filter(F.action == "seg"), CampaignFlow.segment
    )
    router.callback_query.register(
        template_chosen, CampaignStep.filter(F.action == "tpl"), CampaignFlow.content
    )
    router.callback_query.register(
        own_text_chosen, CampaignStep.filter(F.action == "own"), CampaignFlow.content
    )
    router.message.register(own_text_written, CampaignFlow.text, F.text)
    router.callback_query.register(confirmed, CampaignStep.filter(F.action == "go"), CampaignFlow.confirm)
    router.callback_query.register(stale, CampaignStep.filter())
    return router


def _button(text: str, action: str, value: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=CampaignStep(action=action, value=value).pack())


def _cancel_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [_button(tr("cancel-button"), "cancel")]


async def start(message: Message, state: FSMContext, tr: Translator) -> None:
    await state.clear()
    await state.set_state(CampaignFlow.segment)
    rows = [[_button(tr(f"segment-{s}"), "seg", s)] for s in SEGMENT_CHOICES]
    await message.answer(
        tr("campaign-choose-segment"),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[*rows, _cancel_row(tr)]),
    )


async def segment_chosen(
    query: CallbackQuery,
    callback_data: CampaignStep,
    state: FSMContext,
    campaigns: CampaignService,
    tr: Translator,
) -> None:
    if callback_data.value not in SEGMENT_CHOICES:
        await query.answer(tr("stale-button"), show_alert=True)
        return
    await state.update_data(segment=callback_data.value)
    await state.set_state(CampaignFlow.content)
    rows = [[_button(name, "tpl", name)] for name in campaigns.templates()]
    rows.append([_button(tr("campaign-own-text-button"), "own")])
    await query.answer()
    await _edit(
        query, tr("campaign-choose-content"), InlineKeyboardMarkup(inline_keyboard=[*rows, _cancel_row(tr)])
    )


async def template_chosen(
    query: CallbackQuery,
    callback_data: CampaignStep,
    state: FSMContext,
    campaigns: CampaignService,
    tr: Translator,
) -> None:
    if callback_data.value not in campaigns.templates():
        await query.answer(tr("stale-button"), show_alert=True)
        return
    await state.update_data(template=callback_data.value, text=None)
    await query.answer()
    await _preview(query.message, query.from_user.first_name, state, campaigns, tr)


async def own_text_chosen(query: CallbackQuery, state: FSMContext, tr: Translator) -> None:
    await state.set_state(CampaignFlow.text)
    await query.answer()
    await _edit(query, tr("campaign-write-text"), InlineKeyboardMarkup(inline_keyboard=[_cancel_row(tr)]))


async def own_text_written(
    message: Message, state: FSMContext, campaigns: CampaignService, tr: Translator
) -> None:
    assert message.text is not None and message.from_user is not None
    # What the owner typed, formatting kept (Telegram HTML); {{ customer.first_name }} works in it.
    text = message.html_text
    problem = campaigns.check_text(text)
    if problem is not None:
        await message.answer(tr("campaign-text-problem", problem=problem))
        return
    await state.update_data(template=None, text=text)
    await _preview(message, message.from_user.first_name, state, campaigns, tr)


async def _preview(
    where: object, first_name: str, state: FSMContext, campaigns: CampaignService, tr: Translator
) -> None:
    data = await state.get_data()
    preview = campaigns.preview(data.get("template"), data.get("text"), tr.language, first_name)
    audience = await campaigns.audience(str(data["segment"]))
    await state.set_state(CampaignFlow.confirm)
    summary = tr(
        "campaign-recipients",
        segment=tr(f"segment-{audience.segment}"),
        recipients=len(audience.eligible),
        in_segment=audience.in_segment,
        excluded=audience.excluded,
    )
    rows = [[_button(tr("campaign-send-button", recipients=len(audience.eligible)), "go")], _cancel_row(tr)]
    if not audience.eligible:
        rows = [_cancel_row(tr)]
    assert isinstance(where, Message)
    await where.answer(tr("campaign-preview-title"))
    await where.answer(preview)
    await where.answer(summary, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def confirmed(
    query: CallbackQuery,
    state: FSMContext,
    campaigns: CampaignService,
    background: BackgroundTasks,
    tr: Translator,
    bot: Bot,
) -> None:
    data = await state.get_data()
    await state.clear()
    await query.answer()
    progress = await campaigns.launch(
        query.from_user.id, str(data["segment"]), data.get("template"), data.get("text")
    )
    status = await bot.send_message(
        query.from_user.id,
        _progress_text(progress, tr),
        reply_markup=_stop_keyboard(progress.campaign.id, tr),
    )
    background.spawn(_follow(bot, status.chat.id, status.message_id, progress.campaign.id, campaigns, tr))


def _stop_keyboard(campaign_id: int, tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[_button(tr("campaign-stop-button"), "stop", str(campaign_id))]]
    )


def _progress_text(progress: Progress, tr: Translator) -> str:
    counts = progress.counts
    return tr(
        "campaign-progress",
        id=progress.campaign.id,
        sent=counts.get("sent", 0),
        total=progress.campaign.recipients,
        waiting=progress.planned,
        skipped=counts.get("skipped", 0),
        failed=counts.get("failed", 0) + counts.get("unknown", 0),
    )


async def _follow(
    bot: Bot, chat_id: int, message_id: int, campaign_id: int, campaigns: CampaignService, tr: Translator
) -> None:
    """Edits the one progress message every few seconds, then replaces it with the final report."""
    shown = ""
    while True:
        progress = await campaigns.progress(campaign_id)
        if progress.finished:
            break
        text = _progress_text(progress, tr)
        if text != shown:
            with contextlib.suppress(TelegramBadRequest):
                await bot.edit_message_text(
                    text, chat_id=chat_id, message_id=message_id, reply_markup=_stop_keyboard(campaign_id, tr)
                )
            shown = text
        await asyncio.sleep(PROGRESS_EVERY_S)
    reasons = await campaigns.skipped_reasons(campaign_id)
    lines = [
        tr(
            "campaign-report",
            id=campaign_id,
            state=tr(f"campaign-state-{progress.campaign.state}"),
            sent=progress.counts.get("sent", 0),
            total=progress.campaign.recipients,
            skipped=progress.counts.get("skipped", 0),
            failed=progress.counts.get("failed", 0) + progress.counts.get("unknown", 0),
        )
    ]
    lines += [
        tr("campaign-report-reason", reason=reason or "—", count=count) for reason, count in reasons.items()
    ]
    with contextlib.suppress(TelegramBadRequest):
        await bot.edit_message_text("\n".join(lines), chat_id=chat_id, message_id=message_id)


async def cancel(query: CallbackQuery, state: FSMContext, tr: Translator) -> None:
    await state.clear()
    await query.answer()
    await _edit(query, tr("campaign-cancelled"), None)


async def stop_running(
    query: CallbackQuery, callback_data: CampaignStep, campaigns: CampaignService, tr: Translator
) -> None:
    if not callback_data.value.isdigit():
        await query.answer(tr("stale-button"), show_alert=True)
        return
    await campaigns.cancel(int(callback_data.value))
    await query.answer(tr("campaign-stopping"))


async def stale(query: CallbackQuery, tr: Translator) -> None:
    await query.answer(tr("stale-button"), show_alert=True)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=markup)
