"""Planning nudges: who is due what, written to the outbox for delivery to send.

Only customers inside a rule's due window are read and decided for (see `bot.rules.nudges.due_windows`);
all state is in the database, so a restart resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.clock import Clock
from bot.config import Config, RuleConfig
from bot.rules.nudges import (
    HISTORY_WINDOW,
    Decision,
    Fact,
    Outcome,
    PastMessage,
    due_windows,
    plan_customer,
)
from bot.rules.pacing import Caps
from bot.rules.segments import late_since_from
from bot.services.loyalty import LoyaltyService
from bot.services.summaries import refresh_purchase_summaries
from bot.storage import outbox as outbox_store
from bot.storage import planning
from bot.storage.db import Database
from bot.storage.outbox import OutboxBatch, OutboxState


@dataclass
class PlanReport:
    customers: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (rule, outcome, reason)
    written: int = 0
    decisions: list[Decision] = field(default_factory=list)  # kept in dry runs, up to `keep`


class NudgePlanner:
    def __init__(self, db: Database, clock: Clock, config: Config, loyalty: LoyaltyService) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._loyalty = loyalty
        self._caps = Caps(config.marketing.max_per_7_days, config.marketing.max_per_30_days)

    async def plan(
        self,
        now: datetime | None = None,
        *,
        dry_run: bool = False,
        every_customer: bool = False,
        slice_size: int = 20_000,
        keep: int = 1000,
    ) -> PlanReport:
        """Decide for every customer something can be due for; unless `dry_run`, write planned and
        held-out rows to the outbox.

        Only customers inside a rule's due window (`due_windows`) are read and decided for: at a million
        customers, deciding for each would take minutes. `every_customer` decides for all of them,
        eligible or not (a dry run's "why not" for everyone; the windows must agree with it).
        """
        now = now or self._clock.now()
        rules = [r for r in self._config.nudges.rules if r.enabled]
        report = PlanReport()
        if not rules or not self._config.nudges.enabled:
            return report
        # Summaries of purchases recorded since the last run (a purchase marks its record stale).
        await refresh_purchase_summaries(self._db)
        windows = None if every_customer else due_windows(self._config.nudges, now)
        expiring_days = max((r.days for r in rules if r.trigger == "points_expiring"), default=None)
        # Rules a customer can be due for, from the windows they are in: the others cannot fire.
        rules_of_mask: dict[int, list[RuleConfig]] = {}

        def rules_in(mask: int) -> list[RuleConfig]:
            if windows is None:
                return rules
            if mask not in rules_of_mask:
                inside = {w.rule for i, w in enumerate(windows) if mask >> i & 1}
                rules_of_mask[mask] = [r for r in rules if r.name in inside]
            return rules_of_mask[mask]

        def bits(fact: Fact) -> int:
            """The mask bits of the windows on `fact`: only customers in them need it worked out."""
            return -1 if windows is None else sum(1 << i for i, w in enumerate(windows) if w.fact is fact)

        expiring_bits, late_bits = bits(Fact.POINTS_EXPIRING), bits(Fact.LATE_SINCE)
        shop_zone = self._config.shop.zone

        # With windows, for each the customers its index finds (ids only, all at once), and all of them
        # in id order: a slice at a time, which of them are inside which windows, then their records.
        candidates = None if windows is None else await planning.due_candidates(self._db, windows)
        everyone = None if candidates is None else array("q", sorted(set().union(*candidates)))

        # Small slices first and last: nothing is decided while the first is read, nor written while
        # the last is decided (a full slice is about half a second each).
        sizes = iter(slice_sizes(slice_size, None if everyone is None else len(everyone)))

        async def read_slice(after: int) -> _Slice | None:
            """The slice after `after`: a user id, or with windows a place in `everyone`."""
            size = next(sizes, slice_size)
            if windows is None or candidates is None or everyone is None:  # every customer
                rows = await planning.customers_slice(
                    self._db, after, size, shop_zone, only_eligible=not dry_run
                )
                if not rows:
                    return None
                upto = rows[-1].user_id
            else:
                if after >= len(everyone):
                    return None
                upto = min(after + size, len(everyone))
                first, last = everyone[after], everyone[upto - 1]
                ids, masks = await planning.due_masks(
                    self._db,
                    windows,
                    [found[bisect_left(found, first) : bisect_right(found, last)] for found in candidates],
                    only_eligible=not dry_run,
                )
                mask_of = dict(zip(ids, masks, strict=True))
                rows = []
                if ids:
                    rows = await planning.customers_among(self._db, ids, shop_zone, only_eligible=not dry_run)
                for row in rows:
                    row.due_mask = mask_of[row.user_id]
                if not rows:
                    return _Slice(rows, {}, {}, upto)
            expiring: dict[int, tuple[int, datetime]] = {}
            if expiring_days is not None:
                with_points = [
                    r.account_id for r in rows if r.account_id is not None and r.due_mask & expiring_bits
                ]
                expiring = await self._loyalty.expiring_of(with_points, expiring_days, now)
            past: dict[int, list[PastMessage]] = {}
            for h in await outbox_store.history_of(self._db, [r.user_id for r in rows], now - HISTORY_WINDOW):
                past.setdefault(h.user_id, []).append(
                    PastMessage(h.rule, h.step, h.period, h.state.value, h.created_at, h.sent_at)
                )
            return _Slice(rows, expiring, past, upto)

        # The database reads the next slice and writes the last one's rows while this one is decided
        # (in their own threads): at a million customers that is a good part of the time.
        reading: asyncio.Task[_Slice | None] = asyncio.create_task(read_slice(0))
        writing: asyncio.Task[int] | None = None
        collecting = gc.isenabled()
        # The connections' threads need Python's lock (GIL) for a moment at each trip, while this thread
        # holds it deciding. A thread asks the holder to let go only after waiting the switch interval
        # without the lock changing hands, and deciding lets the event loop run (and so releases and
        # takes the lock again) more often than the default 5 ms: the threads waited for the whole
        # slice, and reading and writing did not overlap deciding at all.
        _SHORT_SWITCHING.enter()
        try:
            # A run makes millions of short-lived objects and no reference cycles of its own; the
            # collections they would set off, each over the whole heap, took a third of the run.
            gc.disable()
            while (current := await reading) is not None:
                reading = asyncio.create_task(read_slice(current.upto))
                report.customers += len(current.rows)
                batch = await self._decide(current, now, rules_in, late_bits, report, dry_run, keep)
                if not dry_run:
                    if writing is not None:
                        report.written += await writing
                    writing = asyncio.create_task(outbox_store.insert_batch(self._db, batch, now))
            if writing is not None:
                report.written += await writing
                writing = None
        finally:
            _SHORT_SWITCHING.leave()
            if collecting:
                gc.enable()
            for task in (reading, writing):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        return report

    async def _decide(
        self,
        current: _Slice,
        now: datetime,
        rules_in: Callable[[int], list[RuleConfig]],
        late_bits: int,
        report: PlanReport,
        dry_run: bool,
        keep: int,
    ) -> OutboxBatch:
        """Decide for a slice's customers; count the decisions into `report`, return the rows to write."""
        # The loop body runs for hundreds of thousands of customers: what it looks up is looked up once.
        config = self._config.nudges
        segments = config.segments
        caps = self._caps
        expiring = current.expiring
        past = current.past
        no_history: list[PastMessage] = []
        counts = report.counts
        decisions = report.decisions
        batch = OutboxBatch()
        for number, row in enumerate(current.rows):
            if number % 64 == 0:
                # Let the next slice's reading and the last one's writing go on meanwhile: each of their
                # trips to a connection's thread takes two turns of the event loop (~1 ms apart so).
                await asyncio.sleep(0)
            # The row is the customer's facts; what only some rules need is worked out for those in
            # their windows.
            if row.due_mask & late_bits:
                row.late_since = late_since_from(
                    row.last_purchase_at, row.purchases, row.median_gap_days, segments
                )
            if (account := row.account_id) is not None and (soonest := expiring.get(account)) is not None:
                row.points_expiring_at = soonest[1]
            history = past.get(row.user_id, no_history)
            for decision in plan_customer(row, history, config, caps, now, rules_in(row.due_mask)):
                outcome = decision.outcome
                counts[(decision.rule, _OUTCOME_VALUES[outcome], decision.reason)] += 1
                if dry_run and len(decisions) < keep:
                    decisions.append(decision)
                if outcome is Outcome.PLAN or outcome is Outcome.HOLD_OUT:
                    held_out = outcome is Outcome.HOLD_OUT
                    batch.add(
                        decision.user_id,
                        decision.rule,
                        decision.step,
                        decision.period,
                        decision.template,
                        decision.priority,
                        OutboxState.HELD_OUT if held_out else OutboxState.PLANNED,
                        decision.due_at,
                        decision.reason if held_out else None,
                    )
        return batch


def slice_sizes(size: int, total: int | None) -> list[int]:
    """How many customers each slice holds: an eighth, a quarter and half of `size` first, then `size`;
    with a `total` known, all of them, the last slices as small as the first in reverse. Unknown, the
    first few only (`size` after them)."""
    ramp = [part for part in (size // 8, size // 4, size // 2) if part > 0]
    if total is None:
        return ramp
    sizes: list[int] = []
    left = total
    for part in ramp:
        if left > 0:
            sizes.append(min(part, left))
            left -= sizes[-1]
    tail = ramp[::-1]
    while left > size + sum(tail):
        sizes.append(size)
        left -= size
    if left > sum(tail):
        sizes.append(left - sum(tail))
        left = sum(tail)
    for part in tail:
        if left > 0:
            sizes.append(min(part, left))
            left -= sizes[-1]
    return sizes


@dataclass(frozen=True)
class _Slice:
    """Customers the planner decides for at once, with their expiring points and recent messages."""

    rows: list[planning.CustomerRow]
    expiring: dict[int, tuple[int, datetime]]
    past: dict[int, list[PastMessage]]
    upto: int  # the next slice begins after this (a user id, or a place in the due customers' list)


class _ShortSwitching:
    """The interpreter's switch interval at 0.5 ms while any planning runs (see `plan`), then as it was:
    two runs at once (the scheduler's and a staff member's dry run) must not leave it short."""

    def __init__(self) -> None:
        self._running = 0
        self._before = sys.getswitchinterval()

    def enter(self) -> None:
        if self._running == 0:
            self._before = sys.getswitchinterval()
            sys.setswitchinterval(0.0005)
        self._running += 1

    def leave(self) -> None:
        self._running -= 1
        if self._running == 0:
            sys.setswitchinterval(self._before)


_SHORT_SWITCHING = _ShortSwitching()
# The values of outcomes, looked up: `outcome.value` goes through a property, once for each decision.
_OUTCOME_VALUES = {outcome: outcome.value for outcome in Outcome}
