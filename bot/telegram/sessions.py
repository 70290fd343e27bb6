"""HTTP sessions: one for long polling that never drops a batch of updates at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Update

log = logging.getLogger(__name__)
# How long a stop waits for the getUpdates call it interrupted, in case updates are already on the wire.
ORPHAN_GRACE_S = 1.5


class PollingSession(AiohttpSession):
    """An aiohttp session that keeps the updates of a getUpdates call interrupted by shutdown.

    aiogram cancels the polling task on SIGTERM. If Telegram had already answered that call, its
    updates would be lost to this process (an emulator marks them read; real Telegram would deliver
    them again, and the processed-updates table then skips the ones handled here). `orphaned` holds
    them so shutdown can handle them before the database closes.
    """

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        super().__init__(api=TelegramAPIServer.from_base(api_base), **kwargs)
        self.orphaned: list[Update] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        if not isinstance(method, GetUpdates):
            return await super().make_request(bot, method, timeout)
        call: asyncio.Future[Any] = asyncio.ensure_future(super().make_request(bot, method, timeout))
        try:
            return cast(TelegramType, await asyncio.shield(call))
        except asyncio.CancelledError:
            done, _ = await asyncio.wait({call}, timeout=ORPHAN_GRACE_S)
            if call in done and not call.cancelled() and call.exception() is None:
                self.orphaned.extend(call.result())
                if self.orphaned:
                    log.info("kept %d updates that arrived while stopping", len(self.orphaned))
            else:
                call.cancel()
                with contextlib.suppress(BaseException):
                    await call
            raise
