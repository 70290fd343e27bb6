"""The staff side: who is staff, headline numbers, and everything about one customer."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Config
from bot.models import ConsentEvent, Customer, LoyaltyAccount, Purchase
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.services.loyalty import BalanceView, LoyaltyService
from bot.storage import accounts, customers, ledger, outbox, surveys
from bot.storage.db import Database
from bot.storage.outbox import OutboxRow
from bot.storage.surveys import Survey


@dataclass(frozen=True)
class CustomerCard:
    """What staff see about one customer."""

    customer: Customer | None
    account: LoyaltyAccount | None
    balance: BalanceView | None
    consent_history: list[ConsentEvent] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    messages: list[OutboxRow] = field(default_factory=list)
    surveys: list[Survey] = field(default_factory=list)


class StaffService:
    def __init__(self, db: Database, config: Config, loyalty: LoyaltyService) -> None:
        self._db = db
        self._config = config
        self._loyalty = loyalty

    def is_staff(self, user_id: int) -> bool:
        return self._config.staff.is_staff(user_id)

    def is_owner(self, user_id: int) -> bool:
        return self._config.staff.is_owner(user_id)

    async def stats(self) -> dict[str, int]:
        return await customers.counts(self._db)

    async def look_up(self, query: str) -> CustomerCard | None:
        """By Telegram id, @username, phone or card code, in that order of certainty."""
        query = query.strip()
        customer: Customer | None = None
        account: LoyaltyAccount | None = None
        if query.startswith("@"):
            customer = await customers.find_by_username(self._db, query)
        elif query.isdigit() and len(query) <= 12 and (found := await customers.get(self._db, int(query))):
            customer = found
        if customer is None and not query.startswith("@"):
            phone = (
                normalize_phone(query, self._config.shop.phone_region) if query[:1] in "+0123456789" else None
            )
            if phone:
                account = await accounts.by_phone(self._db, phone)
            if account is None and (code := normalize_card_code(query)):
                account = await accounts.by_card(self._db, code)
            if account is not None and account.user_id is not None:
                customer = await customers.get(self._db, account.user_id)
        if customer is not None and account is None:
            account = await accounts.by_user(self._db, customer.user_id)
        if customer is None and account is None:
            return None
        view = await self._loyalty.balance_for_account(account) if account else None
        card = CustomerCard(customer, account, view)
        if customer is not None:
            card.consent_history.extend(await customers.consent_history(self._db, customer.user_id))
            card.messages.extend(await outbox.latest_for_user(self._db, customer.user_id, 5))
            card.surveys.extend(await surveys.for_user(self._db, customer.user_id, 3))
        if account is not None:
            card.purchases.extend((await ledger.purchases(self._db, account.id))[-5:][::-1])
        return card
