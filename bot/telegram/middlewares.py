"""Outer middlewares: handle each update once, track what is in flight, and speak the user's language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from bot.clock import Clock
from bot.storage import customers as customer_store
from bot.storage import updates as update_store
from bot.storage.db import Database
from bot.telegram.deps import InFlight
from bot.texts import Texts

log = logging.getLogger(__name__)
Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UpdateOnceMiddleware(BaseMiddleware):
    """Skips updates handled before (Telegram redelivers unconfirmed ones after a restart).

    The update is recorded after its handler returns: if the process dies half-way, the redelivered
    update is handled again rather than dropped.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        db: Database = data["db"]
        clock: Clock = data["clock"]
        in_flight: InFlight = data["in_flight"]
        bot_id = data["bot"].id
        # Counted before the first await, so a shutdown never closes the database under this update.
        in_flight.enter()
        try:
            if await update_store.is_processed(db, bot_id, event.update_id):
                log.info("update %s was handled before; skipped", event.update_id)
                return None
            result = await handler(event, data)
            await update_store.mark_processed(db, bot_id, event.update_id, clock.now())
            return result
        finally:
            in_flight.leave()


class LocaleMiddleware(BaseMiddleware):
    """Injects `tr` (texts in the user's language) and `is_staff`; reads the database, never writes."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        texts: Texts = data["texts"]
        user: User | None = data.get("event_from_user")
        chosen = None
        if user is not None:
            chosen = await customer_store.get_language(data["db"], user.id)
        language = texts.resolve_language(chosen, user.language_code if user else None)
        data["tr"] = texts.translator(language)
        data["is_staff"] = bool(user and data["config"].staff.is_staff(user.id))
        data["is_owner"] = bool(user and data["config"].staff.is_owner(user.id))
        return await handler(event, data)


class AuditMiddleware(BaseMiddleware):
    """On staff routers: every command or button a staff member used, recorded after it ran."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        result = await handler(event, data)
        user: User | None = data.get("event_from_user")
        if user is not None:
            if isinstance(event, Message):
                text = event.text or ""
                action, _, detail = text.partition(" ") if text.startswith("/") else ("(text)", "", text)
            elif isinstance(event, CallbackQuery):
                action, _, detail = (event.data or "").partition(":")
            else:
                return result
            await data["console"].record(user.id, action[:40], detail)
        return result
