"""Which nudge each customer is due, and why not: a pure function of (facts, history, config, now)."""

from __future__ import annotations

import calendar
import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.config import NudgesConfig, RuleConfig
from bot.rules.pacing import Caps, QuietHours, customer_caps, in_holdout
from bot.rules.segments import Segment, days, segment_entered_at, segment_for

# A trigger that fired longer ago than this is not acted on any more (e.g. a birthday missed while the
# bot was down); segment entry is exempt: a customer lapsed for months still deserves a win-back.
STALE_AFTER = timedelta(days=7)
# Messages planned longer ago than this are not looked at when planning.
HISTORY_WINDOW = timedelta(days=400)


@dataclass(slots=True)  # not frozen: made for every customer planned for, and frozen ones cost twice
class CustomerFacts:
    user_id: int
    consent_granted_at: datetime | None  # None unless the current consent is granted
    reachable: bool
    frequency: str
    paused_until: datetime | None
    zone: ZoneInfo
    birthday: str | None  # MM-DD
    purchases: int
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    late_since: datetime | None = None
    points_expiring_at: datetime | None = None
    restock: tuple[str, datetime] | None = None  # (sku, when it is due)
    no_win_back: bool = False


@dataclass(slots=True)  # not frozen, as CustomerFacts
class PastMessage:
    rule: str
    step: int
    period: str
    state: str
    created_at: datetime
    sent_at: datetime | None


class Outcome(StrEnum):
    PLAN = "plan"  # goes into the outbox as planned
    HOLD_OUT = "hold_out"  # recorded as held out, never sent
    WAIT = "wait"  # due, but not now (caps, lower priority); looked at again next time
    NOT_ELIGIBLE = "not_eligible"  # no consent, unreachable, paused


class Decision(NamedTuple):  # immutable like a frozen dataclass, made in a fifth of the time
    user_id: int
    rule: str
    step: int
    period: str
    template: str
    priority: int
    outcome: Outcome
    reason: str
    due_at: datetime


class _Candidate(NamedTuple):
    rule: RuleConfig
    step: int
    period: str
    due_at: datetime


def plan_customer(
    facts: CustomerFacts,
    history: Sequence[PastMessage],
    config: NudgesConfig,
    caps: Caps,
    now: datetime,
    rules: Sequence[RuleConfig] | None = None,
) -> list[Decision]:
    """Every rule due for this customer now, with what to do about it; at most one is planned.

    `rules`: only these can be due (the caller knows the customer is outside the others' windows)."""
    # Written for speed (the planner calls it for every customer in a due window, hundreds of thousands
    # at a time): loops rather than comprehensions, nothing worked out that the common case (one rule
    # due, no history) does not need.
    candidates: list[_Candidate] = []
    for rule in config.rules if rules is None else rules:
        if rule.enabled and (candidate := _candidate(rule, facts, history, config, now)) is not None:
            candidates.append(candidate)
    if not candidates:
        return []
    if len(candidates) > 1:
        candidates.sort(key=_first_goes_first)
    gate = _gate(facts, now)
    sent = [m.sent_at or m.created_at for m in history if m.state in _DELIVERED_OR_MAYBE] if history else []
    own_caps = customer_caps(caps, facts.frequency)
    in_flight = any(m.state == "planned" for m in history) if history else False
    decisions: list[Decision] = []
    chosen = False
    for cand in candidates:
        rule = cand.rule
        due = cand.due_at
        if gate is not None:
            outcome, reason = Outcome.NOT_ELIGIBLE, gate
        elif chosen or in_flight:
            outcome, reason = Outcome.WAIT, "another message goes first"
        elif (allowed_at := own_caps.next_allowed(sent, now)) > now:
            outcome, reason, due = Outcome.WAIT, "capped", allowed_at
        else:
            chosen = True
            share = rule.holdout_percent
            holdout = share if share is not None else config.holdout_percent
            if cand.step == 0 and in_holdout(facts.user_id, rule.name, holdout):
                outcome, reason = Outcome.HOLD_OUT, "held out"
            else:
                wanted = now if now > due else due  # max(due, now), without the call
                due = _quiet_until(config.quiet_start, config.quiet_end, wanted, facts.zone)
                outcome, reason = Outcome.PLAN, ("quiet hours" if due > wanted else "due")
        decisions.append(
            Decision(
                facts.user_id,
                rule.name,
                cand.step,
                cand.period,
                rule.steps[cand.step].template,
                rule.priority,
                outcome,
                reason,
                due,
            )
        )
    return decisions


@functools.lru_cache(maxsize=4096)
def _quiet_until(start: str, end: str, wanted: datetime, zone: ZoneInfo) -> datetime:
    """`wanted`, or the end of the quiet hours it falls in. Remembered: in a planning run most customers
    want the same moment (now, when their message fell due before it) in the same zone."""
    return QuietHours.parse(start, end).next_allowed(wanted, zone)


# What counts against the caps: what may have reached the customer.
_DELIVERED_OR_MAYBE = ("sent", "sending", "unknown")


def _first_goes_first(c: _Candidate) -> tuple[int, datetime, str]:
    return (-c.rule.priority, c.due_at, c.rule.name)


def _gate(facts: CustomerFacts, now: datetime) -> str | None:
    if facts.consent_granted_at is None:
        return "no consent"
    if not facts.reachable:
        return "unreachable"
    if facts.paused_until is not None and facts.paused_until > now:
        return "paused by customer"
    return None


def _candidate(
    rule: RuleConfig,
    facts: CustomerFacts,
    history: Sequence[PastMessage],
    config: NudgesConfig,
    now: datetime,
) -> _Candidate | None:
    fired = _trigger(rule, facts, config, now)
    if fired is None:
        return None
    period, fired_at = fired
    if fired_at > now:
        return None
    mine = [m for m in history if m.rule == rule.name] if history else []
    in_period = sorted((m for m in mine if m.period == period), key=_step_of) if mine else []
    if not in_period:
        if rule.trigger != "segment_entered" and now - fired_at > STALE_AFTER:
            return None
        last_sent = max((m.sent_at for m in mine if m.sent_at is not None), default=None) if mine else None
        if last_sent is not None and now < last_sent + days(rule.cooldown_days):
            return None
        return _Candidate(rule, 0, period, fired_at)
    last = in_period[-1]
    if last.state != "sent" or last.sent_at is None or last.step + 1 >= len(rule.steps):
        return None  # in flight, held out, skipped, failed, or the sequence is complete
    step = last.step + 1
    due = last.sent_at + days(rule.steps[step].delay_days)
    if due > now:
        return None  # not yet: planned only when due, so a purchase in between still stops it
    return _Candidate(rule, step, period, due)


def _step_of(m: PastMessage) -> int:
    return m.step


def _trigger(
    rule: RuleConfig, facts: CustomerFacts, config: NudgesConfig, now: datetime
) -> tuple[str, datetime] | None:
    """(period, when it fired) for this customer's current occurrence of the rule's trigger."""
    last = facts.last_purchase_at
    match rule.trigger:
        case "opted_in":
            return ("once", facts.consent_granted_at) if facts.consent_granted_at else None
        case "days_after_first_purchase":
            first = facts.first_purchase_at
            return (first.date().isoformat(), first + days(rule.days)) if first else None
        case "days_after_purchase":
            return (last.date().isoformat(), last + days(rule.days)) if last else None
        case "segment_entered":
            if facts.no_win_back:
                return None  # they told us they moved or no longer need us
            segments = config.segments
            current = segment_for(now, facts.purchases, facts.first_purchase_at, last, segments)
            # Segment members are their names: `current != rule.segment` without looking the member up.
            if last is None or rule.segment is None or current != rule.segment:
                return None
            entered = segment_entered_at(current, last, segments)
            return (last.date().isoformat(), entered) if entered else None
        case "late_by_rhythm":
            if facts.late_since is None or last is None or facts.no_win_back:
                return None
            current = segment_for(now, facts.purchases, facts.first_purchase_at, last, config.segments)
            if current not in (Segment.ACTIVE, Segment.AT_RISK):
                return None  # lapsed and lost customers are the win-back's
            return (last.date().isoformat(), facts.late_since)
        case "birthday":
            return _birthday(facts, now)
        case "points_expiring":
            at = facts.points_expiring_at
            return (at.date().isoformat(), at - days(rule.days)) if at else None
        case "restock":
            if facts.restock is None:
                return None
            sku, due = facts.restock
            return (f"{sku}@{due.date().isoformat()}", due)
    return None


def _birthday(facts: CustomerFacts, now: datetime) -> tuple[str, datetime] | None:
    if not facts.birthday:
        return None
    today = now.astimezone(facts.zone).date()
    wanted = today.strftime("%m-%d")
    leap_stand_in = today.month == 2 and today.day == 28 and not calendar.isleap(today.year)
    if facts.birthday != wanted and not (leap_stand_in and facts.birthday == "02-29"):
        return None
    start_of_day = datetime.combine(today, datetime.min.time(), tzinfo=facts.zone)
    return (str(today.year), start_of_day)


# -- who can be due at all: the planner's prefilter --------------------------------------------------------


class Fact(StrEnum):
    """A stored fact about a customer that a rule's trigger fires from."""

    CONSENT_AT = "consent_at"
    FIRST_PURCHASE_AT = "first_purchase_at"
    LAST_PURCHASE_AT = "last_purchase_at"
    LATE_SINCE = "late_since"  # last purchase + late_multiple × median gap
    RESTOCK_DUE_AT = "restock_due_at"
    BIRTHDAY = "birthday"  # MM-DD
    POINTS_EXPIRING = "points_expiring"  # earned points that expire within (start, end]


@dataclass(frozen=True)
class DueWindow:
    """A necessary condition for `rule`'s first step to be due now: `fact` lies within [start, end]
    (either end open when None), or the birthday is one of `days`. The planner asks the database only for
    customers inside some window (or in the middle of a rule's steps), then decides for each of them
    with `plan_customer`; a window may let in customers with nothing due, never leave out one who is due.
    """

    rule: str
    fact: Fact
    start: datetime | None = None
    end: datetime | None = None
    days: tuple[str, ...] = ()
    # late_by_rhythm and win-backs: only customers who did not say they moved or no longer need us.
    win_back: bool = False
    # late_by_rhythm: at least this many purchases, the last one after `last_purchase_after`.
    min_purchases: int = 0
    last_purchase_after: datetime | None = None
    late_multiple: float = 0.0
    # A rule with several steps: customers whose last step so far was sent within (start, end) (end is
    # one shortest delay ago) and has a next step may be due that step, inside the window or not.
    next_step_sent: tuple[datetime, datetime] | None = None
    # The rule's cooldown: a message of the rule sent after this moment keeps its first step away.
    cooled_after: datetime | None = None


def due_windows(config: NudgesConfig, now: datetime) -> list[DueWindow]:
    """One window per enabled rule whose trigger can fire at `now` (see `_trigger` and `_candidates`)."""
    windows: list[DueWindow] = []
    fresh = now - STALE_AFTER
    segments = config.segments
    for rule in config.rules:
        if not rule.enabled:
            continue
        after = days(rule.days)
        found: list[DueWindow] = []
        match rule.trigger:
            case "opted_in":
                found.append(DueWindow(rule.name, Fact.CONSENT_AT, fresh, now))
            case "days_after_first_purchase":
                found.append(DueWindow(rule.name, Fact.FIRST_PURCHASE_AT, fresh - after, now - after))
            case "days_after_purchase":
                found.append(DueWindow(rule.name, Fact.LAST_PURCHASE_AT, fresh - after, now - after))
            case "segment_entered":
                # Entered when idle for the segment's days, still in it while idle for less than the next
                # segment's; not stale however long ago they entered.
                bounds = {
                    "at_risk": (segments.lapsed_days, segments.at_risk_days),
                    "lapsed": (segments.lost_days, segments.lapsed_days),
                    "lost": (None, segments.lost_days),
                }.get(rule.segment or "")
                if bounds is None:
                    continue  # new and active are not entered by idling: the trigger never fires
                upto, since = bounds
                start = None if upto is None else now - timedelta(days=upto)
                found.append(
                    DueWindow(
                        rule.name, Fact.LAST_PURCHASE_AT, start, now - timedelta(days=since), win_back=True
                    )
                )
            case "late_by_rhythm":
                found.append(
                    DueWindow(
                        rule.name,
                        Fact.LATE_SINCE,
                        fresh,
                        now,
                        win_back=True,
                        min_purchases=segments.late_min_purchases,
                        last_purchase_after=now - timedelta(days=segments.lapsed_days),
                        late_multiple=float(segments.late_multiple),
                    )
                )
            case "birthday":
                found.append(DueWindow(rule.name, Fact.BIRTHDAY, days=_birthdays_around(now)))
            case "points_expiring":
                # The soonest expiry still to come is one of these entries' (and not stale).
                start = max(now, now + after - STALE_AFTER)
                found.append(DueWindow(rule.name, Fact.POINTS_EXPIRING, start, now + after))
            case "restock":
                found.append(DueWindow(rule.name, Fact.RESTOCK_DUE_AT, fresh, now))
        if rule.cooldown_days > 0:
            found = [replace(w, cooled_after=now - timedelta(days=rule.cooldown_days)) for w in found]
        if len(rule.steps) > 1:
            shortest = min(step.delay_days for step in rule.steps[1:])
            sent = (now - HISTORY_WINDOW, now - timedelta(days=shortest))
            found = [replace(w, next_step_sent=sent) for w in found]
        windows += found
    return windows


def _birthdays_around(now: datetime) -> tuple[str, ...]:
    """Every MM-DD that is today somewhere on Earth (UTC−12 … UTC+14), and 29 February kept on the 28th."""
    found: list[str] = []
    for offset in (-1, 0, 1):
        day = (now + timedelta(days=offset)).date()
        found.append(day.strftime("%m-%d"))
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            found.append("02-29")
    return tuple(sorted(set(found)))
