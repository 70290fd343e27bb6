"""Loyalty: what a customer's points, tier and next expiry are, from the ledger and purchases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from babel.numbers import get_currency_precision

from bot.clock import Clock
from bot.config import Config
from bot.models import LoyaltyAccount, Tier
from bot.rules.points import Expiry, balance, next_expiry, tier_for
from bot.storage import accounts, ledger
from bot.storage.db import Database

TIER_WINDOW = timedelta(days=365)


@dataclass(frozen=True)
class BalanceView:
    account: LoyaltyAccount
    points: int
    tier: Tier
    next_expiry: Expiry | None
    purchases_12m: int
    spend_12m_minor: int


class LoyaltyService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self._db = db
        self._clock = clock
        self._config = config

    async def balance_for_user(self, user_id: int) -> BalanceView | None:
        """None when the customer has not linked a loyalty account yet."""
        account = await accounts.by_user(self._db, user_id)
        return None if account is None else await self.balance_for_account(account)

    async def balance_for_account(self, account: LoyaltyAccount) -> BalanceView:
        now = self._clock.now()
        entries = await ledger.entries(self._db, account.id)
        recent = await ledger.purchases_since(self._db, account.id, now - TIER_WINDOW)
        spend = sum(p.amount_minor for p in recent)
        rules = self._config.loyalty
        if rules.tier_basis == "purchases":
            activity = len(recent)
        else:
            activity = spend // 10 ** get_currency_precision(self._config.shop.currency)
        return BalanceView(
            account=account,
            points=balance(entries),
            tier=tier_for(activity, rules.regular_from, rules.loyal_from),
            next_expiry=next_expiry(entries, now),
            purchases_12m=len(recent),
            spend_12m_minor=spend,
        )
