"""Feedback: "why did you leave?" with a follow-up per reason, NPS with staff alerts, and the report.

One answer per survey; a comment may follow the tap within a window; everything a customer wrote is
length-limited here and escaped wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.config import Config
from bot.notify import Notifier, NullNotifier, TextKey
from bot.rules.codes import coupon_code
from bot.services.loyalty import LoyaltyService
from bot.services.nudges import LEAVE_REASONS
from bot.storage import accounts, coupons, customers, surveys
from bot.storage.db import Database
from bot.storage.surveys import Survey
from bot.templates import NudgeTemplates, TemplateProblem
from bot.texts import resolve_language

PRICE_COUPON = ("percent", 15, 14)  # kind, value, valid days: the personal coupon for "price"


class Answer(StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # a second tap, or a tap on an old survey's buttons
    UNKNOWN = "unknown"  # not this customer's survey


def nps_group(score: int) -> str:
    if score <= 6:
        return "detractor"
    return "promoter" if score >= 9 else "passive"


def nps_value(scores: list[int]) -> int | None:
    """% promoters − % detractors, rounded; None without answers."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores))


@dataclass
class SurveyReport:
    since: datetime
    reasons: dict[str, int] = field(default_factory=dict)
    nps_30: int | None = None
    nps_90: int | None = None
    nps_previous_30: int | None = None
    answers_30: int = 0
    answers_90: int = 0
    latest_comments: list[Survey] = field(default_factory=list)

    @property
    def reasons_total(self) -> int:
        return sum(self.reasons.values())

    def share(self, reason: str) -> int:
        total = self.reasons_total
        return round(100 * self.reasons.get(reason, 0) / total) if total else 0

    @property
    def trend(self) -> int | None:
        if self.nps_30 is None or self.nps_previous_30 is None:
            return None
        return self.nps_30 - self.nps_previous_30


class SurveyService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: Config,
        templates: NudgeTemplates,
        loyalty: LoyaltyService,
        notifier: Notifier | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._templates = templates
        self._loyalty = loyalty
        self._notifier: Notifier = notifier or NullNotifier()

    async def get(self, survey_id: int) -> Survey | None:
        return await surveys.get(self._db, survey_id)

    async def answer_reason(self, user_id: int, survey_id: int, reason: str) -> Answer:
        if reason not in LEAVE_REASONS:
            return Answer.UNKNOWN
        result = await self._answer(user_id, survey_id, "leave", reason=reason, score=None)
        if result is Answer.RECORDED and reason == "moved":
            # At the tap, not with the comment: they may never write one or tap "No comment".
            await customers.set_no_win_back(self._db, user_id, self._clock.now())
        return result

    async def answer_score(self, user_id: int, survey_id: int, score: int) -> Answer:
        if not 0 <= score <= 10:
            return Answer.UNKNOWN
        result = await self._answer(user_id, survey_id, "nps", reason=None, score=score)
        if result is Answer.RECORDED and nps_group(score) == "detractor":
            # At once: a detractor is the shop's chance to put things right today.
            await self._alert(user_id, "staff-alert-detractor", score=score)
        return result

    async def _answer(
        self, user_id: int, survey_id: int, kind: str, *, reason: str | None, score: int | None
    ) -> Answer:
        survey = await surveys.get(self._db, survey_id)
        if survey is None or survey.user_id != user_id or survey.kind != kind:
            return Answer.UNKNOWN
        recorded = await surveys.answer(
            self._db,
            survey_id,
            user_id,
            reason=reason,
            score=score,
            now=self._clock.now(),
            awaiting_comment=True,
        )
        return Answer.RECORDED if recorded else Answer.ALREADY

    async def awaiting_comment(self, user_id: int) -> Survey | None:
        since = self._clock.now() - timedelta(hours=self._config.surveys.comment_window_hours)
        return await surveys.awaiting_comment(self._db, user_id, since)

    async def finish(self, user_id: int, survey_id: int, comment: str | None) -> Survey | None:
        """Close the survey with the comment (None: skipped); None if it was closed already."""
        survey = await surveys.get(self._db, survey_id)
        if survey is None or survey.user_id != user_id:
            return None
        text = comment.strip()[: self._config.surveys.comment_max_length] if comment else None
        if not await surveys.finish(self._db, survey_id, text or None):
            return None
        done = await surveys.get(self._db, survey_id)
        assert done is not None
        if done.kind == "leave" and done.reason == "service":
            await self._alert(user_id, "staff-alert-service", comment=done.comment or "—")
        elif (
            done.kind == "nps"
            and done.score is not None
            and nps_group(done.score) == "detractor"
            and done.comment
        ):
            await self._alert(
                user_id, "staff-alert-detractor-comment", score=done.score, comment=done.comment
            )
        return done

    async def close_abandoned(self) -> int:
        """Surveys answered by a tap whose comment never came: closed without one, and the customer still
        gets the follow-up (the price coupon, the apology) and staff their alert. Returns how many."""
        before = self._clock.now() - timedelta(hours=self._config.surveys.comment_window_hours)
        closed = 0
        for survey in await surveys.abandoned(self._db, before):
            if survey.user_id is None:
                continue
            done = await self.finish(survey.user_id, survey.id, None)
            if done is None:
                continue
            closed += 1
            if done.kind == "leave" and done.reason is not None:
                customer = await customers.get(self._db, survey.user_id)
                language = resolve_language(
                    customer.language if customer else None,
                    customer.telegram_language if customer else None,
                    self._config.shop.default_language,
                )
                await self._notifier.send_text(survey.user_id, await self.follow_up(done, language))
        return closed

    async def follow_up(self, survey: Survey, language: str) -> str:
        """The templated answer to a "why did you leave" reason, in the customer's language."""
        assert survey.user_id is not None and survey.reason is not None
        customer = await customers.get(self._db, survey.user_id)
        coupon_ctx = None
        if survey.reason == "price":
            coupon_ctx = await self._issue_price_coupon(survey)
        context = {
            "customer": {"first_name": customer.first_name if customer else ""},
            "shop": {"name": self._config.shop.name},
            "coupon": coupon_ctx,
            "comment": survey.comment or "",
        }
        try:
            text, _used = self._templates.render(f"followup_{survey.reason}", language, context)
        except TemplateProblem:
            text, _used = self._templates.render("followup_other", language, context)
        return text

    async def _issue_price_coupon(self, survey: Survey) -> dict[str, object]:
        assert survey.user_id is not None
        kind, value, days = PRICE_COUPON
        now = self._clock.now()
        valid_until = now + timedelta(days=days)
        async with self._db.transaction() as tx:
            while True:
                code = coupon_code()
                if await coupons.insert(
                    tx, code, survey.user_id, "survey_price", None, kind, value, now, valid_until
                ):
                    break
        return {"code": code, "kind": kind, "value": value, "valid_until": valid_until}

    async def _alert(self, user_id: int, key: str, **args: str | int) -> None:
        customer = await customers.get(self._db, user_id)
        account = await accounts.by_user(self._db, user_id)
        view = await self._loyalty.balance_for_user(user_id)
        name = " ".join(p for p in (customer.first_name, customer.last_name) if p) if customer else "?"
        # Staff texts put these into Telegram HTML; the link opens the customer's profile.
        await self._notifier.notify_staff(
            key,
            name=name,
            user_id=str(user_id),
            link=f"tg://user?id={user_id}",
            username=f"@{customer.username}" if customer and customer.username else "—",
            phone=(account.phone if account and account.phone else "—"),
            card=(account.card_code if account and account.card_code else "—"),
            tier=TextKey(f"tier-{view.tier.value}") if view else TextKey("tier-new"),
            **args,
        )

    async def report(self) -> SurveyReport:
        now = self._clock.now()
        since_90 = now - timedelta(days=90)
        report = SurveyReport(since=since_90)
        for survey in await surveys.answered_between(self._db, "leave", since_90, now + timedelta(seconds=1)):
            if survey.reason:
                report.reasons[survey.reason] = report.reasons.get(survey.reason, 0) + 1
        nps_90 = await surveys.answered_between(self._db, "nps", since_90, now + timedelta(seconds=1))
        last_30 = [
            s.score
            for s in nps_90
            if s.score is not None and s.answered_at and s.answered_at >= now - timedelta(days=30)
        ]
        previous = await surveys.answered_between(
            self._db, "nps", now - timedelta(days=60), now - timedelta(days=30)
        )
        report.nps_30 = nps_value(last_30)
        report.nps_90 = nps_value([s.score for s in nps_90 if s.score is not None])
        report.nps_previous_30 = nps_value([s.score for s in previous if s.score is not None])
        report.answers_30 = len(last_30)
        report.answers_90 = len(nps_90)
        report.latest_comments = await surveys.latest_comments(self._db, 5, since_90)
        return report

    async def export_rows(self) -> list[list[str]]:
        header = ["survey_id", "kind", "customer_id", "sent_at", "answered_at", "reason", "score", "comment"]
        rows = [header]
        for s in await surveys.all_answered(self._db):
            rows.append(
                [
                    str(s.id),
                    s.kind,
                    str(s.user_id) if s.user_id is not None else "",
                    s.sent_at.isoformat(),
                    s.answered_at.isoformat() if s.answered_at else "",
                    s.reason or "",
                    "" if s.score is None else str(s.score),
                    s.comment or "",
                ]
            )
        return rows
