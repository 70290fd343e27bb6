"""Nudges: planning who is due what (into the outbox), and delivering the outbox without loss,
duplicates or pestering.

Planning and delivery share nothing in memory: all state is in the database, so a restart resumes.
Consent, reachability, the customer's pause and the caps are checked again right before each send.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from jinja2 import TemplateError

from bot import SUPPORTED_LANGUAGES
from bot.clock import Clock
from bot.config import Config, RuleConfig
from bot.models import ConsentState, Customer, LoyaltyAccount, Tier
from bot.rules.codes import coupon_codes
from bot.rules.pacing import Caps, QuietHours, customer_caps, zone_or
from bot.rules.segments import days_between
from bot.services.loyalty import BalanceView, LoyaltyService
from bot.storage import accounts, campaigns, coupons, customers, planning, settings, surveys
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
    # 401/404: Telegram refuses the bot itself (token, Bot API address): delivery stops, messages wait.
    REFUSED = "refused"
    ERROR = "error"  # anything else; `transient` says whether a retry may help


class SendResult(NamedTuple):  # one a message sent: a NamedTuple is made in a fraction of the time
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
        if (slot := self.try_acquire(until_done=until_done)) is not None:
            return slot
        async with self._lock:
            while True:
                if (slot := self._grant(until_done)) is not None:
                    return slot
                now = self._monotonic()
                await asyncio.sleep(max(self._window - (now - self._slots[0].at), self.POLL))

    def try_acquire(self, *, until_done: bool = False) -> _Slot | None:
        """`acquire` if there is room now and nobody is waiting for it (else None)."""
        return None if self._lock.locked() else self._grant(until_done)

    def _grant(self, until_done: bool) -> _Slot | None:
        now = self._monotonic()
        while self._slots and not self._slots[0].out and now - self._slots[0].at >= self._window:
            self._slots.popleft()
        if len(self._slots) >= self._limit:
            return None
        slot = _Slot(now, out=until_done)
        self._slots.append(slot)
        return slot

    def release(self, slot: _Slot) -> None:
        """The event of this slot did not happen after all (nothing was sent): it frees its place."""
        for index, held in enumerate(self._slots):
            if held is slot:
                del self._slots[index]
                return

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
        if (delay := self.reserve(chat_id)) > 0:
            await asyncio.sleep(delay)

    def due_in(self, chat_id: int) -> float:
        """Seconds until the chat's next turn (≤ 0: now)."""
        return self._next.get(chat_id, 0.0) - self._monotonic()

    def reserve(self, chat_id: int) -> float:
        """Take the chat's next turn: how many seconds from now it comes."""
        now = self._monotonic()
        ready = self._next.get(chat_id, 0.0)
        self._next[chat_id] = max(now, ready) + self._interval
        if len(self._next) > 50_000:  # forget chats whose interval has long passed
            self._next = {c: t for c, t in self._next.items() if t > now}
        return ready - now


@dataclass
class DeliveryReport:
    attempted: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] += 1


class NudgeDelivery:
    """Sends due outbox rows at Telegram's pace; each row at most once.

    Rows are claimed a small group at a time: one transaction checks consent, reachability, the
    customer's pause and the caps for the whole group and marks its rows 'sending' (on disk before any of
    them is sent); then each message takes its turn in Telegram's limits and goes. The next group is
    claimed only once this one's turns are taken, so a check is at most a group's sending time (a tenth
    of a second) old when its message goes. What each message says is read for the group at once, and the
    answers are settled a group at a time too: a campaign costs a handful of statements per group, not a
    dozen per message.
    """

    # Seconds of safety added to Telegram's windows: our clock and Telegram's see a send at different times.
    WINDOW_MARGIN = 0.05
    # The global window counts each send from its answer (see SlidingWindowLimiter), which Telegram's
    # moment of counting always precedes: only timer granularity is left to cover.
    GLOBAL_MARGIN = 0.005
    # At most this many rows are claimed together; fewer at a slower pace (a tenth of a second of
    # sending), so that what the claim checked is still true when each message goes, and a crash leaves
    # few messages claimed but not sent (they become 'unknown': see `at_risk_on_crash`).
    MAX_CLAIM = 1024
    # The first group of a delivery is this small, and each next one twice the last, up to the claim
    # size: the first sends go at once instead of after a full group's claim.
    FIRST_CLAIM = 32
    # Seconds of rendering between two looks at the event loop. Each look costs the claim a turn of a
    # loop busy with sends (a few milliseconds), so not after every few messages.
    RENDER_SLICE = 0.002
    # The kill switch is read again after this many seconds: /pause stops the sends within that.
    PAUSE_RECHECK = 0.2
    SETTLE_WRITE = 0.05  # seconds a group of answers takes to reach the disk, generously

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
        self._claim_size = self.claim_size(delivery.messages_per_second)
        self._flood_until = 0.0
        self._rules = {r.name: r for r in config.nudges.rules}
        self._fewer = {lang: texts.translator(lang)("nudge-fewer-button") for lang in SUPPORTED_LANGUAGES}
        self._tier_names = {
            (lang, tier): texts.translator(lang)(f"tier-{tier}")
            for lang in SUPPORTED_LANGUAGES
            for tier in (t.value for t in Tier)
        }
        self._paused = False
        self._paused_read_until = 0.0  # monotonic moment until which `_paused` is trusted
        # Why Telegram refused the bot in this call (401/404), if it did: nothing more is sent until the
        # next call, when the token or address may have been fixed.
        self._refused: str | None = None
        self._pause_read = asyncio.Lock()

    @classmethod
    def claim_size(cls, messages_per_second: int) -> int:
        return max(1, min(cls.MAX_CLAIM, messages_per_second // 10))

    @classmethod
    def at_risk_on_crash(cls, messages_per_second: int, senders: int) -> int:
        """The most messages a crash can leave in 'sending' (recorded unknown, never resent): a group
        being handed over and two waiting for a sender, those in flight, and the answers not yet written."""
        claim = cls.claim_size(messages_per_second)
        answered = math.ceil(messages_per_second * (_Settlements.GATHER + cls.SETTLE_WRITE))
        return 3 * claim + senders + answered

    async def recover(self) -> int:
        """At start: rows left in 'sending' by a crash become 'unknown' and are never sent again."""
        count = await outbox_store.recover_interrupted(self._db, self._clock.now())
        if count:
            log.warning("%d messages were interrupted while sending; marked unknown, not resent", count)
        return count

    async def deliver_due(
        self, *, stop: asyncio.Event | None = None, batch: int = 2000, linger: float = 0.0
    ) -> DeliveryReport:
        """Send everything due now; returns when nothing due is left (or `stop` is set).

        With `linger`, rows coming due within that many seconds (a flood-control wait) are waited for.
        A row is tried at most `MAX_TRIES_PER_CALL` times in one call.
        """
        report = DeliveryReport()
        self._paused_read_until = 0.0  # each call starts from the switch as it is now
        self._refused = None
        await self._deliver(lambda settled: self._due_batches(settled, stop, batch, linger), stop, report)
        return report

    async def deliver(self, row: OutboxRow) -> str:
        """One row, as `deliver_due` sends it: what became of it."""
        self._paused_read_until = 0.0
        self._refused = None
        report = DeliveryReport()
        if not await self._paused_lately():
            await self._deliver(lambda settled: _one_batch([row]), None, report)
        return next(iter(report.outcomes), "paused")  # a paused row stays planned, for after /resume

    async def paused(self) -> bool:
        """The shop's kill switch (/pause): nothing is sent while it is on; rows simply wait."""
        return await settings.get(self._db, settings.MARKETING_PAUSED) == "1"

    async def _paused_lately(self, *, wait: bool = True) -> bool:
        """The kill switch as read at most `PAUSE_RECHECK` seconds ago (one read for all the senders).

        With `wait=False`, while someone is reading it again, the value read last: a sender does not
        stop for a read queued behind the claim's (all of them used to, several times a second).
        """
        if self._refused is not None:
            return True  # as if paused: claimed messages go back to planned, nothing more is claimed
        if time.monotonic() < self._paused_read_until:
            return self._paused
        if not wait and self._pause_read.locked():
            return self._paused
        async with self._pause_read:
            if time.monotonic() >= self._paused_read_until:
                self._paused = await self.paused()
                self._paused_read_until = time.monotonic() + self.PAUSE_RECHECK
        return self._paused

    async def _due_batches(
        self, settled: Callable[[], Awaitable[None]], stop: asyncio.Event | None, batch: int, linger: float
    ) -> AsyncIterator[list[OutboxRow]]:
        """The rows due, a batch at a time, read as the previous batch has been claimed (its rows are no
        longer 'planned'), so the sends never wait for a batch to be answered in full."""
        tries: Counter[int] = Counter()
        while stop is None or not stop.is_set():
            if await self._paused_lately():
                return
            rows = await self._due_now(tries, batch)
            if not rows:
                # What is still being sent may come due again (flood control): let it be answered first.
                await settled()
                rows = await self._due_now(tries, batch)
            if not rows:
                now = self._clock.now()
                upcoming = await outbox_store.next_due_at(self._db)
                wait = (upcoming - now).total_seconds() if upcoming is not None else None
                if wait is None or wait > linger or (stop is not None and stop.is_set()):
                    return
                await asyncio.sleep(max(wait, 0.05))
                continue
            tries.update(r.id for r in rows)
            yield rows

    async def _due_now(self, tries: Counter[int], batch: int) -> list[OutboxRow]:
        rows = await outbox_store.due(self._db, self._clock.now(), batch)
        return [r for r in rows if tries[r.id] < MAX_TRIES_PER_CALL]

    async def _deliver(
        self,
        batches: Callable[[Callable[[], Awaitable[None]]], AsyncIterator[list[OutboxRow]]],
        stop: asyncio.Event | None,
        report: DeliveryReport,
    ) -> None:
        """Claim the rows a group at a time; `senders` tasks send what is claimed, each in its turn.

        `batches` is given a function that waits until everything handed to the senders so far has
        been answered and the answers written.
        """
        # Two groups deep: the senders go on while the next group is claimed, which takes longer than
        # its sends when the event loop is busy with them.
        ready: asyncio.Queue[_Ready | None] = asyncio.Queue(maxsize=2 * self._claim_size)
        senders = self._config.delivery.senders
        settlements = _Settlements(self._write_settlements)

        async def settled() -> None:
            await ready.join()
            await settlements.flush()

        tasks = [asyncio.create_task(self._claim_in_turn(batches(settled), ready, senders, stop, report))]
        tasks += [
            asyncio.create_task(self._send_ready(ready, settlements, stop, report)) for _ in range(senders)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # one failed (or this call was cancelled): the others stop too
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await settlements.close()

    async def _claim_in_turn(
        self,
        batches: AsyncIterator[list[OutboxRow]],
        ready: asyncio.Queue[_Ready | None],
        senders: int,
        stop: asyncio.Event | None,
        report: DeliveryReport,
    ) -> None:
        size = min(self.FIRST_CLAIM, self._claim_size)
        async for rows in batches:
            first = 0
            while first < len(rows):
                if (stop is not None and stop.is_set()) or await self._paused_lately():
                    break
                group, first = rows[first : first + size], first + size
                size = min(2 * size, self._claim_size)
                for message in await self._claim(group, report):
                    # A turn is taken after the claim: it counts from the send's answer on, and a claim's
                    # transaction would otherwise lengthen every turn of the group (29.3 messages/s, not 30).
                    stopping = (stop is not None and stop.is_set()) or self._paused
                    slot = None if stopping else self._turn_now(message.row.user_id)
                    if slot is None and not stopping:
                        slot = await self._pace(message.row.user_id)
                    await ready.put(_Ready(message, slot))
        for _ in range(senders):
            await ready.put(None)

    async def _claim(self, rows: list[OutboxRow], report: DeliveryReport) -> list[_Message]:
        """Check, render and mark 'sending' a group of rows in one transaction: the messages to send now.

        A row that must not go now is skipped or postponed in the same transaction; a row whose template
        cannot be rendered fails, naming the file and line.
        """
        now = self._clock.now()
        users = [r.user_id for r in rows]
        # What the messages say about each customer, read before the write transaction (other writers
        # wait for it); what decides whether a message goes is read in it, right before the sends.
        about = await self._about(rows)
        ready: list[_Message] = []
        async with self._db.transaction() as tx:
            fresh = await customers.get_many(tx, users)
            sent_before = await outbox_store.sent_times_of(tx, users, now - CAP_WINDOW)
            still_planned = await outbox_store.planned_among(tx, [r.id for r in rows])
            going: list[tuple[OutboxRow, Customer]] = []
            settled: list[tuple[int, OutboxState, str]] = []
            shop_zone = self._config.shop.zone

            @functools.cache  # customers of one time zone share the answer: `now` is the group's
            def quiet_until(timezone: str | None) -> datetime:
                return self._quiet.next_allowed(now, zone_or(timezone, shop_zone))

            waits: list[tuple[int, datetime, str]] = []

            def not_now(outcome: str) -> None:
                report.attempted += 1
                report.add(outcome)

            for row in rows:
                customer = fresh.get(row.user_id)
                if row.id not in still_planned:
                    not_now("taken elsewhere")
                    continue
                times = sent_before.setdefault(row.user_id, [])
                verdict = self._send_time_check(row, customer, times, now, quiet_until)
                if verdict is None and customer is not None:
                    going.append((row, customer))
                    times.append(now)  # a second message to the customer in this group sees the first
                    continue
                reason, until = verdict or ("customer forgotten", None)
                if until is None or until > row.due_at + MAX_WAIT:
                    settled.append((row.id, OutboxState.SKIPPED, reason))
                    not_now(f"skipped: {reason}")
                else:
                    waits.append((row.id, until, reason))
                    not_now(f"waits: {reason}")

            issued = await self._coupons(tx, [row for row, _ in going], now)
            claims: list[outbox_store.Claim] = []
            new_coupons: list[coupons.NewCoupon] = []
            looked = time.monotonic()
            for row, customer in going:
                if time.monotonic() - looked > self.RENDER_SLICE:
                    await asyncio.sleep(0)  # the sends of earlier groups go on while a large one renders
                    looked = time.monotonic()
                language = self._texts.resolve_language(customer.language, customer.telegram_language)
                coupon = issued.get(row.id)
                context = self._context(row, customer, language, about, coupon, now)
                try:
                    if row.campaign_id is not None and row.template == campaigns.OWN_TEXT:
                        own = about.own_texts.get(row.campaign_id, "")
                        html, used = self._templates.render_string(own, language, context), language
                    else:
                        html, used = self._templates.render(row.template, language, context)
                except TemplateProblem as exc:
                    log.error("nudge %s not sent: %s", row.id, exc)
                    settled.append((row.id, OutboxState.FAILED, f"template: {exc}"[:300]))
                    not_now("failed: template")
                    continue
                if coupon is not None and coupon.new is not None:
                    new_coupons.append(coupon.new)
                survey = await self._survey(tx, row, used, now)
                claims.append(outbox_store.Claim(row.id, coupon.code if coupon else None, used))
                ready.append(_Message(row, html, used, survey))
            await coupons.insert_many(tx, new_coupons)
            await outbox_store.mark_sending_many(tx, claims, now)
            await outbox_store.settle_many(tx, settled, now, from_states=("planned",))
            await outbox_store.postpone_many(tx, waits, now)
        return ready

    def _send_time_check(
        self,
        row: OutboxRow,
        customer: Customer | None,
        sent_before: list[datetime],
        now: datetime,
        quiet_until: Callable[[str | None], datetime],
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
        own_caps = customer_caps(self._caps, customer.frequency)
        if not own_caps.allows(sent_before, now):
            return ("capped", own_caps.next_allowed(sent_before, now))
        allowed = quiet_until(customer.timezone)
        if allowed > now:
            return ("quiet hours", allowed)
        return None

    async def _coupons(self, tx: Tx, rows: list[OutboxRow], now: datetime) -> dict[int, _Coupon]:
        """The coupon of each row whose step carries one: from an earlier try of the row, or a new code."""
        with_coupon = [row for row in rows if self._coupon_rule(row) is not None]
        if not with_coupon:
            return {}
        earlier = await coupons.for_outboxes(tx, [row.id for row in with_coupon])
        found = {outbox_id: _Coupon(c.code, c.valid_until, None) for outbox_id, c in earlier.items()}
        fresh = [row for row in with_coupon if row.id not in found]
        codes: dict[int, str] = {}
        while pending := [row for row in fresh if row.id not in codes]:
            drawn = dict(zip((row.id for row in pending), coupon_codes(len(pending)), strict=True))
            # Codes are random: one drawn twice, or already some coupon's, is drawn again.
            taken = await coupons.codes_taken(tx, drawn.values())
            taken.update(codes.values())
            for outbox_id, code in drawn.items():
                if code not in taken:
                    codes[outbox_id] = code
                    taken.add(code)
        for row in fresh:
            rule = self._coupon_rule(row)
            assert rule is not None and rule.coupon is not None
            valid_until = now + timedelta(days=rule.coupon.valid_days)
            new = coupons.NewCoupon(
                codes[row.id],
                row.user_id,
                row.rule,
                row.id,
                rule.coupon.kind,
                rule.coupon.value,
                now,
                valid_until,
            )
            found[row.id] = _Coupon(new.code, valid_until, new)
        return found

    def _coupon_rule(self, row: OutboxRow) -> RuleConfig | None:
        """The row's rule if this step of it carries a coupon."""
        rule = self._rules.get(row.rule)
        if (
            rule is None
            or rule.coupon is None
            or row.step >= len(rule.steps)
            or not rule.steps[row.step].coupon
        ):
            return None
        return rule

    async def _survey(self, tx: Tx, row: OutboxRow, language: str, now: datetime) -> SurveyAttachment | None:
        """The answer buttons of a step that asks (the same survey again when the row is retried)."""
        rule = self._rules.get(row.rule)
        step = rule.steps[row.step] if rule is not None and row.step < len(rule.steps) else None
        if step is None or step.survey is None:
            return None
        survey_id = await surveys.open_survey(tx, row.user_id, step.survey, row.id, now)
        tr = self._texts.translator(language)
        labels = {r: tr(f"survey-reason-{r}") for r in LEAVE_REASONS} if step.survey == "leave" else {}
        return SurveyAttachment(step.survey, survey_id, labels)

    async def _about(self, rows: list[OutboxRow]) -> _About:
        """What the group's messages say about their customers, in a few queries: only what their
        templates use (a win-back that does not name the balance does not have the ledger read)."""
        own_texts = {
            campaign_id: await campaigns.text_of(self._db, campaign_id) or ""
            for campaign_id in {r.campaign_id for r in rows if r.template == campaigns.OWN_TEXT}
            if campaign_id is not None
        }
        fields: set[str] = set()
        try:
            for template in {r.template for r in rows if r.template != campaigns.OWN_TEXT}:
                fields |= self._templates.fields_used(template)
            for text in own_texts.values():
                fields |= self._templates.fields_used_by_string(text)
        except TemplateError:
            fields = {"*"}  # read everything; rendering the broken template then says what is wrong

        def wanted(*names: str) -> bool:
            """Whether a template reads one of these fields (`name.` for any field of a name)."""
            return "*" in fields or any(f == n or f.startswith(n) for f in fields for n in names)

        tier_or_balance = wanted("customer.*", "customer.tier", "customer.balance", "expiring.")
        last = wanted("customer.*", "customer.days_since_last_purchase")
        favourite = wanted("customer.*", "customer.favourite_product")
        product = wanted("product.")
        about = _About(own_texts=own_texts)
        if not (tier_or_balance or last or favourite or product):
            return about
        about.accounts.update(await accounts.by_users(self._db, {r.user_id for r in rows}))
        account_ids = [a.id for a in about.accounts.values()]
        if tier_or_balance:
            about.views.update(await self._loyalty.balances_of(about.accounts))
        if last:
            about.last_purchase.update(await planning.last_purchases_at(self._db, account_ids))
        if favourite:
            about.favourite.update(await planning.favourite_products(self._db, account_ids))
        for row in rows if product else ():  # restock messages name the product that is running out
            account = about.accounts.get(row.user_id)
            if row.rule.startswith("restock") and account is not None:
                sku = row.period.split("@", 1)[0]
                about.products[row.id] = await planning.product_name(self._db, account.id, sku)
        return about

    def _context(
        self,
        row: OutboxRow,
        customer: Customer,
        language: str,
        about: _About,
        coupon: _Coupon | None,
        now: datetime,
    ) -> dict[str, Any]:
        view = about.views.get(customer.user_id)
        account = about.accounts.get(customer.user_id)
        last = about.last_purchase.get(account.id) if account is not None else None
        expiring = None
        if view is not None and view.next_expiry is not None:
            expiring = {"points": view.next_expiry.points, "at": view.next_expiry.at}
        return {
            "customer": {
                "first_name": customer.first_name,
                "tier": self._tier_names[language, view.tier.value if view else "new"],
                "balance": view.points if view else 0,
                "days_since_last_purchase": int(days_between(last, now)) if last else None,
                "favourite_product": about.favourite.get(account.id) if account is not None else None,
            },
            "shop": {"name": self._config.shop.name},
            "coupon": self._coupon_context(row, coupon),
            "product": about.products.get(row.id),
            "expiring": expiring,
        }

    def _coupon_context(self, row: OutboxRow, coupon: _Coupon | None) -> dict[str, Any] | None:
        if coupon is None:
            return None
        rule = self._rules[row.rule]
        assert rule.coupon is not None
        # The stored date, which the till checks: a retry must not promise a later one.
        return {
            "code": coupon.code,
            "kind": rule.coupon.kind,
            "value": rule.coupon.value,
            "valid_until": coupon.valid_until,
        }

    def _turn_now(self, chat_id: int) -> _Slot | None:
        """The message's turn if it is now (most of a fast campaign's); None: `_pace` waits for it."""
        if self._flood_until > time.monotonic() or self._per_chat.due_in(chat_id) > 0:
            return None
        slot = self._global.try_acquire(until_done=True)
        if slot is not None:
            self._per_chat.reserve(chat_id)
        return slot

    async def _pace(self, chat_id: int) -> _Slot:
        if self._flood_until > time.monotonic():
            await asyncio.sleep(self._flood_until - time.monotonic())
        await self._per_chat.wait(chat_id)
        return await self._global.acquire(until_done=True)

    async def _send_ready(
        self,
        ready: asyncio.Queue[_Ready | None],
        settlements: _Settlements,
        stop: asyncio.Event | None,
        report: DeliveryReport,
    ) -> None:
        """Send claimed messages until told there are no more."""
        while (item := await ready.get()) is not None:
            await self._send_one(item, settlements, stop, report)
            ready.task_done()

    async def _send_one(
        self, item: _Ready, settlements: _Settlements, stop: asyncio.Event | None, report: DeliveryReport
    ) -> None:
        message, slot = item.message, item.slot
        if slot is None or (stop is not None and stop.is_set()) or await self._paused_lately(wait=False):
            # Claimed but not sent: back to planned, to go when the shop resumes (or after a restart).
            if slot is not None:
                self._global.release(slot)
            settlements.add(_Answer(message.row, None, self._clock.now()))
            return
        try:
            result = await self._sender.send(
                message.row.user_id, message.html, self._fewer[message.language], message.survey
            )
        finally:
            # Counted against Telegram's limit from the send's answer on (see SlidingWindowLimiter).
            self._global.done(slot)
        if result.status is SendStatus.REFUSED:
            # Every message would be refused the same way: this one goes back to planned with the rest,
            # and the next run tries again.
            if self._refused is None:
                log.error(
                    "Telegram refused the bot (%s): check [telegram] token and api_base; "
                    "nothing is sent until it is fixed, messages wait",
                    result.reason,
                )
            self._refused = result.reason
            report.add(f"stopped: Telegram refused the bot ({result.reason})")
            settlements.add(_Answer(message.row, None, self._clock.now()))
            return
        if result.status is SendStatus.RETRY_AFTER:
            # Not delivered: everyone waits as Telegram asked, then the same message goes again.
            self._flood_until = max(self._flood_until, time.monotonic() + result.retry_after)
        report.attempted += 1
        report.add(self._outcome(message.row, result))
        settlements.add(_Answer(message.row, result, self._clock.now()))

    def _outcome(self, row: OutboxRow, result: SendResult) -> str:
        match result.status:
            case SendStatus.SENT:
                return "sent"
            case SendStatus.RETRY_AFTER:
                return "retry: flood control"
            case SendStatus.BLOCKED | SendStatus.CHAT_NOT_FOUND:
                return f"failed: {result.status.value}"
            case _:
                return "retry: error" if self._retries(row, result) else "failed: error"

    def _retries(self, row: OutboxRow, result: SendResult) -> bool:
        return result.transient and row.attempts + 1 < self._config.delivery.max_attempts

    async def _write_settlements(self, answers: list[_Answer]) -> None:
        """What Telegram answered, for a group of sends in one transaction."""
        async with self._db.transaction() as tx:
            sent = [
                (a.row.id, a.result.message_id or 0, a.at)
                for a in answers
                if a.result and a.result.status is SendStatus.SENT
            ]
            await outbox_store.mark_sent_many(tx, sent)
            for answer in answers:
                row, result, now = answer.row, answer.result, answer.at
                if result is None:
                    await outbox_store.put_back(tx, row.id, now)
                    continue
                match result.status:
                    case SendStatus.SENT:
                        pass
                    case SendStatus.RETRY_AFTER:
                        again = now + timedelta(seconds=result.retry_after)
                        await outbox_store.retry_later(tx, row.id, again, "flood control", now)
                    case SendStatus.BLOCKED | SendStatus.CHAT_NOT_FOUND:
                        await customers.mark_unreachable_in(tx, row.user_id, now)
                        await outbox_store.settle_in(
                            tx, row.id, OutboxState.FAILED, result.status.value, now, from_states=("sending",)
                        )
                    case _ if self._retries(row, result):
                        backoff = timedelta(seconds=min(3600, 30 * 2**row.attempts))
                        await outbox_store.retry_later(tx, row.id, now + backoff, result.reason[:300], now)
                    case _:
                        await outbox_store.settle_in(
                            tx, row.id, OutboxState.FAILED, result.reason[:300], now, from_states=("sending",)
                        )


class _Coupon(NamedTuple):  # NamedTuples: a few are made for every message sent
    code: str
    valid_until: datetime
    new: coupons.NewCoupon | None  # to be written with the claim; None: issued at an earlier try


@dataclass
class _About:
    """What a group's messages say about their customers (see `NudgeDelivery._about`)."""

    own_texts: dict[int, str]  # a campaign's own text, by campaign id
    accounts: dict[int, LoyaltyAccount] = field(default_factory=dict)  # by user id
    views: dict[int, BalanceView] = field(default_factory=dict)  # by user id
    last_purchase: dict[int, datetime] = field(default_factory=dict)  # by account id
    favourite: dict[int, str] = field(default_factory=dict)  # by account id
    products: dict[int, str | None] = field(default_factory=dict)  # by outbox id, of restock messages


class _Message(NamedTuple):
    """A claimed message: marked 'sending' on disk, rendered."""

    row: OutboxRow
    html: str
    language: str
    survey: SurveyAttachment | None


class _Ready(NamedTuple):
    """A claimed message with its turn in Telegram's limits (None: delivery is stopping, it goes back)."""

    message: _Message
    slot: _Slot | None


class _Answer(NamedTuple):
    """Telegram's answer to a claimed message (None: not sent after all, it goes back to planned)."""

    row: OutboxRow
    result: SendResult | None
    at: datetime


class _Settlements:
    """Answers written a group at a time, in the order they came, while the sends go on.

    A send's answer reaches the disk a few milliseconds later than if each were written alone; a crash in
    between leaves the row in 'sending', which the restart marks unknown and never resends.
    """

    GATHER = 0.02  # seconds

    def __init__(self, write: Callable[[list[_Answer]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[_Answer] = []
        self._wake = asyncio.Event()
        self._written = asyncio.Event()  # set while every answer added so far is on disk
        self._written.set()
        self._closing = False
        self._task = asyncio.create_task(self._run())

    def add(self, answer: _Answer) -> None:
        self._pending.append(answer)
        self._written.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Until every answer added so far is written; raises what a write raised."""
        written = asyncio.ensure_future(self._written.wait())
        try:
            await asyncio.wait({written, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            written.cancel()
        if self._task.done():
            self._task.result()

    async def close(self) -> None:
        """Write what is left; raises what a write raised."""
        self._closing = True
        self._wake.set()
        await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing:
                await asyncio.sleep(self.GATHER)  # the answers of the next moment join this write
            self._wake.clear()
            answers, self._pending = self._pending, []
            if answers:
                await self._write(answers)
            if not self._pending:
                self._written.set()
            if self._closing and not self._pending:
                return


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


async def _one_batch(rows: list[OutboxRow]) -> AsyncIterator[list[OutboxRow]]:
    yield rows
