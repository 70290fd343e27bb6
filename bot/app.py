"""Opening the application (database, texts, services) and running it with long polling."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.api import build_api_app, start_api
from bot.clock import Clock, SystemClock
from bot.config import Config, require_api_token, require_token
from bot.storage import updates as update_store
from bot.storage.db import Database
from bot.telegram.deps import WorkflowData, build_workflow_data
from bot.telegram.dispatcher import build_bot, build_dispatcher
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.sender import TelegramSender
from bot.telegram.sessions import PollingSession
from bot.texts import Texts

log = logging.getLogger(__name__)
PROCESSED_UPDATES_KEPT = timedelta(days=14)


@asynccontextmanager
async def open_application(
    config: Config, clock: Clock, bot: Bot | None = None
) -> AsyncIterator[WorkflowData]:
    """The database migrated, the texts checked, the services built; closed cleanly on exit.

    With a `bot`, services can send transactional messages through it (tier reached, referral paid).
    """
    texts = Texts.load(config.shop.default_language)
    db = await Database.open(Path(config.database.path), config.database.busy_timeout_ms)
    try:
        applied = await db.migrate()
        for migration in applied:
            log.info("applied migration %04d_%s", migration.version, migration.name)
        notifier = TelegramNotifier(bot, texts, db, clock, config.staff.everyone) if bot is not None else None
        sender = (
            TelegramSender(bot, paid_broadcast=config.delivery.paid_broadcast) if bot is not None else None
        )
        yield build_workflow_data(config, clock, db, texts, notifier, sender)
    finally:
        await db.close()


def freeze_startup_heap() -> None:
    """Keep what start-up built out of the cyclic garbage collector's full passes.

    Modules, aiogram's and pydantic's models, the services: all of it lives as long as the process.
    Walked by every full collection, it made each one stop the event loop for about 160 ms, twice in a
    10 000-message campaign. Frozen, it is no longer walked (garbage made later is collected as before).
    """
    gc.collect()
    gc.freeze()


def build_scheduler(data: WorkflowData) -> AsyncIOScheduler:
    """Jobs keep no state of their own: everything they need is read from the database when they run."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    loyalty = data["loyalty"]

    async def prune_processed_updates() -> None:
        removed = await update_store.prune(data["db"], data["clock"].now() - PROCESSED_UPDATES_KEPT)
        log.info("pruned %d processed-update records", removed)

    async def expire_points() -> None:
        await loyalty.expire_due_points()

    async def birthday_bonuses() -> None:
        paid = await loyalty.pay_birthday_bonuses()
        log.info("paid %d birthday bonuses", paid)

    async def close_abandoned_surveys() -> None:
        closed = await data["surveys"].close_abandoned()
        if closed:
            log.info("closed %d surveys whose comment never came", closed)

    zone = data["config"].shop.zone
    common: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600}
    scheduler.add_job(prune_processed_updates, "interval", hours=24, id="prune-processed-updates", **common)
    scheduler.add_job(close_abandoned_surveys, "interval", hours=1, id="close-abandoned-surveys", **common)
    # Expiry and birthday bonuses are keyed ledger entries, so a late or repeated run is harmless; both
    # also run shortly after start, so a bot that was down at the usual hour catches up.
    scheduler.add_job(expire_points, "cron", hour=3, minute=5, timezone=zone, id="expire-points", **common)
    scheduler.add_job(birthday_bonuses, "cron", hour=10, timezone=zone, id="birthday-bonuses", **common)
    soon = data["clock"].now() + timedelta(seconds=5)
    scheduler.add_job(expire_points, "date", run_date=soon, id="expire-points-at-start")
    scheduler.add_job(birthday_bonuses, "date", run_date=soon, id="birthday-bonuses-at-start")

    nudges = data["config"].nudges
    if nudges.enabled:

        async def plan_nudges() -> None:
            report = await data["planner"].plan()
            log.info("nudge planning: %d customers, %d new outbox rows", report.customers, report.written)

        scheduler.add_job(
            plan_nudges,
            "interval",
            minutes=nudges.plan_every_minutes,
            id="plan-nudges",
            next_run_time=soon,
            **common,
        )
    return scheduler


class DeliveryJob:
    """The scheduler's delivery job: sends what is due; `stop` waits for the send in hand to settle."""

    EVERY_S = 5

    def __init__(self, data: WorkflowData) -> None:
        self.delivery = data["delivery"]
        self._stop = asyncio.Event()
        self._running = asyncio.Lock()

    async def __call__(self) -> None:
        if self.delivery is None or self._stop.is_set():
            return
        async with self._running:
            report = await self.delivery.deliver_due(stop=self._stop)
            if report.attempted:
                log.info("nudge delivery: %s", dict(report.outcomes))

    async def stop(self) -> None:
        self._stop.set()
        async with self._running:
            pass


async def run_bot(config: Config, clock: Clock | None = None) -> None:
    """Long polling until SIGINT/SIGTERM; running updates finish and the database closes cleanly."""
    token = require_token(config)
    api_token = require_api_token(config) if config.api.enabled else None  # refuse to start without it
    bot = build_bot(token, PollingSession(config.telegram.api_base))
    async with open_application(config, clock or SystemClock(), bot) as data:
        dispatcher = build_dispatcher(data)
        api_runner = None
        if api_token is not None:
            api_app = build_api_app(data["loyalty"], data["config"], api_token, data["clock"])
            api_runner = await start_api(api_app, config.api.host, config.api.port)
            log.info("purchases API listening on %s:%d", config.api.host, config.api.port)
        scheduler = build_scheduler(data)
        delivery = DeliveryJob(data)
        if delivery.delivery is not None:
            await delivery.delivery.recover()
            scheduler.add_job(
                # The bound method, not the instance: APScheduler awaits only what iscoroutinefunction()
                # recognises, and runs anything else in a thread, where the coroutine is never awaited.
                delivery.__call__,
                "interval",
                seconds=DeliveryJob.EVERY_S,
                id="deliver-nudges",
                coalesce=True,
                max_instances=1,
                next_run_time=data["clock"].now(),
            )
        scheduler.start()
        freeze_startup_heap()
        try:
            await dispatcher.start_polling(
                bot,
                polling_timeout=config.telegram.polling_timeout,
                handle_signals=True,
                close_bot_session=True,
            )
        finally:
            if api_runner is not None:
                # Stop accepting; requests under way finish before the database closes.
                await api_runner.cleanup()
            await delivery.stop()
            scheduler.shutdown(wait=False)
    log.info("stopped cleanly")
