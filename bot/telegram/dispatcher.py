"""One way to assemble the bot, shared by `run`, `demo` and the tests."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods.base import Response
from aiogram.types import Message, Update, User

from bot.config import Config
from bot.storage import customers as customer_store
from bot.storage.db import Database
from bot.telegram.commands import set_default_commands, set_user_commands
from bot.telegram.deps import BackgroundTasks, InFlight, WorkflowData
from bot.telegram.middlewares import LocaleMiddleware, UpdateOnceMiddleware
from bot.telegram.sessions import PollingSession
from bot.texts import Texts
from handlers import all_routers

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 30.0


def build_dispatcher(data: WorkflowData) -> Dispatcher:
    dispatcher = Dispatcher(**data)
    # Outer update middlewares run after aiogram's own (errors, user context), in this order.
    dispatcher.update.outer_middleware(UpdateOnceMiddleware())
    dispatcher.update.outer_middleware(LocaleMiddleware())
    dispatcher.include_routers(*all_routers())
    dispatcher.startup.register(on_startup)
    dispatcher.shutdown.register(on_shutdown)
    return dispatcher


# aiogram reads each answer as `Response[T]`, and pydantic keeps parametrised models in a weak cache: once
# the garbage collector frees one, the next answer builds it again (about 13 ms, dozens of times during a
# campaign). Holding the ones the bot uses keeps them built for the life of the process.
_ANSWER_MODELS = (Response[Message], Response[bool], Response[User], Response[list[Update]])


def build_bot(token: str, session: BaseSession) -> Bot:
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


async def on_startup(bot: Bot, texts: Texts, config: Config, db: Database) -> None:
    await set_default_commands(bot, texts)
    for user_id in config.staff.everyone:
        language = await customer_store.get_language(db, user_id)
        tr = texts.translator(texts.resolve_language(language, None))
        await set_user_commands(bot, user_id, tr, is_staff=True, is_owner=config.staff.is_owner(user_id))


async def on_shutdown(
    bot: Bot, dispatcher: Dispatcher, in_flight: InFlight, background: BackgroundTasks
) -> None:
    """Handle updates caught mid-air by the stop, then let running ones finish, before the database closes."""
    if isinstance(bot.session, PollingSession):
        orphaned, bot.session.orphaned = bot.session.orphaned, []
        for update in orphaned:
            try:
                await dispatcher.feed_update(bot, update)
            except Exception:  # one bad update must not cost the others or the drain below
                log.exception("update %s kept at shutdown failed", update.update_id)
    try:
        await asyncio.wait_for(in_flight.idle.wait(), DRAIN_TIMEOUT_S)
    except TimeoutError:
        log.error("%d updates still running after %.0f s; stopping anyway", in_flight.count, DRAIN_TIMEOUT_S)
    await background.cancel_all()
