"""bot.rules.nudges.plan_customer: which nudge a customer is due, and why not — a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import NudgesConfig
from bot.rules.nudges import STALE_AFTER, CustomerFacts, Decision, Outcome, PastMessage, plan_customer
from bot.rules.pacing import Caps

KYIV = ZoneInfo("Europe/Kyiv")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # Tuesday, 11:00 in Kyiv
DAY = timedelta(days=1)
CAPS = Caps(1, 3)
USER = 1001
LAST = T0 - 40 * DAY  # a single purchase 40 days ago: lapsed since T0 - 5 days
PERIOD = LAST.date().isoformat()


def facts(**changes: Any) -> CustomerFacts:
    """An opted-in (60 days ago, so the welcome is long past), reachable customer with no purchases."""
    values: dict[str, Any] = {
        "user_id": USER,
        "consent_granted_at": T0 - 60 * DAY,
        "reachable": True,
        "frequency": "normal",
        "paused_until": None,
        "zone": KYIV,
        "birthday": None,
        "purchases": 0,
        "first_purchase_at": None,
        "last_purchase_at": None,
    }
    values.update(changes)
    return CustomerFacts(**values)


def lapsed(**changes: Any) -> CustomerFacts:
    return facts(**{"purchases": 1, "first_purchase_at": LAST, "last_purchase_at": LAST, **changes})


def nudges(**changes: Any) -> NudgesConfig:
    """The default rules, without the holdout unless asked for."""
    return NudgesConfig.model_validate({"holdout_percent": 0, **changes})


def only(*names: str) -> NudgesConfig:
    """Some of the default rules, as they ship (for tests about one rule among others that may come)."""
    config = nudges()
    return config.model_copy(update={"rules": [r for r in config.rules if r.name in names]})


def sent(rule: str, step: int, period: str, at: datetime) -> PastMessage:
    return PastMessage(rule, step, period, "sent", at, at)


def plan(
    customer: CustomerFacts,
    history: Sequence[PastMessage] = (),
    now: datetime = T0,
    config: NudgesConfig | None = None,
    caps: Caps = CAPS,
) -> list[Decision]:
    return plan_customer(customer, history, config or nudges(), caps, now)


def summary(decisions: list[Decision]) -> list[tuple[str, int, str, str]]:
    return [(d.rule, d.step, d.outcome.value, d.reason) for d in decisions]


# -- eligibility ----------------------------------------------------------------------------------------


def test_nothing_due_means_no_decisions() -> None:
    assert plan(facts()) == []


def test_without_consent_nothing_is_planned() -> None:
    decisions = plan(lapsed(consent_granted_at=None))
    assert summary(decisions) == [("win_back", 0, "not_eligible", "no consent")]


def test_unreachable_and_paused_customers_are_not_eligible() -> None:
    assert summary(plan(lapsed(reachable=False))) == [("win_back", 0, "not_eligible", "unreachable")]
    paused = lapsed(paused_until=T0 + DAY)
    assert summary(plan(paused)) == [("win_back", 0, "not_eligible", "paused by customer")]
    # A pause that has ended no longer counts.
    assert summary(plan(lapsed(paused_until=T0))) == [("win_back", 0, "plan", "due")]


def test_an_opted_in_customer_gets_the_welcome() -> None:
    [decision] = plan(facts(consent_granted_at=T0 - timedelta(minutes=5)))
    assert decision == Decision(
        user_id=USER,
        rule="welcome",
        step=0,
        period="once",
        template="welcome",
        priority=100,
        outcome=Outcome.PLAN,
        reason="due",
        due_at=T0,
    )


def test_the_welcome_is_sent_once() -> None:
    opted_in = facts(consent_granted_at=T0 - timedelta(minutes=5))
    assert plan(opted_in, [sent("welcome", 0, "once", T0 - timedelta(minutes=1))], now=T0) == []
    # Even after opting out and in again (a new consent time), years later.
    again = facts(consent_granted_at=T0 + 400 * DAY)
    assert plan(again, [sent("welcome", 0, "once", T0)], now=T0 + 400 * DAY) == []


def test_disabled_rules_are_not_considered() -> None:
    rules = [r for r in nudges().rules if r.name != "welcome"]
    welcome = next(r for r in nudges().rules if r.name == "welcome").model_copy(update={"enabled": False})
    config = nudges().model_copy(update={"rules": [*rules, welcome]})
    assert plan(facts(consent_granted_at=T0), config=config) == []


# -- caps, priority, holdout ----------------------------------------------------------------------------


def test_a_capped_customer_waits_until_the_cap_allows() -> None:
    history = [sent("birthday", 0, "2026", T0 - 2 * DAY)]
    [decision] = plan(facts(consent_granted_at=T0 - timedelta(hours=1)), history)
    assert (decision.rule, decision.outcome, decision.reason) == ("welcome", Outcome.WAIT, "capped")
    assert decision.due_at == T0 + 5 * DAY


def test_the_monthly_cap_counts_too() -> None:
    history = [
        sent("birthday", 0, "2026", T0 - 29 * DAY),
        sent("restock", 0, "beans@2026-02-18", T0 - 20 * DAY),
        sent("late", 0, "2026-02-01", T0 - 10 * DAY),
    ]
    [decision] = plan(lapsed(), history)
    assert (decision.outcome, decision.reason, decision.due_at) == (Outcome.WAIT, "capped", T0 + DAY)


def test_messages_that_may_have_arrived_count_against_the_caps() -> None:
    for state in ("sending", "unknown"):
        history = [PastMessage("birthday", 0, "2026", state, T0 - DAY, None)]
        [decision] = plan(lapsed(), history)
        assert (decision.outcome, decision.reason, decision.due_at) == (Outcome.WAIT, "capped", T0 + 6 * DAY)
    # Held out, skipped and failed messages never reached the customer.
    for state in ("held_out", "skipped", "failed"):
        history = [PastMessage("birthday", 0, "2026", state, T0 - DAY, None)]
        assert summary(plan(lapsed(), history)) == [("win_back", 0, "plan", "due")]


def test_a_customers_monthly_choice_is_stricter_than_the_shop() -> None:
    history = [sent("birthday", 0, "2026", T0 - 20 * DAY)]
    assert summary(plan(lapsed(), history)) == [("win_back", 0, "plan", "due")]
    [decision] = plan(lapsed(frequency="monthly"), history)
    assert (decision.outcome, decision.reason, decision.due_at) == (Outcome.WAIT, "capped", T0 + 10 * DAY)


def test_the_highest_priority_goes_first_and_the_rest_wait() -> None:
    today = T0.astimezone(KYIV).strftime("%m-%d")
    customer = lapsed(consent_granted_at=T0 - timedelta(hours=1), birthday=today)
    assert summary(plan(customer)) == [
        ("welcome", 0, "plan", "due"),
        ("birthday", 0, "wait", "another message goes first"),
        ("win_back", 0, "wait", "another message goes first"),
    ]
    # Once the welcome is out, the caps hold the others back for a week.
    after = plan(customer, [sent("welcome", 0, "once", T0)], now=T0 + timedelta(hours=2))
    assert summary(after) == [("birthday", 0, "wait", "capped"), ("win_back", 0, "wait", "capped")]
    assert {d.due_at for d in after} == {T0 + 7 * DAY}


def test_a_message_in_flight_makes_every_rule_wait() -> None:
    history = [PastMessage("birthday", 0, "2026", "planned", T0 - timedelta(hours=1), None)]
    assert summary(plan(lapsed(), history)) == [("win_back", 0, "wait", "another message goes first")]


def test_a_held_out_customer_is_recorded_not_sent() -> None:
    [decision] = plan(lapsed(), config=nudges(holdout_percent=100))
    assert (decision.rule, decision.outcome, decision.reason) == ("win_back", Outcome.HOLD_OUT, "held out")
    # A rule's own share wins over the shop-wide one.
    rules = [r.model_copy(update={"holdout_percent": 0}) for r in nudges().rules]
    config = nudges(holdout_percent=100).model_copy(update={"rules": rules})
    assert summary(plan(lapsed(), config=config)) == [("win_back", 0, "plan", "due")]


def test_a_held_out_sequence_stays_held_out() -> None:
    history = [PastMessage("win_back", 0, PERIOD, "held_out", T0, None)]
    assert plan(lapsed(), history, now=T0 + 30 * DAY) == []


# -- steps, cooldown, staleness -------------------------------------------------------------------------


def test_win_back_second_step_is_due_14_days_after_the_first_was_sent() -> None:
    step0 = sent("win_back", 0, PERIOD, T0)
    # Not before: a purchase in the meantime must still be able to stop it.
    assert plan(lapsed(), [step0], now=T0 + 14 * DAY - timedelta(seconds=1)) == []
    assert plan(lapsed(), [step0], now=T0 + 8 * DAY) == []
    [decision] = plan(lapsed(), [step0], now=T0 + 14 * DAY)
    assert (decision.rule, decision.step, decision.template, decision.outcome) == (
        "win_back",
        1,
        "win_back_news",
        Outcome.PLAN,
    )
    assert (decision.period, decision.due_at) == (PERIOD, T0 + 14 * DAY)


def test_the_second_step_is_never_held_out() -> None:
    step0 = sent("win_back", 0, PERIOD, T0)
    [decision] = plan(lapsed(), [step0], now=T0 + 14 * DAY, config=nudges(holdout_percent=100))
    assert (decision.step, decision.outcome) == (1, Outcome.PLAN)


def test_a_purchase_stops_the_sequence() -> None:
    step0 = sent("win_back", 0, PERIOD, T0)
    bought = lapsed(purchases=2, last_purchase_at=T0 + 5 * DAY)
    # No win-back any more; what is due is the question about that purchase (3 days after it).
    assert summary(plan(bought, [step0], now=T0 + 14 * DAY)) == [("nps", 0, "plan", "due")]
    assert plan(bought, [step0], now=T0 + 14 * DAY, config=only("win_back")) == []


def test_the_third_win_back_step_asks_why_14_days_after_the_second() -> None:
    history = [sent("win_back", 0, PERIOD, T0), sent("win_back", 1, PERIOD, T0 + 14 * DAY)]
    assert plan(lapsed(), history, now=T0 + 28 * DAY - timedelta(seconds=1)) == []
    [decision] = plan(lapsed(), history, now=T0 + 28 * DAY)
    assert (decision.step, decision.template, decision.due_at) == (2, "win_back_survey", T0 + 28 * DAY)


def test_nothing_after_the_last_step() -> None:
    history = [
        sent("win_back", 0, PERIOD, T0),
        sent("win_back", 1, PERIOD, T0 + 14 * DAY),
        sent("win_back", 2, PERIOD, T0 + 28 * DAY),
    ]
    for days in (29, 42, 100, 170):
        assert plan(lapsed(), history, now=T0 + days * DAY) == []


def test_steps_only_follow_a_sent_step() -> None:
    for state in ("planned", "sending", "failed", "skipped", "unknown"):
        history = [PastMessage("win_back", 0, PERIOD, state, T0, None)]
        decisions = plan(lapsed(), history, now=T0 + 20 * DAY)
        assert all(d.rule != "win_back" for d in decisions), state


def test_cooldown_blocks_a_new_period() -> None:
    history = [
        sent("win_back", 0, PERIOD, T0),
        sent("win_back", 1, PERIOD, T0 + 14 * DAY),
        sent("win_back", 2, PERIOD, T0 + 28 * DAY),
    ]
    # Back at T0 + 40 days, then lapsed again from T0 + 75 days: a new period, but win-back's
    # cooldown of 180 days runs from its last message (T0 + 28 days) until T0 + 208 days.
    again = lapsed(purchases=2, last_purchase_at=T0 + 40 * DAY)
    new_period = (T0 + 40 * DAY).date().isoformat()
    assert plan(again, history, now=T0 + 80 * DAY) == []
    assert plan(again, history, now=T0 + 208 * DAY - timedelta(seconds=1)) == []
    [decision] = plan(again, history, now=T0 + 208 * DAY)
    assert (decision.rule, decision.step, decision.period, decision.outcome) == (
        "win_back",
        0,
        new_period,
        Outcome.PLAN,
    )


def test_segment_entry_is_never_stale() -> None:
    long_gone = facts(purchases=3, first_purchase_at=T0 - 300 * DAY, last_purchase_at=T0 - 170 * DAY)
    [decision] = plan(long_gone)
    assert (decision.rule, decision.outcome, decision.due_at) == ("win_back", Outcome.PLAN, T0)


def test_stale_triggers_are_ignored() -> None:
    # The birthday was 8 days ago: too late to congratulate.
    eight_days_ago = (T0 - 8 * DAY).astimezone(KYIV).strftime("%m-%d")
    assert plan(facts(birthday=eight_days_ago)) == []
    # Opted in while the bot was down for longer than STALE_AFTER: no welcome; within it, a welcome.
    assert plan(facts(consent_granted_at=T0 - STALE_AFTER - timedelta(minutes=1))) == []
    assert summary(plan(facts(consent_granted_at=T0 - STALE_AFTER + timedelta(hours=1)))) == [
        ("welcome", 0, "plan", "due")
    ]
    # The tip 3 days after the first purchase, found 9 days after it.
    first = T0 - 12 * DAY
    bought = facts(purchases=1, first_purchase_at=first, last_purchase_at=first)
    assert plan(bought) == []
    assert summary(plan(bought, now=first + 3 * DAY)) == [
        ("first_purchase_tip", 0, "plan", "due"),
        ("nps", 0, "wait", "another message goes first"),
    ]


def test_future_triggers_wait_for_their_time() -> None:
    first = T0 - 2 * DAY
    bought = facts(purchases=1, first_purchase_at=first, last_purchase_at=first)
    assert plan(bought) == []
    [decision, _nps] = plan(bought, now=first + 3 * DAY)
    assert (decision.rule, decision.period, decision.due_at) == (
        "first_purchase_tip",
        first.date().isoformat(),
        first + 3 * DAY,
    )


def test_points_expiring_fires_the_configured_days_before() -> None:
    at = T0 + 20 * DAY
    customer = facts(points_expiring_at=at)
    assert plan(customer) == []
    [decision] = plan(customer, now=at - 14 * DAY)
    assert (decision.rule, decision.period, decision.outcome) == (
        "points_expiring",
        at.date().isoformat(),
        Outcome.PLAN,
    )


def test_restock_and_late_rules() -> None:
    due = T0 - DAY
    [decision] = plan(facts(restock=("beans", due)))
    assert (decision.rule, decision.period, decision.template) == ("restock", "beans@2026-03-09", "restock")
    regular = facts(
        purchases=4, first_purchase_at=T0 - 40 * DAY, last_purchase_at=T0 - 15 * DAY, late_since=T0 - DAY
    )
    assert summary(plan(regular)) == [("late", 0, "plan", "due")]
    # A lapsed customer is the win-back's, not the late rule's.
    gone = facts(purchases=4, first_purchase_at=T0 - 90 * DAY, last_purchase_at=LAST, late_since=T0 - DAY)
    assert summary(plan(gone)) == [("win_back", 0, "plan", "due")]


# -- quiet hours and time zones -------------------------------------------------------------------------


def test_quiet_hours_move_the_due_time_to_10_local() -> None:
    evening = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)  # 22:00 in Kyiv
    [decision] = plan(facts(consent_granted_at=evening), now=evening)
    assert (decision.outcome, decision.reason) == (Outcome.PLAN, "quiet hours")
    assert decision.due_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 10:00 in Kyiv
    early = datetime(2026, 3, 11, 5, 0, tzinfo=UTC)  # 07:00 in Kyiv
    [decision] = plan(facts(consent_granted_at=early), now=early)
    assert decision.due_at == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


def test_quiet_hours_are_in_the_customers_zone() -> None:
    new_york = ZoneInfo("America/New_York")
    # 11:00 in Kyiv, 05:00 in New York (summer time there since 8 March).
    [decision] = plan(facts(consent_granted_at=T0, zone=new_york))
    assert (decision.reason, decision.due_at) == ("quiet hours", datetime(2026, 3, 10, 14, 0, tzinfo=UTC))


def test_quiet_hours_come_from_the_config() -> None:
    evening = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
    [decision] = plan(
        facts(consent_granted_at=evening), now=evening, config=nudges(quiet_start="23:00", quiet_end="07:00")
    )
    assert (decision.reason, decision.due_at) == ("due", evening)


# -- birthdays ------------------------------------------------------------------------------------------


def at_kyiv(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=KYIV).astimezone(UTC)


def test_birthday_on_the_day_in_the_customers_zone() -> None:
    customer = facts(birthday="03-11")
    # 23:30 UTC on 10 March is already 01:30 on 11 March in Kyiv (but quiet: due at 10:00).
    late_evening = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    [decision] = plan(customer, now=late_evening)
    assert (decision.rule, decision.period, decision.reason) == ("birthday", "2026", "quiet hours")
    assert decision.due_at == at_kyiv(date(2026, 3, 11), 10)
    assert plan(customer, now=datetime(2026, 3, 10, 21, 0, tzinfo=UTC)) == []  # 23:00 on the 10th


def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years() -> None:
    customer = facts(birthday="02-29")
    [decision] = plan(customer, now=at_kyiv(date(2027, 2, 28), 12))
    assert (decision.rule, decision.period, decision.outcome) == ("birthday", "2027", Outcome.PLAN)
    assert plan(customer, now=at_kyiv(date(2027, 3, 1), 12)) == []
    # In a leap year: on the day itself, not the day before.
    assert plan(customer, now=at_kyiv(date(2028, 2, 28), 12)) == []
    [decision] = plan(customer, now=at_kyiv(date(2028, 2, 29), 12))
    assert decision.period == "2028"


def test_one_birthday_message_a_year() -> None:
    customer = facts(birthday="03-10")
    history = [sent("birthday", 0, "2026", T0 - timedelta(hours=1))]
    assert plan(customer, history, now=T0 + timedelta(hours=3)) == []
    next_year = T0.replace(year=2027)
    [decision] = plan(customer, history, now=next_year)
    assert (decision.period, decision.outcome) == ("2027", Outcome.PLAN)
