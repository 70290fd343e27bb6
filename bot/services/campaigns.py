"""Campaigns: an owner's one-off message to a segment, sent through the outbox like every nudge.

Recipients are counted after consent, the customer's own pause and the caps; at send time delivery
checks all of that again, and the kill switch, so a campaign never outruns the rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.config import Config
from bot.rules.pacing import Caps, customer_caps
from bot.rules.segments import segment_for
from bot.services.nudges import sample_context
from bot.services.summaries import refresh_purchase_summaries
from bot.storage import campaigns, planning
from bot.storage import outbox as outbox_store
from bot.storage.campaigns import Campaign
from bot.storage.db import Database
from bot.storage.outbox import NewOutboxRow, OutboxState
from bot.templates import NudgeTemplates, TemplateProblem

SEGMENT_CHOICES = ("all", "new", "active", "at_risk", "lapsed", "lost")
CAMPAIGN_PRIORITY = 1000  # an owner pressed "send": it goes before routine nudges
CAP_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Audience:
    segment: str
    in_segment: int
    eligible: list[int]  # opted in, reachable, not paused, within caps

    @property
    def excluded(self) -> int:
        return self.in_segment - len(self.eligible)


@dataclass(frozen=True)
class Progress:
    campaign: Campaign
    counts: Counter[str]

    @property
    def planned(self) -> int:
        return self.counts.get("planned", 0) + self.counts.get("sending", 0)

    @property
    def finished(self) -> bool:
        return self.planned == 0 or self.campaign.state != "running"


class CampaignService:
    def __init__(self, db: Database, clock: Clock, config: Config, templates: NudgeTemplates) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._templates = templates
        self._caps = Caps(config.marketing.max_per_7_days, config.marketing.max_per_30_days)

    def templates(self) -> list[str]:
        """Templates an owner may pick (those that need no coupon, survey or product)."""
        needs_context = {
            "welcome",
            "birthday",
            "win_back_offer",
            "restock",
            "points_expiring",
            "nps",
            "win_back_survey",
        }
        return [
            n for n in self._templates.names("en") if not n.startswith("followup_") and n not in needs_context
        ]

    async def audience(self, segment: str) -> Audience:
        if segment not in SEGMENT_CHOICES:
            raise ValueError(f"unknown segment {segment!r}")
        now = self._clock.now()
        in_segment = 0
        unpaused: list[tuple[int, str]] = []  # (user id, frequency)
        segments = self._config.nudges.segments
        await refresh_purchase_summaries(self._db)
        async for row in planning.iter_customers(self._db, self._config.shop.zone, only_eligible=True):
            current = segment_for(now, row.purchases, row.first_purchase_at, row.last_purchase_at, segments)
            if segment != "all" and current.value != segment:
                continue
            in_segment += 1
            if row.paused_until is None or row.paused_until <= now:
                unpaused.append((row.user_id, row.frequency))
        eligible: list[int] = []
        for first in range(0, len(unpaused), 1000):  # what they were sent lately, a thousand at a query
            some = unpaused[first : first + 1000]
            sent = await outbox_store.sent_times_of(self._db, [u for u, _ in some], now - CAP_WINDOW)
            for user_id, frequency in some:
                if customer_caps(self._caps, frequency).allows(sent.get(user_id, []), now):
                    eligible.append(user_id)
        return Audience(segment, in_segment, eligible)

    def preview(self, template: str | None, text: str | None, language: str, first_name: str) -> str:
        """The message as a customer would see it (sample data, the owner's own first name)."""
        context: dict[str, Any] = sample_context()
        context["customer"] = {**context["customer"], "first_name": first_name}
        context["shop"] = {"name": self._config.shop.name}
        if text is not None:
            return self._templates.render_string(text, language, context)
        assert template is not None
        return self._templates.render(template, language, context)[0]

    def check_text(self, text: str) -> str | None:
        """The owner's own text is a template too ({{ customer.first_name }} works): None if it renders."""
        try:
            self._templates.render_string(text, self._config.shop.default_language, sample_context())
        except TemplateProblem as exc:
            return str(exc)
        return None

    async def launch(self, owner_id: int, segment: str, template: str | None, text: str | None) -> Progress:
        audience = await self.audience(segment)
        now = self._clock.now()
        campaign_id = await campaigns.create(
            self._db, owner_id, segment, template, text, len(audience.eligible), now
        )
        rows = [
            NewOutboxRow(
                user_id=user_id,
                rule=f"campaign_{campaign_id}",
                step=0,
                period=f"c{campaign_id}",
                template=template or campaigns.OWN_TEXT,
                priority=CAMPAIGN_PRIORITY,
                state=OutboxState.PLANNED,
                due_at=now,
                campaign_id=campaign_id,
            )
            for user_id in audience.eligible
        ]
        await outbox_store.insert_many(self._db, rows, now)
        return await self.progress(campaign_id)

    async def progress(self, campaign_id: int) -> Progress:
        campaign = await campaigns.get(self._db, campaign_id)
        assert campaign is not None
        counts = Counter(await campaigns.outbox_counts(self._db, campaign_id))
        if campaign.state == "running" and counts.get("planned", 0) + counts.get("sending", 0) == 0:
            await campaigns.finish(self._db, campaign_id, "done", self._clock.now())
            campaign = await campaigns.get(self._db, campaign_id)
            assert campaign is not None
        return Progress(campaign, counts)

    async def skipped_reasons(self, campaign_id: int) -> dict[str, int]:
        return await campaigns.skipped_reasons(self._db, campaign_id)

    async def cancel(self, campaign_id: int) -> Progress:
        """Messages not sent yet are skipped ("campaign cancelled"); what went, went."""
        await campaigns.cancel(self._db, campaign_id, self._clock.now())
        return await self.progress(campaign_id)
