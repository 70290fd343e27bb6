"""Nudges: planning who is due what (into the outbox), and delivering the outbox without loss,
duplicates or pestering.

Planning and delivery share nothing in memory: all state is in the database, so a restart resumes.
Consent, reachability, the customer's pause and the caps are checked again right before each send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.clock import Clock
from bot.config import Config, RuleConfig
from bot.models import ConsentState, Customer
from bot.rules.codes import coupon_code
from bot.rules.pacing import Caps, QuietHours, customer_caps, zone_or
from bot.rules.segments import days_between
from bot.services.loyalty import LoyaltyService
from bot.storage import campaigns, coupons, customers, planning, settings, surveys
from bot.storage import outbox as outbox_store
from bot.storage.db import Database, Tx
from bot.storage.outbox import OutboxRow, OutboxState
from bot.templates import NudgeTemplates, TemplateProblem
from bot.texts import Texts

log = logging.getLogger(__name__)
# "Why did you leave?": the seeds' reasons (poor service, quality, price, forgot/moved) and "other".
LEAVE_REASONS = ("service", "quality", "price", "forgot", "moved", "other")
MAX_TRIES_PER_CALL = 5
# A planned message that cannot go out within this long (caps, pause) is dropped, not kept forever.
MAX_WAIT = timedelta(days=7)
CAP_WINDOW = timedelta(days=30)


# -- sending seam -----------------------------------------------------------------------------------


class SendStatus(StrEnum):
    SENT = "sent"
    RETRY_AFTER = "retry_after"  # Telegram's flood control: not delivered, wait and send the same again
    BLOCKED = "blocked"  # 403: blocked by the user, deactivated
    CHAT_NOT_FOUND = "chat_not_found"
    ERROR = "error"  # anything else; `transient` says whether a retry may help


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    message_id: int | None = None
    retry_after: float = 0.0
    reason: str = ""
    transient: bool = False


@dataclass(frozen=True)
class SurveyAttachment:
    """Answer buttons under a nudge: "leave" reasons (value → label) or the NPS 0–10 scale."""

    kind: str
    survey_id: int
    labels: dict[str, str] = field(default_factory=dict)


class MessageSender(Protocol):
    """Puts one marketing message in a chat, with its "Fewer messages" button (and survey buttons)."""

    async def send(
        self, chat_id: int, html: str, fewer_button: str, survey: SurveyAttachment | None = None
    ) -> SendResult: ...


# -- delivery -----------------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """At most `limit` events in any `window` seconds (Telegram counts sends in sliding windows).

    An event counts from when `acquire` grants it. With `until_done=True` it counts until `done(slot)`
    and then from that moment: Telegram saw the send somewhere between the grant and the answer, so
    counting from the answer keeps the limit however long the send took to get there (a transaction,
    a busy event loop, the network); counting from the grant lets a slow send and a quick later one
    arrive closer together than the window.
    """

    POLL = 0.01  # how often a full window whose oldest send is still out is looked at again

    def __init__(self, limit: int, window: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._slots: deque[_Slot] = deque()
        self._monotonic = monotonic
        self._lock = asyncio.Lock()

    async def acquire(self, *, until_done: bool = False) -> _Slot:
        async with self._lock:
            while True:
                now = self._monotonic()
                while self._slots and not self._slots[0].out and now - self._slots[0].at >= self._window:
                    self._slots.popleft()
                if len(self._slots) < self._limit:
                    slot = _Slot(now, out=until_done)
                    self._slots.append(slot)
                    return slot
                await asyncio.sleep(max(self._window - (now - self._slots[0].at), self.POLL))

    def done(self, slot: _Slot) -> None:
        """The send of an `until_done` slot has been answered (or failed): it counts from now."""
        slot.at = max(slot.at, self._monotonic())
        slot.out = False


@dataclass
class _Slot:
    at: float
    out: bool  # granted with until_done and not done yet: cannot leave the window


class PerChatSpacing:
    """At most one message per chat every `interval` seconds."""

    def __init__(self, interval: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._next: dict[int, float] = {}
        self._monotonic = monotonic

    async def wait(self, chat_id: int) -> None:
        now = self._monotonic()
        ready = self._next.get(chat_id, 0.0)
        self._next[chat_id] = max(now, ready) + self._interval
        if len(self._next) > 50_000:  # forget chats whose interval has long passed
            self._next = {c: t for c, t in self._next.items() if t > now}
        if ready > now:
            await asyncio.sleep(ready - now)


@dataclass
class DeliveryReport:
    attempted: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] += 1


class NudgeDelivery:
    """Sends due outbox rows at Telegram's pace; each row at most once."""

    # Seconds of safety added to Telegram's windows: our clock and Telegram's see a send at different times.
    WINDOW_MARGIN = 0.05
    # The global window counts each send from its answer (see SlidingWindowLimiter), which Telegram's
    # moment of counting always precedes: only timer granularity is left to cover.
    GLOBAL_MARGIN = 0.005

    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        texts: Texts,
        templates: NudgeTemplates,
        loyalty: LoyaltyService,
        sender: MessageSender,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._texts = texts
        self._templates = templates
        self._loyalty = loyalty
        self._sender = sender
        self._caps = Caps(config.marketing.max_per_7_days, config.marketing.max_per_30_days)
        self._quiet = QuietHours.parse(config.nudges.quiet_start, config.nudges.quiet_end)
        delivery = config.delivery
        self._global = SlidingWindowLimiter(delivery.messages_per_second, 1.0 + self.GLOBAL_MARGIN)
        self._per_chat = PerChatSpacing(delivery.per_chat_interval_seconds + self.WINDOW_MARGIN)
        self._flood_until = 0.0
        self._rules = {r.name: r for r in config.nudges.rules}

    async def recover(self) -> int:
        """At start: rows left in 'sending' by a crash become 'unknown' and are never sent again."""
        count = await outbox_store.recover_interrupted(self._db, self._clock.now())
        if count:
            log.warning("%d messages were interrupted while sending; marked unknown, not resent", count)
        return count

    async def deliver_due(
        self, *, stop: asyncio.Event | None = None, batch: int = 500, linger: float = 0.0
    ) -> DeliveryReport:
        """Send everything due now; returns when nothing due is left (or `stop` is set).

        With `linger`, rows coming due within that many seconds (a flood-control wait) are waited for.
        A row is tried at most `MAX_TRIES_PER_CALL` times in one call.
        """
        report = DeliveryReport()
        tries: Counter[int] = Counter()
        while stop is None or not stop.is_set():
            if await self.paused():
                break
            now = self._clock.now()
            rows = [
                r for r in await outbox_store.due(self._db, now, batch) if tries[r.id] < MAX_TRIES_PER_CALL
            ]
            if not rows:
                upcoming = await outbox_store.next_due_at(self._db)
                wait = (upcoming - now).total_seconds() if upcoming is not None else None
                if wait is None or wait > linger or (stop is not None and stop.is_set()):
                    break
                await asyncio.sleep(max(wait, 0.05))
                continue
            tries.update(r.id for r in rows)
            gate = asyncio.Semaphore(self._config.delivery.senders)
            await asyncio.gather(*(self._deliver_gated(row, gate, stop, report) for row in rows))
        return report

    async def _deliver_gated(
        self, row: OutboxRow, gate: asyncio.Semaphore, stop: asyncio.Event | None, report: DeliveryReport
    ) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            report.attempted += 1
            report.add(await self.deliver(row))

    async def deliver(self, row: OutboxRow) -> str:
        """One row: wait for its turn, check again, render, mark sending, send, settle."""
        if await self.paused():
            return "paused"  # not even waiting for a turn: the rest of a paused batch drains at once
        # The turn comes first, so that consent, pause and caps are read right before the send.
        slot = await self._pace(row.user_id)
        try:
            return await self._deliver_in_turn(row)
        finally:
            # Counted against Telegram's limit from the send's answer on (see SlidingWindowLimiter).
            self._global.done(slot)

    async def _deliver_in_turn(self, row: OutboxRow) -> str:
        if await self.paused():
            return "paused"  # the row stays planned and goes when the shop resumes
        now = self._clock.now()
        # What the message says about the customer, read before the write turn (which the other senders
        # wait for); the checks that decide whether it goes are made in the turn, right before the send.
        before = await customers.get(self._db, row.user_id)
        prepared: tuple[str, dict[str, Any]] | None = None
        if before is not None:
            language = self._texts.resolve_language(before.language, before.telegram_language)
            prepared = (language, await self._context(row, before, language, None))
        try:
            # Shared: the senders claiming their messages at the same moment share one disk sync; the
            # mark is on disk before the send.
            async with self._db.shared_transaction() as tx:
                customer = await customers.get(tx, row.user_id)
                verdict = await self._send_time_check(tx, row, customer, now)
                if verdict is not None:
                    return await self._skip_or_wait(tx, row, verdict, now)
                assert customer is not None
                language = self._texts.resolve_language(customer.language, customer.telegram_language)
                rule = self._rules.get(row.rule)
                step = rule.steps[row.step] if rule is not None and row.step < len(rule.steps) else None
                coupon = None
                if rule is not None and rule.coupon is not None and step is not None and step.coupon:
                    coupon = await self._issue_coupon(tx, row, rule, now)
                code = coupon[0] if coupon else None
                if prepared is not None and prepared[0] == language:
                    context = {**prepared[1], "coupon": self._coupon_context(row, coupon)}
                else:  # the customer changed their language meanwhile
                    context = await self._context(row, customer, language, coupon)
                if row.campaign_id is not None and row.template == campaigns.OWN_TEXT:
                    own = await campaigns.text_of(tx, row.campaign_id) or ""
                    html, used = self._templates.render_string(own, language, context), language
                else:
                    html, used = self._templates.render(row.template, language, context)
                survey = None
                if step is not None and step.survey is not None:
                    survey_id = await surveys.open_survey(tx, row.user_id, step.survey, row.id, now)
                    tr = self._texts.translator(used)
                    labels = (
                        {r: tr(f"survey-reason-{r}") for r in LEAVE_REASONS} if step.survey == "leave" else {}
                    )
                    survey = SurveyAttachment(step.survey, survey_id, labels)
                if not await outbox_store.mark_sending(tx, row.id, now, code, used):
                    return "taken elsewhere"
        except TemplateProblem as exc:
            await outbox_store.settle(
                self._db, row.id, OutboxState.FAILED, f"template: {exc}"[:300], now, from_states=("planned",)
            )
            log.error("nudge %s not sent: %s", row.id, exc)
            return "failed: template"
        fewer = self._texts.translator(used)("nudge-fewer-button")
        result = (
            await self._sender.send(row.user_id, html, fewer, survey)
            if survey
            else await self._sender.send(row.user_id, html, fewer)
        )
        return await self._settle(row, result)

    async def _send_time_check(
        self, tx: Tx, row: OutboxRow, customer: Customer | None, now: datetime
    ) -> tuple[str, datetime | None] | None:
        """Why this row must not go now (and until when it could wait), or None to send it."""
        if customer is None:
            return ("customer forgotten", None)
        if customer.consent is not ConsentState.GRANTED:
            return ("no consent", None)
        if not customer.reachable:
            return ("unreachable", None)
        if customer.paused_until is not None and customer.paused_until > now:
            return ("paused by customer", customer.paused_until)
        # Campaigns too: an owner's broadcast does not get to pester either.
        sent_before = await outbox_store.sent_times(tx, row.user_id, now - CAP_WINDOW)
        own_caps = customer_caps(self._caps, customer.frequency)
        if not own_caps.allows(sent_before, now):
            return ("capped", own_caps.next_allowed(sent_before, now))
        allowed = self._quiet.next_allowed(now, zone_or(customer.timezone, self._config.shop.zone))
        if allowed > now:
            return ("quiet hours", allowed)
        return None

    async def paused(self) -> bool:
        """The shop's kill switch (/pause): nothing is sent while it is on; rows simply wait."""
        return await settings.get(self._db, settings.MARKETING_PAUSED) == "1"

    async def _skip_or_wait(
        self, tx: Tx, row: OutboxRow, verdict: tuple[str, datetime | None], now: datetime
    ) -> str:
        reason, until = verdict
        if until is None or until > row.due_at + MAX_WAIT:
            await outbox_store.settle_in(
                tx, row.id, OutboxState.SKIPPED, reason, now, from_states=("planned",)
            )
            return f"skipped: {reason}"
        await outbox_store.postpone(tx, row.id, until, reason, now)
        return f"waits: {reason}"

    async def _issue_coupon(
        self, tx: Any, row: OutboxRow, rule: RuleConfig, now: datetime
    ) -> tuple[str, datetime]:
        """(code, valid until): the row's coupon from an earlier try, or a new one."""
        assert rule.coupon is not None
        existing = await coupons.for_outbox(tx, row.id)
        if existing is not None:
            return existing.code, existing.valid_until
        while True:
            code = coupon_code()
            valid_until = now + timedelta(days=rule.coupon.valid_days)
            if await coupons.insert(
                tx, code, row.user_id, row.rule, row.id, rule.coupon.kind, rule.coupon.value, now, valid_until
            ):
                return code, valid_until

    async def _context(
        self, row: OutboxRow, customer: Any, language: str, coupon: tuple[str, datetime] | None
    ) -> dict[str, Any]:
        tr = self._texts.translator(language)
        now = self._clock.now()
        view = await self._loyalty.balance_for_user(customer.user_id)
        account = view.account if view else None
        last = await planning.last_purchase_at(self._db, account.id) if account else None
        product = None
        if row.rule.startswith("restock") and account is not None:
            product = await planning.product_name(self._db, account.id, row.period.split("@", 1)[0])
        expiring = None
        if view is not None and view.next_expiry is not None:
            expiring = {"points": view.next_expiry.points, "at": view.next_expiry.at}
        return {
            "customer": {
                "first_name": customer.first_name,
                "tier": tr(f"tier-{view.tier.value}") if view else tr("tier-new"),
                "balance": view.points if view else 0,
                "days_since_last_purchase": int(days_between(last, now)) if last else None,
                "favourite_product": await planning.favourite_product(self._db, account.id)
                if account
                else None,
            },
            "shop": {"name": self._config.shop.name},
            "coupon": self._coupon_context(row, coupon),
            "product": product,
            "expiring": expiring,
        }

    def _coupon_context(self, row: OutboxRow, coupon: tuple[str, datetime] | None) -> dict[str, Any] | None:
        if coupon is None:
            return None
        rule = self._rules[row.rule]
        assert rule.coupon is not None
        # The stored date, which the till checks: a retry must not promise a later one.
        code, valid_until = coupon
        return {
            "code": code,
            "kind": rule.coupon.kind,
            "value": rule.coupon.value,
            "valid_until": valid_until,
        }

    async def _pace(self, chat_id: int) -> _Slot:
        if self._flood_until > time.monotonic():
            await asyncio.sleep(self._flood_until - time.monotonic())
        await self._per_chat.wait(chat_id)
        return await self._global.acquire(until_done=True)

    async def _settle(self, row: OutboxRow, result: SendResult) -> str:
        now = self._clock.now()
        if result.status is SendStatus.RETRY_AFTER:
            # Not delivered: everyone waits as Telegram asked, then the same message goes again.
            self._flood_until = max(self._flood_until, time.monotonic() + result.retry_after)
        # Shared: the senders settling at the same moment share one disk sync.
        async with self._db.shared_transaction() as tx:
            match result.status:
                case SendStatus.SENT:
                    await outbox_store.mark_sent(tx, row.id, now, result.message_id or 0)
                    return "sent"
                case SendStatus.RETRY_AFTER:
                    again = now + timedelta(seconds=result.retry_after)
                    await outbox_store.retry_later(tx, row.id, again, "flood control", now)
                    return "retry: flood control"
                case SendStatus.BLOCKED | SendStatus.CHAT_NOT_FOUND:
                    await customers.mark_unreachable_in(tx, row.user_id, now)
                    await outbox_store.settle_in(
                        tx, row.id, OutboxState.FAILED, result.status.value, now, from_states=("sending",)
                    )
                    return f"failed: {result.status.value}"
                case _:
                    if result.transient and row.attempts + 1 < self._config.delivery.max_attempts:
                        backoff = timedelta(seconds=min(3600, 30 * 2**row.attempts))
                        await outbox_store.retry_later(tx, row.id, now + backoff, result.reason[:300], now)
                        return "retry: error"
                    await outbox_store.settle_in(
                        tx, row.id, OutboxState.FAILED, result.reason[:300], now, from_states=("sending",)
                    )
                    return "failed: error"


class _AlreadyTaken(Exception):
    """Another worker moved the row out of 'planned' first."""


def sample_context() -> dict[str, Any]:
    """What `templates check` renders every template with."""
    from datetime import UTC

    soon = datetime(2026, 12, 31, 12, tzinfo=UTC)
    return {
        "customer": {
            "first_name": "Олена <b>&",
            "tier": "Regular",
            "balance": 125,
            "days_since_last_purchase": 42,
            "favourite_product": "Flat white",
        },
        "shop": {"name": "Кав'ярня «Зерно»"},
        "coupon": {"code": "AB2C-DE3F", "kind": "percent", "value": 15, "valid_until": soon},
        "product": "Arabica 250 g",
        "expiring": {"points": 40, "at": soon},
        "comment": "The queue was too long <script>",
    }
