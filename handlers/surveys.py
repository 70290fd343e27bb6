"""Survey answers (one tap, an optional comment, a follow-up) and the staff's /survey and /export."""

from __future__ import annotations

import html
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.charts import survey_chart
from bot.services.loyalty import LoyaltyService
from bot.services.surveys import Answer, SurveyService, nps_group
from bot.storage.surveys import Survey
from bot.telegram.callbacks import SurveyReason, SurveyScore, SurveySkip
from bot.telegram.filters import is_staff_event
from bot.texts import Translator


def get_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(reason_tapped, SurveyReason.filter())
    router.callback_query.register(score_tapped, SurveyScore.filter())
    router.callback_query.register(comment_skipped, SurveySkip.filter())
    router.message.register(
        comment_written, F.chat.type == "private", F.text, ~F.text.startswith("/"), _awaiting
    )
    return router


def get_staff_router() -> Router:
    router = Router(name=f"{__name__}.staff")
    router.message.filter(F.chat.type == "private", is_staff_event)
    router.message.register(survey_report, Command("survey"))
    return router


async def _awaiting(message: Message, surveys: SurveyService) -> dict[str, Any] | bool:
    """Matches a message only when this customer was just asked for a comment (the survey is injected)."""
    assert message.from_user is not None
    survey = await surveys.awaiting_comment(message.from_user.id)
    return {"survey": survey} if survey is not None else False


def _skip_keyboard(tr: Translator, survey_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("survey-skip-button"), callback_data=SurveySkip(survey=survey_id).pack()
                )
            ]
        ]
    )


async def reason_tapped(
    query: CallbackQuery, callback_data: SurveyReason, surveys: SurveyService, tr: Translator, bot: Bot
) -> None:
    result = await surveys.answer_reason(query.from_user.id, callback_data.survey, callback_data.reason)
    if result is not Answer.RECORDED:
        await query.answer(tr("survey-already"), show_alert=True)
        return
    await query.answer()
    ask = "survey-ask-other" if callback_data.reason == "other" else "survey-ask-comment"
    await bot.send_message(query.from_user.id, tr(ask), reply_markup=_skip_keyboard(tr, callback_data.survey))


async def score_tapped(
    query: CallbackQuery, callback_data: SurveyScore, surveys: SurveyService, tr: Translator, bot: Bot
) -> None:
    result = await surveys.answer_score(query.from_user.id, callback_data.survey, callback_data.score)
    if result is not Answer.RECORDED:
        await query.answer(tr("survey-already"), show_alert=True)
        return
    await query.answer()
    await bot.send_message(
        query.from_user.id, tr("survey-ask-comment"), reply_markup=_skip_keyboard(tr, callback_data.survey)
    )


async def comment_written(
    message: Message,
    survey: Survey,
    surveys: SurveyService,
    loyalty: LoyaltyService,
    tr: Translator,
    bot: Bot,
) -> None:
    assert message.from_user is not None
    done = await surveys.finish(message.from_user.id, survey.id, message.text)
    if done is not None:
        await _thank(message.from_user.id, done, surveys, loyalty, tr, bot)


async def comment_skipped(
    query: CallbackQuery,
    callback_data: SurveySkip,
    surveys: SurveyService,
    loyalty: LoyaltyService,
    tr: Translator,
    bot: Bot,
) -> None:
    done = await surveys.finish(query.from_user.id, callback_data.survey, None)
    await query.answer()
    if done is not None:
        await _thank(query.from_user.id, done, surveys, loyalty, tr, bot)


async def _thank(
    user_id: int, survey: Survey, surveys: SurveyService, loyalty: LoyaltyService, tr: Translator, bot: Bot
) -> None:
    if survey.kind == "leave":
        await bot.send_message(user_id, await surveys.follow_up(survey, tr.language))
        return
    assert survey.score is not None
    group = nps_group(survey.score)
    if group == "promoter":
        me = await bot.me()
        link = f"https://t.me/{me.username}?start=ref_{await loyalty.referral_code(user_id)}"
        await bot.send_message(user_id, tr("nps-thanks-promoter", link=link))
    else:
        await bot.send_message(user_id, tr(f"nps-thanks-{group}"))


async def survey_report(message: Message, surveys: SurveyService, tr: Translator) -> None:
    report = await surveys.report()
    lines = [tr("survey-report-title")]
    if report.reasons_total:
        for reason, count in sorted(report.reasons.items(), key=lambda item: -item[1]):
            lines.append(
                tr(
                    "survey-report-reason",
                    reason=tr(f"survey-reason-{reason}"),
                    count=count,
                    share=report.share(reason),
                )
            )
    else:
        lines.append(tr("survey-report-no-reasons"))
    lines.append(
        tr(
            "survey-report-nps",
            nps30=_signed(report.nps_30),
            nps90=_signed(report.nps_90),
            answers30=report.answers_30,
            answers90=report.answers_90,
            trend=_signed(report.trend),
        )
    )
    if report.latest_comments:
        lines.append(tr("survey-report-comments"))
        for survey in report.latest_comments:
            # Customers' own words: escaped, so nothing they typed can change the message.
            lines.append(f"• {html.escape((survey.comment or '')[:200])}")
    text = "\n".join(lines)
    labels = {r: _without_emoji(tr(f"survey-reason-{r}")) for r in report.reasons}
    png = survey_chart(
        report, labels, tr("survey-chart-reasons"), tr("survey-chart-nps"), tr("survey-chart-days")
    )
    await message.answer_photo(
        BufferedInputFile(png, filename="survey.png"), caption=tr("survey-chart-caption")
    )
    await message.answer(text)


def _without_emoji(label: str) -> str:
    """Chart fonts lack emoji; the buttons' leading pictogram is dropped there."""
    head, _, rest = label.partition(" ")
    return rest if rest and not any(ch.isalnum() for ch in head) else label


def _signed(value: int | None) -> str:
    return "—" if value is None else f"{value:+d}"
