"""Sends one nudge through the Bot API and turns Telegram's answer into a SendResult."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.services.nudges import SendResult, SendStatus, SurveyAttachment
from bot.telegram.callbacks import FewerMessages, SurveyReason, SurveyScore


def survey_rows(survey: SurveyAttachment) -> list[list[InlineKeyboardButton]]:
    if survey.kind == "nps":
        buttons = [
            InlineKeyboardButton(
                text=str(n), callback_data=SurveyScore(survey=survey.survey_id, score=n).pack()
            )
            for n in range(11)
        ]
        return [buttons[:6], buttons[6:]]
    buttons = [
        InlineKeyboardButton(
            text=label, callback_data=SurveyReason(survey=survey.survey_id, reason=value).pack()
        )
        for value, label in survey.labels.items()
    ]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _keyboard(rows: list[list[InlineKeyboardButton]], fewer_button: str) -> InlineKeyboardMarkup:
    fewer = InlineKeyboardButton(text=fewer_button, callback_data=FewerMessages(choice="ask").pack())
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [fewer]])


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        # The "Fewer messages" keyboard of each language, built once: most nudges carry only it.
        self._fewer_only: dict[str, InlineKeyboardMarkup] = {}

    async def send(
        self, chat_id: int, html: str, fewer_button: str, survey: SurveyAttachment | None = None
    ) -> SendResult:
        if survey is None:
            markup = self._fewer_only.get(fewer_button)
            if markup is None:
                markup = self._fewer_only[fewer_button] = _keyboard([], fewer_button)
        else:
            markup = _keyboard(survey_rows(survey), fewer_button)
        try:
            message = await self._bot.send_message(chat_id, html, reply_markup=markup)
        except TelegramRetryAfter as exc:
            return SendResult(SendStatus.RETRY_AFTER, retry_after=float(exc.retry_after), reason=exc.message)
        except TelegramForbiddenError as exc:
            return SendResult(SendStatus.BLOCKED, reason=exc.message)
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                return SendResult(SendStatus.CHAT_NOT_FOUND, reason=exc.message)
            return SendResult(SendStatus.ERROR, reason=exc.message, transient=False)
        except (TelegramServerError, TelegramNetworkError) as exc:
            return SendResult(SendStatus.ERROR, reason=str(exc), transient=True)
        return SendResult(SendStatus.SENT, message_id=message.message_id)
