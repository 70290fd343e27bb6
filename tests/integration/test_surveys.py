"""Feedback on a real SQLite file: answers once, comments, follow-ups, staff alerts, the report, export and
erasure, through `SurveyService` (and the planner, for "moved").

Surveys are opened the way delivery opens them (`surveys.open_survey`), at moments set on the
ManualClock; staff alerts go to a notifier that records them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_application
from bot.cli import main
from bot.clock import ManualClock, to_db
from bot.config import Config, load_config
from bot.exports import to_csv_bytes
from bot.models import TelegramProfile
from bot.notify import TextKey
from bot.services.loyalty import PurchaseInput
from bot.services.surveys import Answer, SurveyService, nps_group, nps_value
from bot.storage import accounts, surveys
from bot.storage.db import Database
from bot.storage.surveys import Survey
from bot.telegram.deps import WorkflowData, build_workflow_data
from bot.texts import Texts

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # as tests/conftest.py: 11:00 in Kyiv
DAY = timedelta(days=1)
OLENA = 1001
DMYTRO = 1002
CODE = re.compile(r"<code>([A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4})</code>")
EXPORT_HEADER = ["survey_id", "kind", "customer_id", "sent_at", "answered_at", "reason", "score", "comment"]


# -- the shop -------------------------------------------------------------------------------------------


@dataclass
class RecordingNotifier:
    """Stands in for TelegramNotifier: keeps every staff alert (key, arguments) in order."""

    staff: list[tuple[str, dict[str, str | int]]] = field(default_factory=list)
    customers: list[tuple[int, str]] = field(default_factory=list)
    texts: list[tuple[int, str]] = field(default_factory=list)

    async def notify(self, user_id: int, key: str, **args: str | int) -> bool:
        self.customers.append((user_id, key))
        return True

    async def notify_staff(self, key: str, **args: str | int) -> int:
        self.staff.append((key, dict(args)))
        return 1

    async def send_text(self, user_id: int, html: str) -> bool:
        self.texts.append((user_id, html))
        return True


@dataclass
class Shop:
    data: WorkflowData
    notifier: RecordingNotifier
    clock: ManualClock

    @property
    def db(self) -> Database:
        return self.data["db"]

    @property
    def surveys(self) -> SurveyService:
        return self.data["surveys"]

    @property
    def texts(self) -> Texts:
        return self.data["texts"]

    async def join(
        self,
        user_id: int,
        first_name: str = "Olena",
        last_name: str | None = None,
        username: str | None = None,
        language: str = "en",
    ) -> None:
        profile = TelegramProfile(user_id, first_name, last_name, username, language)
        await self.data["customers"].start(profile, None)
        await self.data["customers"].grant_consent(user_id, "/start")

    async def buy(self, user_id: int, purchase_id: str, at: datetime) -> None:
        phone = f"+38050{user_id:07d}"
        await self.data["customers"].link_phone(user_id, phone, user_id, "Olena")
        purchase = PurchaseInput(purchase_id, 50_000, "UAH", at, phone=phone)
        await self.data["loyalty"].record_purchase(purchase, actor="till", source="api")

    async def open(self, user_id: int, kind: str = "leave") -> int:
        async with self.db.transaction() as tx:
            return await surveys.open_survey(tx, user_id, kind, None, self.clock.now())

    async def get(self, survey_id: int) -> Survey:
        survey = await surveys.get(self.db, survey_id)
        assert survey is not None
        return survey

    async def leave_answer(self, user_id: int, reason: str, at: datetime, comment: str | None = None) -> int:
        """A "why did you leave" survey sent and answered at `at` (with the comment, or skipped)."""
        self.clock.set(at)
        survey_id = await self.open(user_id)
        assert await self.surveys.answer_reason(user_id, survey_id, reason) is Answer.RECORDED
        assert await self.surveys.finish(user_id, survey_id, comment) is not None
        return survey_id

    async def nps_answer(self, user_id: int, score: int, at: datetime, comment: str | None = None) -> int:
        self.clock.set(at)
        survey_id = await self.open(user_id, "nps")
        assert await self.surveys.answer_score(user_id, survey_id, score) is Answer.RECORDED
        assert await self.surveys.finish(user_id, survey_id, comment) is not None
        return survey_id

    async def no_win_back(self, user_id: int) -> int:
        return int(
            await self.db.fetch_value("SELECT no_win_back FROM customers WHERE user_id = ?", (user_id,))
        )

    async def coupons(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch_all("SELECT * FROM coupons ORDER BY issued_at, code")]

    async def win_back_rows(self, user_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT * FROM outbox WHERE user_id = ? AND rule = 'win_back' ORDER BY id", (user_id,)
        )
        return [dict(r) for r in rows]


@pytest.fixture
async def make_shop(
    make_config: Callable[..., Config], clock: ManualClock
) -> AsyncIterator[Callable[..., Awaitable[Shop]]]:
    """`await make_shop(surveys={...})`: a migrated shop (no bot) whose staff alerts are recorded."""
    async with AsyncExitStack() as stack:

        async def make(**sections: dict[str, Any]) -> Shop:
            config = make_config(**{"nudges": {"holdout_percent": 0}, **sections})
            db = await Database.open(Path(config.database.path))
            stack.push_async_callback(db.close)
            await db.migrate()
            notifier = RecordingNotifier()
            texts = Texts.load(config.shop.default_language)
            return Shop(build_workflow_data(config, clock, db, texts, notifier, None), notifier, clock)

        yield make


@pytest.fixture
async def shop(make_shop: Callable[..., Awaitable[Shop]]) -> Shop:
    return await make_shop()


def code_in(html: str) -> str:
    match = CODE.search(html)
    assert match is not None, html
    return match[1]


# -- NPS arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([10, 9, 8, 7, 6, 0], 0),  # round(100 * (2 - 2) / 6)
        ([10, 10, 9], 100),
        ([0, 3, 6], -100),
        ([7, 8, 7, 8], 0),  # passives only
        ([10, 7], 50),
        ([10, 10, 0], 33),  # 33.3
        ([9, 0, 0], -33),
        ([10, 9, 8, 3, 0, 10, 0, 7, 10], 11),  # (4 - 3) / 9
        ([10, 9, 6], 33),
        ([9, 10, 9, 10, 10, 5], 67),  # 66.7
        ([5], -100),
    ],
)
def test_nps_value(scores: list[int], expected: int) -> None:
    assert nps_value(scores) == expected


def test_nps_value_without_answers_is_none() -> None:
    assert nps_value([]) is None


def test_nps_groups() -> None:
    assert [nps_group(s) for s in range(11)] == ["detractor"] * 7 + ["passive"] * 2 + ["promoter"] * 2


# -- one answer per survey ------------------------------------------------------------------------------


async def test_a_reason_is_answered_once(shop: Shop) -> None:
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA)
    assert (await shop.get(survey_id)).state == "open"

    assert await shop.surveys.answer_reason(OLENA, survey_id, "quality") is Answer.RECORDED
    first = await shop.get(survey_id)
    assert (first.state, first.reason, first.score, first.answered_at) == (
        "awaiting_comment",
        "quality",
        None,
        T0,
    )

    # A second tap, later, on another reason of the same message changes nothing.
    shop.clock.advance(timedelta(minutes=5))
    assert await shop.surveys.answer_reason(OLENA, survey_id, "price") is Answer.ALREADY
    assert await shop.surveys.answer_reason(OLENA, survey_id, "quality") is Answer.ALREADY
    assert await shop.get(survey_id) == first
    # Nor after the comment.
    assert await shop.surveys.finish(OLENA, survey_id, "Stale bread") is not None
    assert await shop.surveys.answer_reason(OLENA, survey_id, "moved") is Answer.ALREADY
    done = await shop.get(survey_id)
    assert (done.state, done.reason, done.comment, done.answered_at) == (
        "answered",
        "quality",
        "Stale bread",
        T0,
    )
    assert await shop.surveys.finish(OLENA, survey_id, "again") is None  # closed once
    assert (await shop.get(survey_id)).comment == "Stale bread"
    assert await shop.coupons() == []
    assert shop.notifier.staff == []
    assert await shop.no_win_back(OLENA) == 0


async def test_a_score_is_answered_once_and_alerts_once(shop: Shop) -> None:
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA, "nps")
    assert await shop.surveys.answer_score(OLENA, survey_id, 2) is Answer.RECORDED
    first = await shop.get(survey_id)
    assert (first.state, first.reason, first.score, first.answered_at) == ("awaiting_comment", None, 2, T0)
    assert [key for key, _ in shop.notifier.staff] == ["staff-alert-detractor"]

    shop.clock.advance(DAY)
    assert await shop.surveys.answer_score(OLENA, survey_id, 10) is Answer.ALREADY
    assert await shop.surveys.answer_score(OLENA, survey_id, 2) is Answer.ALREADY
    assert await shop.get(survey_id) == first
    assert [key for key, _ in shop.notifier.staff] == ["staff-alert-detractor"]


async def test_someone_elses_or_the_wrong_kind_of_survey_is_unknown(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    leave = await shop.open(OLENA)
    nps = await shop.open(OLENA, "nps")

    assert await shop.surveys.answer_reason(DMYTRO, leave, "price") is Answer.UNKNOWN
    assert await shop.surveys.answer_score(DMYTRO, nps, 0) is Answer.UNKNOWN
    assert (
        await shop.surveys.answer_score(OLENA, leave, 5) is Answer.UNKNOWN
    )  # a score on "why did you leave"
    assert await shop.surveys.answer_reason(OLENA, nps, "price") is Answer.UNKNOWN
    assert await shop.surveys.answer_reason(OLENA, leave, "weather") is Answer.UNKNOWN
    assert await shop.surveys.answer_score(OLENA, nps, 11) is Answer.UNKNOWN
    assert await shop.surveys.answer_score(OLENA, nps, -1) is Answer.UNKNOWN
    assert await shop.surveys.answer_reason(OLENA, 9999, "price") is Answer.UNKNOWN
    assert await shop.surveys.finish(DMYTRO, leave, "not mine") is None

    for survey_id in (leave, nps):
        survey = await shop.get(survey_id)
        assert (survey.user_id, survey.state, survey.reason, survey.score, survey.answered_at) == (
            OLENA,
            "open",
            None,
            None,
            None,
        )
    assert shop.notifier.staff == []
    # Still Olena's to answer.
    assert await shop.surveys.answer_reason(OLENA, leave, "price") is Answer.RECORDED


# -- the comment ----------------------------------------------------------------------------------------


async def test_the_comment_is_cut_to_the_configured_length(make_shop: Callable[..., Awaitable[Shop]]) -> None:
    shop = await make_shop(surveys={"comment_max_length": 20})
    await shop.join(OLENA)
    long = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, long, "other")
    done = await shop.surveys.finish(OLENA, long, "   The music was far too loud every evening   ")
    assert done is not None and done.comment == "The music was far to"
    assert (await shop.get(long)).comment == "The music was far to"
    assert len("The music was far to") == 20

    exact = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, exact, "other")
    assert (await shop.surveys.finish(OLENA, exact, "x" * 20)).comment == "x" * 20  # type: ignore[union-attr]

    blank = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, blank, "other")
    done = await shop.surveys.finish(OLENA, blank, "  \n  ")
    assert done is not None and (done.state, done.comment) == ("answered", None)


async def test_the_default_comment_length_is_500(shop: Shop) -> None:
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, survey_id, "other")
    done = await shop.surveys.finish(OLENA, survey_id, "ab" * 400)
    assert done is not None and done.comment == "ab" * 250


async def test_a_comment_is_awaited_within_the_window_only(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    survey_id = await shop.open(OLENA)
    assert await shop.surveys.awaiting_comment(OLENA) is None  # not answered yet
    await shop.surveys.answer_reason(OLENA, survey_id, "forgot")

    assert (await shop.surveys.awaiting_comment(OLENA)).id == survey_id  # type: ignore[union-attr]
    assert await shop.surveys.awaiting_comment(DMYTRO) is None
    shop.clock.set(T0 + timedelta(hours=24))  # [surveys] comment_window_hours = 24
    assert (await shop.surveys.awaiting_comment(OLENA)).id == survey_id  # type: ignore[union-attr]
    shop.clock.set(T0 + timedelta(hours=24, seconds=1))
    assert await shop.surveys.awaiting_comment(OLENA) is None

    # Answered again within the window: once the comment is in, nothing is awaited.
    second = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, second, "other")
    assert (await shop.surveys.awaiting_comment(OLENA)).id == second  # type: ignore[union-attr]
    await shop.surveys.finish(OLENA, second, "Too far from the office now")
    assert await shop.surveys.awaiting_comment(OLENA) is None


async def test_the_window_follows_the_config(make_shop: Callable[..., Awaitable[Shop]]) -> None:
    shop = await make_shop(surveys={"comment_window_hours": 2})
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA, "nps")
    await shop.surveys.answer_score(OLENA, survey_id, 8)
    shop.clock.set(T0 + timedelta(hours=2))
    assert (await shop.surveys.awaiting_comment(OLENA)).id == survey_id  # type: ignore[union-attr]
    shop.clock.set(T0 + timedelta(hours=2, seconds=1))
    assert await shop.surveys.awaiting_comment(OLENA) is None


# -- what each reason does ------------------------------------------------------------------------------


async def lapsed(shop: Shop, user_id: int, name: str) -> None:
    """Opted in 60 days before T0, one purchase 40 days before: lapsed (35 days) since T0 - 5 days."""
    shop.clock.set(T0 - 60 * DAY)
    await shop.join(user_id, name)
    shop.clock.set(T0)
    await shop.buy(user_id, f"old-{user_id}", T0 - 40 * DAY)


@pytest.mark.parametrize("comment", [None, "We moved to Lviv"])
async def test_moved_stops_win_back_for_good(shop: Shop, comment: str | None) -> None:
    await lapsed(shop, OLENA, "Olena")
    await lapsed(shop, DMYTRO, "Dmytro")
    shop.clock.set(T0 - DAY)  # the survey of an earlier win-back: answered before today's planning
    moved = await shop.open(OLENA)
    forgot = await shop.open(DMYTRO)
    assert await shop.surveys.answer_reason(OLENA, moved, "moved") is Answer.RECORDED
    assert await shop.surveys.answer_reason(DMYTRO, forgot, "forgot") is Answer.RECORDED
    if comment is not None:  # with the comment or without it: the tap is the answer
        done = await shop.surveys.finish(OLENA, moved, comment)
        assert done is not None
        assert await shop.surveys.follow_up(done, "en") == (
            "Thank you for letting us know, Olena, and for the time you spent with Test Shop. "
            "We will not bother you with reminders. All the best!"
        )
    assert (await shop.no_win_back(OLENA), await shop.no_win_back(DMYTRO)) == (1, 0)

    shop.clock.set(T0)
    report = await shop.data["planner"].plan()
    assert report.counts[("win_back", "plan", "due")] == 1
    assert await shop.win_back_rows(OLENA) == []
    [row] = await shop.win_back_rows(DMYTRO)
    assert (row["step"], row["state"]) == (0, "planned")

    # She comes back once, then lapses again: still no win-back, ever.
    await shop.buy(OLENA, "once-more", T0 + DAY)
    for day in (2, 30, 45, 60, 200):
        assert (await shop.data["planner"].plan(T0 + day * DAY)).written >= 0
        assert await shop.win_back_rows(OLENA) == []
    assert shop.notifier.staff == []


async def test_service_alerts_staff_with_the_customers_details(shop: Shop) -> None:
    await shop.join(OLENA, "Olena", "Koval", "olena_k")
    await accounts.create(shop.db, T0, card_code="ZERNO-1001", phone="+380501112233", name="Olena Koval")
    assert (await shop.data["customers"].link_card(OLENA, "ZERNO-1001")).value == "linked"
    survey_id = await shop.open(OLENA)
    assert await shop.surveys.answer_reason(OLENA, survey_id, "service") is Answer.RECORDED

    done = await shop.surveys.finish(OLENA, survey_id, "  The barista was <b>rude</b> & slow  ")
    assert done is not None
    assert shop.notifier.staff == [
        (
            "staff-alert-service",
            {
                "name": "Olena Koval",
                "user_id": "1001",
                "link": "tg://user?id=1001",
                "username": "@olena_k",
                "phone": "+380501112233",
                "card": "ZERNO-1001",
                "tier": "tier-new",
                "comment": "The barista was <b>rude</b> & slow",
            },
        )
    ]
    _, args = shop.notifier.staff[0]
    assert isinstance(args["tier"], TextKey)
    # How it reads in the owner's chat: the customer's words cannot change the message.
    tr = shop.texts.translator("en")
    values = {k: tr(v) if isinstance(v, TextKey) else v for k, v in args.items()}
    assert tr("staff-alert-service", **values) == (
        '⚠️ <b>Complaint about service</b> from <a href="tg://user?id=1001">Olena Koval</a> '
        "(@olena_k, id 1001, phone +380501112233, card ZERNO-1001, New).\n"
        "Comment: The barista was &lt;b&gt;rude&lt;/b&gt; &amp; slow\n"
        "Please get in touch with them."
    )
    assert await shop.surveys.follow_up(done, "en") == (
        "We are truly sorry, Olena. This is not how it should be at Test Shop. "
        "A member of our team will get in touch with you personally."
    )


async def test_service_without_a_comment_alerts_with_a_dash(shop: Shop) -> None:
    await shop.join(OLENA)  # no card, no phone, no username
    survey_id = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, survey_id, "service")
    await shop.surveys.finish(OLENA, survey_id, None)
    assert shop.notifier.staff == [
        (
            "staff-alert-service",
            {
                "name": "Olena",
                "user_id": "1001",
                "link": "tg://user?id=1001",
                "username": "—",
                "phone": "—",
                "card": "—",
                "tier": "tier-new",
                "comment": "—",
            },
        )
    ]


async def test_a_detractor_alerts_staff_at_once_and_again_with_the_comment(shop: Shop) -> None:
    await shop.join(OLENA, "Olena", None, "olena_k")
    await shop.buy(OLENA, "p1", T0 - 3 * DAY)
    survey_id = await shop.open(OLENA, "nps")
    assert await shop.surveys.answer_score(OLENA, survey_id, 3) is Answer.RECORDED
    # Before any comment: the tap alone is enough.
    assert shop.notifier.staff == [
        (
            "staff-alert-detractor",
            {
                "name": "Olena",
                "user_id": "1001",
                "link": "tg://user?id=1001",
                "username": "@olena_k",
                "phone": "+380500001001",
                "card": "—",
                "tier": "tier-new",
                "score": 3,
            },
        )
    ]
    await shop.surveys.finish(OLENA, survey_id, "Cold coffee")
    assert shop.notifier.staff[1] == (
        "staff-alert-detractor-comment",
        {
            "name": "Olena",
            "user_id": "1001",
            "link": "tg://user?id=1001",
            "username": "@olena_k",
            "phone": "+380500001001",
            "card": "—",
            "tier": "tier-new",
            "score": 3,
            "comment": "Cold coffee",
        },
    )
    assert len(shop.notifier.staff) == 2


@pytest.mark.parametrize(("score", "alerts"), [(0, 1), (6, 1), (7, 0), (8, 0), (9, 0), (10, 0)])
async def test_only_detractors_alert(shop: Shop, score: int, alerts: int) -> None:
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA, "nps")
    await shop.surveys.answer_score(OLENA, survey_id, score)
    await shop.surveys.finish(OLENA, survey_id, None)  # no comment: no second alert
    assert [key for key, _ in shop.notifier.staff] == ["staff-alert-detractor"] * alerts


async def test_price_follow_up_brings_a_personal_coupon(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro", language="uk")
    olena = await shop.open(OLENA)
    dmytro = await shop.open(DMYTRO)
    await shop.surveys.answer_reason(OLENA, olena, "price")
    await shop.surveys.answer_reason(DMYTRO, dmytro, "price")
    done_olena = await shop.surveys.finish(OLENA, olena, "Too expensive")
    done_dmytro = await shop.surveys.finish(DMYTRO, dmytro, None)
    assert done_olena is not None and done_dmytro is not None

    english = await shop.surveys.follow_up(done_olena, "en")
    code = code_in(english)
    assert english == (
        "Thank you, Olena. Here is a personal offer so you can come back to Test Shop for less: "
        f"<b>15%</b> off with the code <code>{code}</code>, valid until March 24, 2026."
    )
    ukrainian = await shop.surveys.follow_up(done_dmytro, "uk")
    other = code_in(ukrainian)
    assert ukrainian == (
        "Дякуємо, Dmytro. Ось персональна пропозиція, щоб повернутися до Test Shop вигідніше: "
        f"<b>знижка 15%</b> за кодом <code>{other}</code>, діє до 24 березня 2026\u202fр."
    )
    assert other != code
    coupons = {c["code"]: c for c in await shop.coupons()}
    assert set(coupons) == {code, other}
    for coupon_code, user_id in ((code, OLENA), (other, DMYTRO)):
        coupon = coupons[coupon_code]
        assert (coupon["user_id"], coupon["rule"], coupon["outbox_id"]) == (user_id, "survey_price", None)
        assert (coupon["kind"], coupon["value"]) == ("percent", 15)
        assert (coupon["issued_at"], coupon["valid_until"]) == (to_db(T0), to_db(T0 + 14 * DAY))
        assert coupon["redeemed_at"] is None


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (
            "quality",
            "Thank you for being honest, Olena, and sorry we let you down. "
            "We have been working on it — come and see what is new at Test Shop.",
        ),
        (
            "forgot",
            "Easy to do, Olena! Here is what is new at Test Shop — we would be glad to see you again.",
        ),
        (
            "other",
            "Thank you, Olena. We read every answer and will use yours to make Test Shop better.",
        ),
    ],
)
async def test_other_follow_ups_bring_no_coupon(shop: Shop, reason: str, text: str) -> None:
    await shop.join(OLENA)
    survey_id = await shop.open(OLENA)
    await shop.surveys.answer_reason(OLENA, survey_id, reason)
    done = await shop.surveys.finish(OLENA, survey_id, None)
    assert done is not None
    assert await shop.surveys.follow_up(done, "en") == text
    assert await shop.coupons() == []
    assert shop.notifier.staff == []


# -- the report -----------------------------------------------------------------------------------------


async def test_report_counts_reasons_and_nps_by_period(shop: Shop) -> None:
    r = T0 + 100 * DAY  # the moment of the report
    for user_id in (OLENA, DMYTRO):
        await shop.join(user_id)
    # Why customers left: the last 90 days count, older answers and unanswered surveys do not.
    await shop.leave_answer(OLENA, "price", r - 91 * DAY, "Old news")
    await shop.leave_answer(OLENA, "price", r - 89 * DAY)
    await shop.leave_answer(DMYTRO, "service", r - 45 * DAY, "Slow")
    await shop.leave_answer(OLENA, "price", r - 10 * DAY)
    await shop.leave_answer(DMYTRO, "price", r - DAY, "Too expensive")
    shop.clock.set(r - 2 * DAY)
    await shop.open(OLENA)  # sent, never answered
    # NPS: the last 30 days [8, 10, 9, 3] → (2 − 1) / 4 = +25; the 30 before [0, 10, 0] → −33;
    # 90 days [8, 10, 9, 3, 0, 10, 0, 7, 10] → (4 − 3) / 9 = +11.
    await shop.nps_answer(OLENA, 0, r - 120 * DAY)
    await shop.nps_answer(OLENA, 0, r - 90 * DAY - timedelta(seconds=1))
    await shop.nps_answer(DMYTRO, 10, r - 90 * DAY)
    await shop.nps_answer(OLENA, 7, r - 75 * DAY)
    await shop.nps_answer(DMYTRO, 0, r - 60 * DAY)
    await shop.nps_answer(OLENA, 10, r - 45 * DAY)
    await shop.nps_answer(DMYTRO, 0, r - 30 * DAY - timedelta(seconds=1))
    await shop.nps_answer(OLENA, 3, r - 30 * DAY, "<b>Cold</b> coffee & rude")
    await shop.nps_answer(DMYTRO, 9, r - 29 * DAY)
    await shop.nps_answer(OLENA, 10, r - 5 * DAY)
    await shop.nps_answer(DMYTRO, 8, r)
    shop.clock.set(r)

    report = await shop.surveys.report()
    assert report.since == r - 90 * DAY
    assert report.reasons == {"price": 3, "service": 1}
    assert report.reasons_total == 4
    assert (report.share("price"), report.share("service"), report.share("moved")) == (75, 25, 0)
    assert (report.nps_30, report.nps_previous_30, report.nps_90) == (25, -33, 11)
    assert (report.answers_30, report.answers_90) == (4, 9)
    assert report.trend == 58
    # Newest first, five at most, from the 90 days the report covers ("Old news" is older).
    assert [s.comment for s in report.latest_comments] == [
        "Too expensive",
        "<b>Cold</b> coffee & rude",
        "Slow",
    ]


async def test_an_empty_report(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.open(OLENA)
    report = await shop.surveys.report()
    assert report.reasons == {} and report.reasons_total == 0 and report.share("price") == 0
    assert (report.nps_30, report.nps_90, report.nps_previous_30, report.trend) == (None, None, None, None)
    assert (report.answers_30, report.answers_90, report.latest_comments) == (0, 0, [])


async def test_the_trend_needs_both_periods(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.nps_answer(OLENA, 10, T0 - DAY)
    shop.clock.set(T0)
    report = await shop.surveys.report()
    assert (report.nps_30, report.nps_previous_30, report.trend) == (100, None, None)


async def test_latest_comments_are_five(shop: Shop) -> None:
    await shop.join(OLENA)
    for n in range(7):
        await shop.leave_answer(OLENA, "other", T0 + n * timedelta(hours=1), f"comment {n}")
    report = await shop.surveys.report()
    assert [s.comment for s in report.latest_comments] == [f"comment {n}" for n in (6, 5, 4, 3, 2)]
    assert report.reasons == {"other": 7}


# -- export and erasure ---------------------------------------------------------------------------------


async def test_export_rows(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    assert await shop.surveys.export_rows() == [EXPORT_HEADER]
    shop.clock.set(T0 - 2 * DAY)
    unanswered = await shop.open(DMYTRO)
    leave = await shop.open(OLENA)
    shop.clock.set(T0 - DAY)
    nps = await shop.open(DMYTRO, "nps")
    shop.clock.set(T0)
    await shop.surveys.answer_score(DMYTRO, nps, 9)  # awaiting its comment: exported already
    shop.clock.set(T0 + timedelta(hours=1))
    await shop.surveys.answer_reason(OLENA, leave, "price")
    await shop.surveys.finish(OLENA, leave, 'Cheaper at "Kava", sorry, really')

    assert await shop.surveys.export_rows() == [
        EXPORT_HEADER,
        [str(nps), "nps", "1002", "2026-03-09T09:00:00+00:00", "2026-03-10T09:00:00+00:00", "", "9", ""],
        [
            str(leave),
            "leave",
            "1001",
            "2026-03-08T09:00:00+00:00",
            "2026-03-10T10:00:00+00:00",
            "price",
            "",
            'Cheaper at "Kava", sorry, really',
        ],
    ]
    assert unanswered not in (nps, leave)


async def test_erasure_keeps_the_answer_without_the_person(shop: Shop) -> None:
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro")
    olena = await shop.leave_answer(OLENA, "price", T0, "My name is Olena Koval, call +380501112233")
    scored = await shop.nps_answer(OLENA, 4, T0 + timedelta(minutes=1), "Olena again")
    pending = await shop.open(OLENA)
    dmytro = await shop.leave_answer(DMYTRO, "forgot", T0 + timedelta(minutes=2), "Dmytro's words")

    assert await shop.data["customers"].erase(OLENA) is True

    kept = await shop.get(olena)
    assert (kept.user_id, kept.kind, kept.reason, kept.comment, kept.state, kept.answered_at) == (
        None,
        "leave",
        "price",
        None,
        "answered",
        T0,
    )
    kept_score = await shop.get(scored)
    assert (kept_score.user_id, kept_score.score, kept_score.comment) == (None, 4, None)
    assert (await shop.get(pending)).user_id is None
    untouched = await shop.get(dmytro)
    assert (untouched.user_id, untouched.comment) == (DMYTRO, "Dmytro's words")
    assert await surveys.for_user(shop.db, OLENA, 10) == []

    report = await shop.surveys.report()
    assert report.reasons == {"price": 1, "forgot": 1}
    assert (report.nps_30, report.answers_30) == (-100, 1)
    assert [s.comment for s in report.latest_comments] == ["Dmytro's words"]
    rows = await shop.surveys.export_rows()
    assert [r[2] for r in rows[1:]] == ["", "", "1002"]
    assert [r[7] for r in rows[1:]] == ["", "", "Dmytro's words"]
    assert [r[5] for r in rows[1:]] == ["price", "", "forgot"]
    # Nothing the erased person wrote is left anywhere in the table.
    dump = [tuple(r) for r in await shop.db.fetch_all("SELECT * FROM surveys")]
    assert not any("Olena" in str(v) for row in dump for v in row)
    # Her old buttons are nobody's now.
    assert await shop.surveys.answer_reason(OLENA, pending, "moved") is Answer.UNKNOWN


async def seed_answers(config_path: Path) -> None:
    async with open_application(load_config(config_path), ManualClock(T0)) as data:
        service = data["surveys"]
        await data["customers"].start(TelegramProfile(OLENA, "Olena", None, None, "uk"), None)
        async with data["db"].transaction() as tx:
            leave = await surveys.open_survey(tx, OLENA, "leave", None, T0 - DAY)
            nps = await surveys.open_survey(tx, OLENA, "nps", None, T0 - DAY)
        await service.answer_reason(OLENA, leave, "price")
        await service.finish(OLENA, leave, 'Дорого, "дуже"\nвибачте')
        await service.answer_score(OLENA, nps, 9)


def test_the_export_command_writes_a_csv_file(
    tmp_path: Path, no_bot_token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        f'[database]\npath = "{tmp_path / "bot.sqlite3"}"\n\n[shop]\nname = "Test Shop"\n', encoding="utf-8"
    )
    asyncio.run(seed_answers(config_path))
    target = tmp_path / "answers.csv"
    assert main(["--config", str(config_path), "export", "surveys", str(target)]) == 0
    assert capsys.readouterr().out == f"{target}: 2 survey answers\n"
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # spreadsheets read the Cyrillic right
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))) == [
        EXPORT_HEADER,
        [
            "1",
            "leave",
            "1001",
            "2026-03-09T09:00:00+00:00",
            "2026-03-10T09:00:00+00:00",
            "price",
            "",
            'Дорого, "дуже"\nвибачте',
        ],
        ["2", "nps", "1001", "2026-03-09T09:00:00+00:00", "2026-03-10T09:00:00+00:00", "", "9", ""],
    ]


async def test_a_tap_whose_comment_never_comes_still_gets_its_follow_up_and_alert(shop: Shop) -> None:
    """Nobody is dropped: past the comment window the survey closes itself, the customer gets the
    follow-up (here the price coupon) and staff the service alert."""
    await shop.join(OLENA)
    await shop.join(DMYTRO, "Dmytro", language="ru")
    price = await shop.open(OLENA)
    service = await shop.open(DMYTRO)
    assert await shop.surveys.answer_reason(OLENA, price, "price") is Answer.RECORDED
    assert await shop.surveys.answer_reason(DMYTRO, service, "service") is Answer.RECORDED

    shop.clock.advance(timedelta(hours=23))
    assert await shop.surveys.close_abandoned() == 0  # still within the 24-hour window
    assert shop.notifier.texts == []

    shop.clock.advance(timedelta(hours=2))
    assert await shop.surveys.close_abandoned() == 2
    assert [user for user, _ in shop.notifier.texts] == [OLENA, DMYTRO]
    olena_text, dmytro_text = (html for _, html in shop.notifier.texts)
    assert code_in(olena_text) in [c["code"] for c in await shop.coupons()]
    assert dmytro_text.startswith("Нам очень жаль, Dmytro.")
    assert [key for key, _ in shop.notifier.staff] == ["staff-alert-service"]
    assert (await shop.get(price)).state == "answered"
    assert await shop.surveys.close_abandoned() == 0  # closed once


def test_exports_cannot_smuggle_formulas_into_a_spreadsheet() -> None:
    rows = [["comment", "points"], ['=HYPERLINK("http://x")', "-10"], ["@SUM(A1)", "+5"], ["ok", "7"]]
    text = to_csv_bytes(rows).decode("utf-8-sig")
    assert text.splitlines() == [
        "comment,points",
        '"\'=HYPERLINK(""http://x"")",-10',
        "'@SUM(A1),+5",
        "ok,7",
    ]
