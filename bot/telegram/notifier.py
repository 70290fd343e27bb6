"""Sends transactional messages through the bot, in each customer's language."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramRetryAfter,
)

from bot.clock import Clock
from bot.notify import TextKey
from bot.storage import customers as customer_store
from bot.storage.db import Database
from bot.texts import Texts

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_S = 60


class TelegramNotifier:
    def __init__(self, bot: Bot, texts: Texts, db: Database, clock: Clock, staff_ids: list[int]) -> None:
        self._bot = bot
        self._texts = texts
        self._db = db
        self._clock = clock
        self._staff_ids = staff_ids

    async def notify_staff(self, key: str, **args: str | int) -> int:
        """Alerts to staff, each in their own language; a staff member who never opened the bot is skipped."""
        delivered = 0
        for staff_id in self._staff_ids:
            # As their replies are chosen (LocaleMiddleware): their /language, else Telegram's language.
            staff = await customer_store.get(self._db, staff_id)
            tr = self._texts.translator(
                self._texts.resolve_language(
                    staff.language if staff else None, staff.telegram_language if staff else None
                )
            )
            values = {
                name: tr(value) if isinstance(value, TextKey) else value for name, value in args.items()
            }
            try:
                await self._bot.send_message(staff_id, tr(key, **values))
                delivered += 1
            except TelegramRetryAfter as exc:
                await asyncio.sleep(min(exc.retry_after, MAX_RETRY_AFTER_S))
                try:
                    await self._bot.send_message(staff_id, tr(key, **values))
                    delivered += 1
                except TelegramAPIError as again:
                    log.warning("staff alert %s to %s failed: %s", key, staff_id, again)
            except TelegramAPIError as exc:
                log.warning("staff alert %s to %s failed: %s", key, staff_id, exc)
        return delivered

    async def notify(self, user_id: int, key: str, **args: str | int) -> bool:
        customer = await customer_store.get(self._db, user_id)
        if customer is None or not customer.reachable:
            return False  # forgotten, never started, or blocked the bot
        tr = self._texts.translator(
            self._texts.resolve_language(customer.language, customer.telegram_language)
        )
        values = {name: tr(value) if isinstance(value, TextKey) else value for name, value in args.items()}
        return await self._deliver(user_id, tr(key, **values), key)

    async def send_text(self, user_id: int, html: str) -> bool:
        customer = await customer_store.get(self._db, user_id)
        if customer is None or not customer.reachable:
            return False
        return await self._deliver(user_id, html, "a rendered text")

    async def _deliver(self, user_id: int, text: str, what: str) -> bool:
        for _attempt in range(3):
            try:
                await self._bot.send_message(user_id, text)
                return True
            except TelegramRetryAfter as exc:
                # Telegram asks us to wait; the same message is sent again after that.
                await asyncio.sleep(min(exc.retry_after, MAX_RETRY_AFTER_S))
            except TelegramForbiddenError:
                await customer_store.mark_unreachable(self._db, user_id, self._clock.now())
                return False
            except TelegramBadRequest as exc:
                if "chat not found" in exc.message.lower():
                    await customer_store.mark_unreachable(self._db, user_id, self._clock.now())
                log.warning("could not send %s to %s: %s", what, user_id, exc.message)
                return False
        log.warning("gave up sending %s to %s after repeated flood waits", what, user_id)
        return False
