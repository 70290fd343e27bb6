"""Lifecycle segments and each customer's own rhythm, from purchase history."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from statistics import median

from bot.config import SegmentsConfig

DAY_SECONDS = 86400


class Segment(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    AT_RISK = "at_risk"
    LAPSED = "lapsed"
    LOST = "lost"


def segment_for(
    now: datetime,
    purchases: int,
    first_purchase_at: datetime | None,
    last_purchase_at: datetime | None,
    rules: SegmentsConfig,
) -> Segment:
    """new: no purchase yet, or a single one within `new_days`; then by days since the last purchase."""
    if purchases == 0 or first_purchase_at is None or last_purchase_at is None:
        return Segment.NEW
    if purchases == 1 and days_between(first_purchase_at, now) < rules.new_days:
        return Segment.NEW
    idle = days_between(last_purchase_at, now)
    if idle >= rules.lost_days:
        return Segment.LOST
    if idle >= rules.lapsed_days:
        return Segment.LAPSED
    if idle >= rules.at_risk_days:
        return Segment.AT_RISK
    return Segment.ACTIVE


def segment_entered_at(
    segment: Segment, last_purchase_at: datetime, rules: SegmentsConfig
) -> datetime | None:
    """When an idle customer crossed into `segment` (None for segments not reached by idling)."""
    # A chain, not a dict of the three: the planner asks for every lapsed customer.
    if segment is Segment.AT_RISK:
        idle_days = rules.at_risk_days
    elif segment is Segment.LAPSED:
        idle_days = rules.lapsed_days
    elif segment is Segment.LOST:
        idle_days = rules.lost_days
    else:
        return None
    return last_purchase_at + days(idle_days)


@functools.cache
def days(count: int) -> timedelta:
    """`timedelta(days=count)`, made once for each count: planning adds a rule's days to a date for
    hundreds of thousands of customers, and making one costs four times looking it up."""
    return timedelta(days=count)


def days_between(earlier: datetime, later: datetime) -> float:
    return (later - earlier).total_seconds() / DAY_SECONDS


def median_gap_days(purchase_times: Sequence[datetime]) -> float | None:
    """The median number of days between consecutive purchases; None with fewer than two."""
    ordered = sorted(purchase_times)
    gaps = [days_between(a, b) for a, b in pairwise(ordered)]
    return float(median(gaps)) if gaps else None


def late_since_from(
    last_purchase_at: datetime | None, purchases: int, median_gap: float | None, rules: SegmentsConfig
) -> datetime | None:
    """When a regular customer became late by their own rhythm, from their purchase summary (None if too
    few purchases to tell). A weekly buyer is late after `late_multiple` weeks, not after the shop-wide
    month."""
    if last_purchase_at is None or median_gap is None or median_gap <= 0:
        return None
    if purchases < rules.late_min_purchases:
        return None
    allowed = Decimal(str(median_gap)) * rules.late_multiple
    return last_purchase_at + timedelta(days=float(allowed))


def restock_due(
    times_by_sku: dict[str, list[datetime]], min_purchases: int = 3
) -> tuple[str, datetime] | None:
    """The product bought regularly (at least `min_purchases` times) that runs out first, and when:
    one median gap after it was last bought."""
    best: tuple[str, datetime] | None = None
    for sku, times in times_by_sku.items():
        distinct = sorted(set(times))
        if len(distinct) < min_purchases:
            continue
        gap = median_gap_days(distinct)
        if gap is None or gap <= 0:
            continue
        due = distinct[-1] + timedelta(days=gap)
        if best is None or due < best[1]:
            best = (sku, due)
    return best


@dataclass(frozen=True)
class PurchaseSummary:
    """What planning needs of one customer record's purchases, computed once per change of them."""

    purchases: int
    first_at: datetime | None
    last_at: datetime | None
    median_gap_days: float | None
    restock: tuple[str, datetime] | None  # the regularly bought product due first, and when


def summarise_purchases(
    purchase_times: Sequence[datetime], times_by_sku: dict[str, list[datetime]]
) -> PurchaseSummary:
    return PurchaseSummary(
        purchases=len(purchase_times),
        first_at=min(purchase_times, default=None),
        last_at=max(purchase_times, default=None),
        median_gap_days=median_gap_days(purchase_times),
        restock=restock_due(times_by_sku),
    )
