"""Callback data of inline buttons. Short prefixes: Telegram allows 64 bytes in all."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ConsentAnswer(CallbackData, prefix="consent"):
    granted: bool
    source: str  # where the conversation began (deep-link payload), recorded with the decision


class ForgetAnswer(CallbackData, prefix="forget"):
    confirmed: bool


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class PurchaseConfirm(CallbackData, prefix="buy"):
    """A staff member's answer to a purchase preview; the pending purchase waits in FSM data under `op`."""

    op: str
    confirmed: bool


class FewerMessages(CallbackData, prefix="fewer"):
    """The "Fewer messages" button under every nudge, and the choices it offers."""

    choice: str  # "ask", "weekly", "monthly", "pause", "stop"


class SurveyReason(CallbackData, prefix="why"):
    survey: int
    reason: str


class SurveyScore(CallbackData, prefix="nps"):
    survey: int
    score: int


class SurveySkip(CallbackData, prefix="skip"):
    """ "No comment" after an answer."""

    survey: int


class CampaignStep(CallbackData, prefix="camp"):
    action: str  # seg, tpl, own, go, cancel, stop
    value: str = ""
