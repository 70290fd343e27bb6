"""One place where a failure becomes a polite answer in the user's language, never a traceback."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from bot.texts import Translator

log = logging.getLogger(__name__)


def get_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(apologise)
    return router


async def apologise(event: ErrorEvent, bot: Bot, tr: Translator | None = None) -> None:
    log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
    chat_id = _chat_of(event)
    if chat_id is None or tr is None:
        return
    try:
        await bot.send_message(chat_id, tr("error-generic"))
    except Exception:  # the apology itself must never raise: that would hide the first error
        log.exception("could not tell chat %s about the failure", chat_id)


def _chat_of(event: ErrorEvent) -> int | None:
    update = event.update
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None
