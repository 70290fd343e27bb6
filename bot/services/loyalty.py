"""Loyalty: purchases in, points earned, redeemed, adjusted and expired; tiers, referrals, birthdays.

Every change of points is one transaction over the append-only ledger, keyed by an external id so that
the same purchase or adjustment applied twice changes nothing the second time.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from babel.numbers import get_currency_precision

from bot.clock import Clock
from bot.config import Config
from bot.models import LedgerEntry, LedgerKind, LoyaltyAccount, Tier
from bot.notify import Notifier, NullNotifier, TextKey
from bot.rules.earning import add_months, points_for_amount
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.rules.points import Expiry, balance, expired_lots, expiring_between, next_expiry, tier_for
from bot.storage import accounts, customers, ledger, referrals
from bot.storage.db import Database, Reader, Tx

log = logging.getLogger(__name__)
TIER_WINDOW = timedelta(days=365)
_TIER_RANK = {Tier.NEW: 0, Tier.REGULAR: 1, Tier.LOYAL: 2}


class LoyaltyError(Exception):
    """A request the rules refuse. `field` names the input at fault; `key` is the text to show."""

    def __init__(self, field: str, key: str, **args: str | int) -> None:
        super().__init__(f"{field}: {key}")
        self.field = field
        self.key = key
        self.args_for_text = args


@dataclass(frozen=True)
class PurchaseItem:
    sku: str
    name: str
    qty: Decimal
    price_minor: int


@dataclass(frozen=True)
class PurchaseInput:
    """A purchase as the till, a CSV line or a staff member reports it."""

    purchase_id: str
    amount_minor: int
    currency: str
    at: datetime
    phone: str | None = None
    card: str | None = None
    account_id: int | None = None
    items: tuple[PurchaseItem, ...] = ()
    note: str | None = None


class PurchaseStatus(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class PurchaseResult:
    status: PurchaseStatus
    account_id: int
    user_id: int | None
    points_earned: int = 0
    bonus_points: int = 0
    tier_before: Tier = Tier.NEW
    tier_after: Tier = Tier.NEW
    referrer_rewarded: int | None = None  # the inviter's user id, when this purchase paid the referral
    notices: list[tuple[int, str, dict[str, str | int]]] = field(default_factory=list)


@dataclass(frozen=True)
class BalanceView:
    account: LoyaltyAccount
    points: int
    tier: Tier
    next_expiry: Expiry | None
    purchases_12m: int
    spend_12m_minor: int


class ReferralResult(StrEnum):
    ACCEPTED = "accepted"
    SELF = "self"
    UNKNOWN_CODE = "unknown-code"
    ALREADY_INVITED = "already-invited"
    ALREADY_CUSTOMER = "already-customer"
    LOOP = "loop"


class LoyaltyService:
    def __init__(self, db: Database, clock: Clock, config: Config, notifier: Notifier | None = None) -> None:
        self._db = db
        self._clock = clock
        self._config = config
        self._rules = config.loyalty
        self._notifier: Notifier = notifier or NullNotifier()
        self.currency_digits = int(get_currency_precision(config.shop.currency))

    # -- looking ------------------------------------------------------------------------------------

    async def balance_for_user(self, user_id: int) -> BalanceView | None:
        """None when the customer has not linked a loyalty account yet."""
        account = await accounts.by_user(self._db, user_id)
        return None if account is None else await self.balance_for_account(account)

    async def balance_for_account(self, account: LoyaltyAccount) -> BalanceView:
        now = self._clock.now()
        entries = await ledger.entries(self._db, account.id)
        count, spend = await ledger.activity_since(self._db, account.id, now - TIER_WINDOW)
        return BalanceView(
            account=account,
            # Lots past their expiry count as gone already, before the nightly job writes it down.
            points=balance(entries) - sum(lot.points for lot in expired_lots(entries, now)),
            tier=self._tier(count, spend),
            next_expiry=next_expiry(entries, now),
            purchases_12m=count,
            spend_12m_minor=spend,
        )

    async def history(self, user_id: int, limit: int = 10) -> list[LedgerEntry] | None:
        account = await accounts.by_user(self._db, user_id)
        if account is None:
            return None
        return list(reversed(await ledger.entries(self._db, account.id, limit=limit)))

    async def resolve_account(self, query: str) -> LoyaltyAccount | None:
        """Staff's way to name a customer: Telegram id, @username, phone or card code."""
        query = query.strip()
        if query.startswith("@"):
            found = await customers.find_by_username(self._db, query)
            return await accounts.by_user(self._db, found.user_id) if found else None
        if query.isdigit() and len(query) <= 12 and (by_id := await accounts.by_user(self._db, int(query))):
            return by_id
        if query[:1] in "+0123456789" and (phone := normalize_phone(query, self._config.shop.phone_region)):
            by_phone = await accounts.by_phone(self._db, phone)
            if by_phone is not None:
                return by_phone
        code = normalize_card_code(query)
        return await accounts.by_card(self._db, code) if code else None

    async def expiring_within(self, days: int) -> list[tuple[LoyaltyAccount, int, datetime]]:
        """Accounts with points expiring in the next `days` days: (account, points, first expiry)."""
        now = self._clock.now()
        end = now + timedelta(days=days)
        found: list[tuple[LoyaltyAccount, int, datetime]] = []
        for account_id in await ledger.accounts_with_expiry_between(self._db, now, end):
            entries = await ledger.entries(self._db, account_id)
            points = expiring_between(entries, now, end)
            soonest = next_expiry(entries, now)
            account = await accounts.get(self._db, account_id)
            if points > 0 and soonest is not None and account is not None:
                found.append((account, points, soonest.at))
        return found

    # -- purchases ----------------------------------------------------------------------------------

    def points_for(self, amount_minor: int) -> int:
        return points_for_amount(
            amount_minor, self.currency_digits, self._rules.cashback_percent, self._rules.rounding
        )

    async def record_purchase(self, purchase: PurchaseInput, *, actor: str, source: str) -> PurchaseResult:
        """Record a purchase and its points once; the same purchase id again changes nothing."""
        self._check_purchase(purchase)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            result = await self._record_in(tx, purchase, actor=actor, source=source, now=now)
        await self._send_notices(result)
        return result

    async def record_purchases(
        self, purchases: list[PurchaseInput], *, actor: str, source: str
    ) -> list[PurchaseResult]:
        """All or nothing: one transaction for the whole batch (CSV import). No messages are sent."""
        for purchase in purchases:
            self._check_purchase(purchase)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            return [await self._record_in(tx, p, actor=actor, source=source, now=now) for p in purchases]

    def _check_purchase(self, purchase: PurchaseInput) -> None:
        if not purchase.purchase_id.strip() or len(purchase.purchase_id) > 100:
            raise LoyaltyError("purchase_id", "error-purchase-id")
        if purchase.currency != self._config.shop.currency:
            raise LoyaltyError("currency", "error-currency", expected=self._config.shop.currency)
        if purchase.amount_minor < 0:
            raise LoyaltyError("amount", "error-amount")
        if purchase.at.tzinfo is None:
            raise LoyaltyError("at", "error-time")
        if purchase.at > self._clock.now() + timedelta(days=1):
            raise LoyaltyError("at", "error-time-future")
        if purchase.account_id is None and not purchase.phone and not purchase.card:
            raise LoyaltyError("customer", "error-customer-missing")

    async def _record_in(
        self, tx: Tx, purchase: PurchaseInput, *, actor: str, source: str, now: datetime
    ) -> PurchaseResult:
        existing = await ledger.purchase_by_external_id(tx, purchase.purchase_id)
        if existing is not None:
            account = await accounts.get(tx, existing.account_id)
            return PurchaseResult(
                PurchaseStatus.DUPLICATE, existing.account_id, account.user_id if account else None
            )
        account = await self._account_for(tx, purchase, now)
        count_before, spend_before = await ledger.activity_since(tx, account.id, now - TIER_WINDOW)
        first_purchase = await ledger.purchase_count(tx, account.id) == 0
        row_id = await ledger.insert_purchase(
            tx,
            account.id,
            purchase.purchase_id,
            purchase.amount_minor,
            purchase.currency,
            purchase.at,
            now,
            source=source,
            note=purchase.note,
        )
        assert row_id is not None
        if purchase.items:
            await ledger.insert_items(
                tx, row_id, [(i.sku, i.name, str(i.qty), i.price_minor) for i in purchase.items]
            )
        expires = add_months(purchase.at, self._rules.points_expire_months)
        earned = self.points_for(purchase.amount_minor)
        if earned > 0:
            await ledger.insert_entry(
                tx,
                account.id,
                LedgerKind.EARN,
                earned,
                reason="purchase",
                actor=actor,
                at=purchase.at,
                expires_at=expires,
                external_id=f"purchase:{purchase.purchase_id}",
            )
        notices: list[tuple[int, str, dict[str, str | int]]] = []
        bonus = 0
        if first_purchase and self._rules.first_purchase_bonus > 0:
            bonus += self._rules.first_purchase_bonus
            await ledger.insert_entry(
                tx,
                account.id,
                LedgerKind.BONUS,
                self._rules.first_purchase_bonus,
                reason="first-purchase",
                actor="system",
                at=now,
                expires_at=add_months(now, self._rules.points_expire_months),
                external_id=f"first-purchase:{account.id}",
            )
        referrer = None
        if first_purchase and account.user_id is not None:
            referrer = await self._pay_referral(tx, account.user_id, now, notices)
            if referrer is not None:
                bonus += self._rules.referral_bonus
        count_after, spend_after = await ledger.activity_since(tx, account.id, now - TIER_WINDOW)
        tier_before = self._tier(count_before, spend_before)
        tier_after = self._tier(count_after, spend_after)
        if account.user_id is not None and _TIER_RANK[tier_after] > _TIER_RANK[tier_before]:
            notices.append((account.user_id, "tier-up", {"tier": TextKey(f"tier-{tier_after.value}")}))
        return PurchaseResult(
            PurchaseStatus.CREATED,
            account.id,
            account.user_id,
            earned,
            bonus,
            tier_before,
            tier_after,
            referrer,
            notices,
        )

    async def _account_for(self, tx: Tx, purchase: PurchaseInput, now: datetime) -> LoyaltyAccount:
        """The shop record the purchase belongs to; a new one for a card or phone seen the first time."""
        if purchase.account_id is not None:
            found = await accounts.get(tx, purchase.account_id)
            if found is None:
                raise LoyaltyError("customer", "error-customer-unknown")
            return found
        card = normalize_card_code(purchase.card) if purchase.card else None
        if purchase.card and card is None:
            raise LoyaltyError("customer.card", "error-card")
        phone = normalize_phone(purchase.phone, self._config.shop.phone_region) if purchase.phone else None
        if purchase.phone and phone is None:
            raise LoyaltyError("customer.phone", "error-phone")
        by_card = await accounts.by_card(tx, card) if card else None
        by_phone = await accounts.by_phone(tx, phone) if phone else None
        if by_card and by_phone and by_card.id != by_phone.id:
            raise LoyaltyError("customer", "error-card-phone-mismatch")
        found = by_card or by_phone
        if found is not None:
            return found
        account_id = await accounts.insert(tx, now, card_code=card, phone=phone)
        created = await accounts.get(tx, account_id)
        assert created is not None
        return created

    async def _pay_referral(
        self,
        tx: Tx,
        invited_user_id: int,
        now: datetime,
        notices: list[tuple[int, str, dict[str, str | int]]],
    ) -> int | None:
        referrer = await referrals.unrewarded_referrer(tx, invited_user_id)
        if referrer is None:
            return None
        await referrals.mark_rewarded(tx, invited_user_id, now)
        amount = self._rules.referral_bonus
        if amount <= 0:
            return referrer
        referrer_account = await accounts.by_user(tx, referrer)
        referrer_account_id = (
            referrer_account.id if referrer_account else await accounts.insert(tx, now, user_id=referrer)
        )
        invited_account = await accounts.by_user(tx, invited_user_id)
        assert invited_account is not None
        expires = add_months(now, self._rules.points_expire_months)
        for account_id, side in ((invited_account.id, "invited"), (referrer_account_id, "referrer")):
            await ledger.insert_entry(
                tx,
                account_id,
                LedgerKind.BONUS,
                amount,
                reason=f"referral-{side}",
                actor="system",
                at=now,
                expires_at=expires,
                external_id=f"referral:{invited_user_id}:{side}",
            )
        notices.append((referrer, "referral-paid-referrer", {"points": amount}))
        notices.append((invited_user_id, "referral-paid-invited", {"points": amount}))
        return referrer

    async def _send_notices(self, result: PurchaseResult) -> None:
        for user_id, key, args in result.notices:
            await self._notifier.notify(user_id, key, **args)

    def _tier(self, count: int, spend_minor: int) -> Tier:
        activity = count if self._rules.tier_basis == "purchases" else spend_minor // 10**self.currency_digits
        return tier_for(activity, self._rules.regular_from, self._rules.loyal_from)

    # -- spending and corrections -------------------------------------------------------------------

    async def redeem(self, account_id: int, points: int, *, actor: str, operation_id: str) -> int:
        """Spend points; never below zero. Returns the new balance. The same operation id is applied once."""
        if points <= 0:
            raise LoyaltyError("points", "error-points-positive")
        async with self._db.transaction() as tx:
            # Points whose time has come are gone even if the nightly job has not written it yet.
            await _expire_lots(tx, account_id, self._clock.now())
            current = await ledger.balance(tx, account_id)
            if await ledger.entry_exists(tx, operation_id):
                return current
            if points > current:
                raise LoyaltyError("points", "error-not-enough-points", balance=current)
            await ledger.insert_entry(
                tx,
                account_id,
                LedgerKind.REDEEM,
                -points,
                reason="redeem",
                actor=actor,
                at=self._clock.now(),
                external_id=operation_id,
            )
            new_balance = current - points
        account = await accounts.get(self._db, account_id)
        if account is not None and account.user_id is not None:
            await self._notifier.notify(
                account.user_id, "points-redeemed", points=points, balance=new_balance
            )
        return new_balance

    async def adjust(
        self, account_id: int, points: int, reason: str, *, actor: str, operation_id: str
    ) -> int:
        """A staff correction (±); a negative one cannot take the balance below zero."""
        if points == 0:
            raise LoyaltyError("points", "error-points-nonzero")
        async with self._db.transaction() as tx:
            await _expire_lots(tx, account_id, self._clock.now())
            current = await ledger.balance(tx, account_id)
            if await ledger.entry_exists(tx, operation_id):
                return current
            if current + points < 0:
                raise LoyaltyError("points", "error-not-enough-points", balance=current)
            now = self._clock.now()
            await ledger.insert_entry(
                tx,
                account_id,
                LedgerKind.ADJUST,
                points,
                reason=reason[:200],
                actor=actor,
                at=now,
                expires_at=add_months(now, self._rules.points_expire_months) if points > 0 else None,
                external_id=operation_id,
            )
            return current + points

    # -- scheduled ----------------------------------------------------------------------------------

    async def expire_due_points(self) -> int:
        """Write an `expire` entry for every lot whose time has come; returns points expired. Idempotent."""
        now = self._clock.now()
        total = 0
        for account_id in await ledger.accounts_with_expiry_due(self._db, now):
            async with self._db.transaction() as tx:
                total += await _expire_lots(tx, account_id, now)
        if total:
            log.info("expired %d points", total)
        return total

    async def pay_birthday_bonuses(self) -> int:
        """Once a year per customer, on their birthday in the shop's time zone; returns how many were paid."""
        amount = self._rules.birthday_bonus
        if amount <= 0:
            return 0
        now = self._clock.now()
        today = now.astimezone(self._config.shop.zone).date()
        paid = 0
        days = [today.strftime("%m-%d")]
        if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
            days.append("02-29")  # born on 29 February: celebrated on the 28th in other years
        birthday_people = [u for day in days for u in await customers.with_birthday(self._db, day)]
        for user_id in birthday_people:
            account = await accounts.by_user(self._db, user_id)
            if account is None:
                continue
            written = await ledger.append(
                self._db,
                account.id,
                LedgerKind.BONUS,
                amount,
                reason="birthday",
                actor="system",
                at=now,
                expires_at=add_months(now, self._rules.points_expire_months),
                external_id=f"birthday:{account.id}:{today.year}",
            )
            if written:
                paid += 1
                await self._notifier.notify(user_id, "birthday-bonus", points=amount)
        return paid

    # -- referrals and birthdays ----------------------------------------------------------------------

    async def referral_code(self, user_id: int) -> str | None:
        """The customer's own code for `ref_<code>` links, made on first use; None for someone who is not
        a customer (never sent /start, or was forgotten): there is no row to keep the code in."""
        code = await customers.referral_code(self._db, user_id)
        while code is None:
            if await customers.get(self._db, user_id) is None:
                return None
            candidate = secrets.token_urlsafe(6).replace("-", "x").replace("_", "y")
            if await customers.set_referral_code(self._db, user_id, candidate):
                code = await customers.referral_code(self._db, user_id)
        return code

    async def settle_referral_after_link(self, user_id: int) -> None:
        """A friend whose first purchase reached us before they linked their account (the till knew only
        their phone) is paid the referral now — if that purchase came after the invitation."""
        now = self._clock.now()
        notices: list[tuple[int, str, dict[str, str | int]]] = []
        async with self._db.transaction() as tx:
            account = await accounts.by_user(tx, user_id)
            invited = await referrals.invited_at(tx, user_id)
            first = await ledger.first_purchase_at(tx, account.id) if account else None
            if account is None or invited is None or first is None or first < invited:
                return
            await self._pay_referral(tx, user_id, now, notices)
        for target, key, args in notices:
            await self._notifier.notify(target, key, **args)

    async def accept_referral(self, invited_user_id: int, code: str) -> ReferralResult:
        referrer = await customers.by_referral_code(self._db, code)
        if referrer is None:
            return ReferralResult.UNKNOWN_CODE
        if referrer == invited_user_id:
            return ReferralResult.SELF
        if await referrals.referrer_of(self._db, invited_user_id) is not None:
            return ReferralResult.ALREADY_INVITED
        if await _is_upstream(self._db, invited_user_id, referrer):
            return ReferralResult.LOOP
        account = await accounts.by_user(self._db, invited_user_id)
        if account is not None and await ledger.purchase_count(self._db, account.id) > 0:
            return ReferralResult.ALREADY_CUSTOMER
        recorded = await referrals.record(self._db, invited_user_id, referrer, self._clock.now())
        return ReferralResult.ACCEPTED if recorded else ReferralResult.ALREADY_INVITED

    async def invited_counts(self, user_id: int) -> tuple[int, int]:
        return await referrals.invited_count(self._db, user_id)

    async def set_birthday(self, user_id: int, month_day: str | None) -> bool:
        """False (nothing stored) for someone who is not a customer: never sent /start, or was forgotten."""
        return await customers.set_birthday(self._db, user_id, month_day, self._clock.now())

    async def birthday(self, user_id: int) -> str | None:
        return await customers.get_birthday(self._db, user_id)


async def _expire_lots(tx: Tx, account_id: int, now: datetime) -> int:
    """Write the `expire` entries an account is due (keyed by the lot, so never twice); points expired."""
    total = 0
    for lot in expired_lots(await ledger.entries(tx, account_id), now):
        assert lot.expires_at is not None
        written = await ledger.insert_entry(
            tx,
            account_id,
            LedgerKind.EXPIRE,
            -lot.points,
            reason="expired",
            actor="system",
            at=lot.expires_at,
            external_id=f"expire:{lot.entry_id}",
        )
        total += lot.points if written else 0
    return total


async def _is_upstream(q: Reader, candidate: int, start: int) -> bool:
    """True when `candidate` is somewhere up `start`'s chain of inviters (accepting would make a loop)."""
    seen: set[int] = set()
    current: int | None = start
    while current is not None and current not in seen:
        if current == candidate:
            return True
        seen.add(current)
        current = await referrals.referrer_of(q, current)
    return False
