"""What the dispatcher injects into handlers, by name (aiogram workflow data), and how it is built."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypedDict

from bot.clock import Clock
from bot.config import Config
from bot.notify import Notifier
from bot.services.campaigns import CampaignService
from bot.services.console import ConsoleService
from bot.services.customers import CustomerService
from bot.services.loyalty import LoyaltyService
from bot.services.nudges import MessageSender, NudgeDelivery
from bot.services.planner import NudgePlanner
from bot.services.staff import StaffService
from bot.services.surveys import SurveyService
from bot.storage.db import Database
from bot.templates import NudgeTemplates
from bot.texts import Texts, Translator


class WorkflowData(TypedDict):
    """Given to `Dispatcher(**data)`; handlers ask for any of these by parameter name."""

    config: Config
    clock: Clock
    db: Database
    texts: Texts
    customers: CustomerService
    loyalty: LoyaltyService
    staff: StaffService
    templates: NudgeTemplates
    planner: NudgePlanner
    surveys: SurveyService
    console: ConsoleService
    campaigns: CampaignService
    # None without a connected bot (offline commands): nothing can be delivered then.
    delivery: NudgeDelivery | None
    in_flight: InFlight
    background: BackgroundTasks


class PerUpdateData(TypedDict):
    """Added for every update by `LocaleMiddleware`."""

    tr: Translator
    is_staff: bool
    is_owner: bool


class BackgroundTasks:
    """Tasks a handler starts and does not wait for (a campaign's progress message); kept referenced so
    they are not collected, and cancelled at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass
class InFlight:
    """Counts updates being handled, so shutdown can wait for them before closing the database."""

    count: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


def build_workflow_data(
    config: Config,
    clock: Clock,
    db: Database,
    texts: Texts,
    notifier: Notifier | None = None,
    sender: MessageSender | None = None,
) -> WorkflowData:
    """With a bot: `notifier` sends transactional messages and `sender` delivers nudges."""
    loyalty = LoyaltyService(db, clock, config, notifier)
    templates = NudgeTemplates.load(config.shop.currency, config.shop.zone, config.shop.default_language)
    delivery = (
        NudgeDelivery(db, clock, config, texts, templates, loyalty, sender) if sender is not None else None
    )
    return WorkflowData(
        config=config,
        clock=clock,
        db=db,
        texts=texts,
        customers=CustomerService(db, clock, config),
        loyalty=loyalty,
        staff=StaffService(db, config, loyalty),
        templates=templates,
        planner=NudgePlanner(db, clock, config, loyalty),
        surveys=SurveyService(db, clock, config, templates, loyalty, notifier),
        console=ConsoleService(db, clock, config),
        campaigns=CampaignService(db, clock, config, templates),
        delivery=delivery,
        in_flight=InFlight(),
        background=BackgroundTasks(),
    )
