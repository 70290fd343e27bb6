"""Keyboards, built from the user's texts."""

from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot import SUPPORTED_LANGUAGES
from bot.telegram.callbacks import ConsentAnswer, ForgetAnswer, LanguageChoice
from bot.texts import Translator

_CALLBACK_LIMIT = 64


def consent(tr: Translator, payload: str) -> InlineKeyboardMarkup:
    # Keep within Telegram's 64 bytes of callback data whatever the deep-link payload was
    # (deep-link payloads are [A-Za-z0-9_-], so they never hold the ':' separator).
    room = _CALLBACK_LIMIT - len(ConsentAnswer(granted=False, source="").pack().encode())
    source = payload.encode()[:room].decode(errors="ignore").replace(":", "_")
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("consent-yes-button"),
                    callback_data=ConsentAnswer(granted=True, source=source).pack(),
                ),
                InlineKeyboardButton(
                    text=tr("consent-no-button"),
                    callback_data=ConsentAnswer(granted=False, source=source).pack(),
                ),
            ]
        ]
    )


def forget(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("forget-yes-button"), callback_data=ForgetAnswer(confirmed=True).pack()
                ),
                InlineKeyboardButton(
                    text=tr("forget-no-button"), callback_data=ForgetAnswer(confirmed=False).pack()
                ),
            ]
        ]
    )


def languages(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr(f"language-name-{code}"), callback_data=LanguageChoice(code=code).pack()
                )
                for code in SUPPORTED_LANGUAGES
            ]
        ]
    )


def share_phone(tr: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=tr("share-phone-button"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
