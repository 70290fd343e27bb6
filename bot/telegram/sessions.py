"""HTTP sessions: each Bot API call as one JSON body, and for long polling, never a batch of updates
dropped at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

import orjson
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Update
from aiohttp import BytesPayload, ClientError, ClientTimeout

log = logging.getLogger(__name__)
# How long a stop waits for the getUpdates call it interrupted, in case updates are already on the wire.
ORPHAN_GRACE_S = 1.5


class JsonBodySession(AiohttpSession):
    """An aiohttp session that sends each Bot API call as one `application/json` body.

    aiogram's own session sends form fields: every nested object (a keyboard, link preview options) is
    JSON-encoded on its own, then the whole form is url-encoded, character by character in Python. That
    was a quarter of the CPU a campaign's send costs; one JSON encoding of the call is cheaper, and the
    Bot API takes either. A call that uploads a file goes as aiogram sends it (multipart form). JSON,
    both ways, is orjson's.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", orjson.loads)
        kwargs.setdefault("json_dumps", _json_text)
        super().__init__(**kwargs)

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        files: dict[str, InputFile] = {}
        body: dict[str, Any] = {}
        # None is never sent (aiogram's own preparation drops it too): left out of the dump, the many unset
        # fields of a call and of each keyboard button cost nothing further.
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            # aiogram's own preparation: bot defaults (parse_mode), enums, dates, nested objects as dicts.
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                body[key] = prepared
        if files:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        payload = BytesPayload(orjson.dumps(body), content_type="application/json")
        limit = ClientTimeout(total=self.timeout if timeout is None else timeout)
        try:
            async with session.post(url, data=payload, timeout=limit) as response:
                content = await response.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        answer = self.check_response(bot=bot, method=method, status_code=response.status, content=content)
        return cast(TelegramType, answer.result)


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def telegram_session(api_base: str) -> JsonBodySession:
    """The session every bot of ours talks through, to the configured Bot API server."""
    return JsonBodySession(api=TelegramAPIServer.from_base(api_base))


class PollingSession(JsonBodySession):
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
