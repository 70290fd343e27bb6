"""Sends one nudge through the Bot API and turns Telegram's answer into a SendResult."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from pydantic import BaseModel, ConfigDict

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


class SentNudge(BaseModel):
    """What a nudge keeps of the message Telegram echoes back: its id. The rest is ignored unread."""

    model_config = ConfigDict(extra="ignore")

    message_id: int


# pydantic caches a parametrised generic model weakly: unless something holds it, `Response[SentNudge]`
# (which aiogram asks for on every answer) is collected and rebuilt, about a millisecond each time.
_ANSWER = Response[SentNudge]


class SendNudge(TelegramMethod[SentNudge]):
    """sendMessage with the fields a nudge uses, and Telegram's answer read for the message id alone.

    aiogram's `SendMessage` validates the whole echoed `Message` (sender, chat, entities, keyboard) into
    models, about 50 µs a send, and dumps twenty fields it then drops: together a sixth of what a send in
    a campaign costs the event loop, for fields a nudge never reads. Errors are raised as aiogram raises
    them; bot defaults (parse mode, link previews) apply as to any call.
    """

    __returning__ = SentNudge
    __api_method__ = "sendMessage"

    chat_id: int
    text: str
    parse_mode: str | Default | None = Default("parse_mode")
    link_preview_options: LinkPreviewOptions | Default | None = Default("link_preview")
    # Telegram's paid broadcasts: up to 1 000 messages a second, for a fee per message.
    allow_paid_broadcast: bool | None = None
    reply_markup: InlineKeyboardMarkup | None = None


class TelegramSender:
    def __init__(self, bot: Bot, *, paid_broadcast: bool = False) -> None:
        self._bot = bot
        # Sent only when the shop pays for broadcasts above Telegram's free 30 messages a second.
        self._paid_broadcast = True if paid_broadcast else None
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
            message = await self._bot(
                SendNudge(
                    chat_id=chat_id,
                    text=html,
                    allow_paid_broadcast=self._paid_broadcast,
                    reply_markup=markup,
                )
            )
        except TelegramRetryAfter as exc:
            return SendResult(SendStatus.RETRY_AFTER, retry_after=float(exc.retry_after), reason=exc.message)
        except TelegramForbiddenError as exc:
            return SendResult(SendStatus.BLOCKED, reason=exc.message)
        except (TelegramUnauthorizedError, TelegramNotFound) as exc:
            # 401: the token was revoked or mistyped; 404: the Bot API address is wrong. No message can
            # go until someone fixes it, and none is to blame.
            return SendResult(SendStatus.REFUSED, reason=exc.message)
        except TelegramBadRequest as exc:
            if "chat not found" in exc.message.lower():
                return SendResult(SendStatus.CHAT_NOT_FOUND, reason=exc.message)
            return SendResult(SendStatus.ERROR, reason=exc.message, transient=False)
        except TelegramEntityTooLarge as exc:  # 413 (a network error to aiogram): too large to ever go
            return SendResult(SendStatus.ERROR, reason=exc.message, transient=False)
        except (TelegramServerError, TelegramNetworkError, ClientDecodeError) as exc:
            # ClientDecodeError: an answer that is not Telegram's JSON (a proxy's error page).
            return SendResult(SendStatus.ERROR, reason=str(exc), transient=True)
        except TelegramAPIError as exc:
            # Anything else Telegram says: tried again with backoff, then failed with its words. Raised,
            # it stopped the whole delivery run and left the messages in flight 'sending' (then unknown).
            return SendResult(SendStatus.ERROR, reason=exc.message, transient=True)
        return SendResult(SendStatus.SENT, message_id=message.message_id)
