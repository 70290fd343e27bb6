"""The real dispatcher, routers and services on a real SQLite file, with Telegram replaced by LocalSession.

Built the way `bot.demo` builds it: `open_application` → `build_dispatcher` → `build_bot(LocalSession)`,
with startup and shutdown emitted around each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher

from bot.app import open_application
from bot.clock import ManualClock
from bot.config import Config, parse_config
from bot.telegram.deps import WorkflowData
from bot.telegram.dispatcher import build_bot, build_dispatcher
from bot.telegram.local_session import LocalChat, LocalSession
from bot.texts import Translator

OWNER_ID = 1
STAFF_ID = 2
SHOP_NAME = "Spice Shop"


@dataclass
class App:
    config: Config
    clock: ManualClock
    data: WorkflowData
    dispatcher: Dispatcher
    bot: Bot
    session: LocalSession

    def chat(
        self,
        user_id: int,
        first_name: str = "Emma",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> LocalChat:
        return LocalChat(
            self.dispatcher, self.bot, self.session, user_id, first_name, language_code, username
        )

    def tr(self, language: str) -> Translator:
        return self.data["texts"].translator(language)


AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def make_app(tmp_path: Path, clock: ManualClock, no_bot_token: None) -> AsyncIterator[AppFactory]:
    """`await make_app(shop={...})`: a running bot; several may be made in one test (separate files)."""
    async with AsyncExitStack() as stack:
        made = 0

        async def make(**sections: dict[str, Any]) -> App:
            nonlocal made
            made += 1
            data: dict[str, Any] = {
                "database": {"path": str(tmp_path / f"app{made}.sqlite3")},
                "shop": {
                    "name": SHOP_NAME,
                    "default_language": "uk",
                    "currency": "UAH",
                    "phone_region": "UA",
                },
                "staff": {"owners": [OWNER_ID], "staff": [STAFF_ID]},
            }
            for name, values in sections.items():
                data[name] = {**data.get(name, {}), **values}
            config = parse_config(data, "inprocess")
            session = LocalSession(bot_id=42)
            bot = build_bot("42:in-process", session)
            workflow = await stack.enter_async_context(open_application(config, clock, bot=bot))
            dispatcher = build_dispatcher(workflow)
            await dispatcher.emit_startup(bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data)
            stack.push_async_callback(
                dispatcher.emit_shutdown, bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data
            )
            return App(config, clock, workflow, dispatcher, bot, session)

        yield make


@pytest.fixture
async def app(make_app: AppFactory) -> App:
    return await make_app()
