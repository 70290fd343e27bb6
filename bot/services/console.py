"""The staff console: kill switch, audit log, coupon redemption, stats, uplift report, exports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.config import Config
from bot.rules.identity import normalize_card_code
from bot.rules.segments import Segment, segment_for
from bot.rules.uplift import Uplift
from bot.services.summaries import refresh_purchase_summaries
from bot.storage import audit, coupons, customers, planning, reports, settings
from bot.storage.audit import AuditEntry
from bot.storage.coupons import Coupon
from bot.storage.db import Database

REPORT_WINDOW_DAYS = 14


class CouponCheck(StrEnum):
    REDEEMED = "redeemed"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    WRONG_CUSTOMER = "wrong-customer"


@dataclass
class StatsView:
    customers: int
    opted_in: int
    reachable: int
    linked: int
    erased: int
    segments: Counter[str] = field(default_factory=Counter)
    sent_7: dict[str, int] = field(default_factory=dict)
    sent_30: dict[str, int] = field(default_factory=dict)
    sent_30_total: int = 0
    blocked_30: int = 0
    redemptions_30: dict[str, int] = field(default_factory=dict)

    def percent(self, part: int) -> int:
        return round(100 * part / self.customers) if self.customers else 0

    @property
    def block_rate(self) -> int:
        attempts = self.sent_30_total + self.blocked_30
        return round(100 * self.blocked_30 / attempts) if attempts else 0


class ConsoleService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self._db = db
        self._clock = clock
        self._config = config

    # -- kill switch ----------------------------------------------------------------------------------

    async def is_paused(self) -> bool:
        return await settings.get(self._db, settings.MARKETING_PAUSED) == "1"

    async def set_paused(self, paused: bool, staff_id: int) -> None:
        """Persisted, so a restart keeps marketing stopped; delivery reads it before every send."""
        await settings.put(
            self._db,
            settings.MARKETING_PAUSED,
            "1" if paused else "0",
            f"staff:{staff_id}",
            self._clock.now(),
        )

    # -- audit ----------------------------------------------------------------------------------------

    async def record(self, staff_id: int, action: str, detail: str) -> None:
        await audit.record(self._db, staff_id, action, detail, self._clock.now())

    async def audit_log(self, limit: int = 20) -> list[AuditEntry]:
        return await audit.latest(self._db, limit)

    # -- coupons --------------------------------------------------------------------------------------

    async def redeem_coupon(
        self, code_text: str, staff_id: int, customer_id: int | None = None
    ) -> tuple[CouponCheck, Coupon | None]:
        """Exists, belongs to this customer (when one is named), not expired, not used: then it is used."""
        code = normalize_card_code(code_text) or ""
        now = self._clock.now()
        async with self._db.transaction() as tx:
            coupon = await coupons.get(tx, code)
            if coupon is None:
                return CouponCheck.UNKNOWN, None
            if coupon.redeemed_at is not None:
                return CouponCheck.USED, coupon
            if coupon.valid_until < now:
                return CouponCheck.EXPIRED, coupon
            if customer_id is not None and coupon.user_id != customer_id:
                return CouponCheck.WRONG_CUSTOMER, coupon
            if not await coupons.mark_redeemed(tx, code, f"staff:{staff_id}", now):
                return CouponCheck.USED, coupon
        return CouponCheck.REDEEMED, coupon

    # -- numbers --------------------------------------------------------------------------------------

    async def stats(self) -> StatsView:
        now = self._clock.now()
        counts = await customers.counts(self._db)
        view = StatsView(
            customers=counts["customers"],
            opted_in=counts["opted_in"],
            reachable=counts["reachable"],
            linked=counts["linked"],
            erased=counts["erased"],
        )
        segments = self._config.nudges.segments
        await refresh_purchase_summaries(self._db)
        async for row in planning.iter_customers(self._db, self._config.shop.zone, only_eligible=False):
            current = segment_for(now, row.purchases, row.first_purchase_at, row.last_purchase_at, segments)
            view.segments[current.value] += 1
        for segment in Segment:
            view.segments.setdefault(segment.value, 0)
        view.sent_7 = await reports.sent_by_rule(self._db, now - timedelta(days=7))
        view.sent_30 = await reports.sent_by_rule(self._db, now - timedelta(days=30))
        view.sent_30_total, view.blocked_30 = await reports.delivery_outcomes(
            self._db, now - timedelta(days=30)
        )
        view.redemptions_30 = await reports.redemptions_by_rule(self._db, now - timedelta(days=30))
        return view

    async def uplift(self, window_days: int = REPORT_WINDOW_DAYS) -> dict[str, Uplift]:
        """Per rule: first messages sent vs held out at least `window_days` ago, and who bought since."""
        matured = self._clock.now() - timedelta(days=window_days)
        groups: dict[str, dict[str, tuple[int, int]]] = {}
        for rule, state, total, bought in await reports.uplift_counts(self._db, window_days, matured):
            groups.setdefault(rule, {})[state] = (total, bought)
        result: dict[str, Uplift] = {}
        for rule, by_state in sorted(groups.items()):
            sent, sent_bought = by_state.get("sent", (0, 0))
            held, held_bought = by_state.get("held_out", (0, 0))
            result[rule] = Uplift(sent, sent_bought, held, held_bought)
        return result

    async def export(self, what: str) -> list[list[str]]:
        if what == "customers":
            return await reports.export_customers(self._db)
        if what == "ledger":
            return await reports.export_ledger(self._db)
        if what == "messages":
            return await reports.export_messages(self._db)
        raise ValueError(f"nothing to export called {what!r}")
