"""Loyalty: purchases in, points earned, redeemed, adjusted and expired; tiers, referrals, birthdays.

Every change of points is one transaction over the append-only ledger, keyed by an external id so that
the same purchase or adjustment applied twice changes nothing the second time.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from babel.numbers import get_currency_precision

from bot.clock import Clock
from bot.config import Config
from bot.models import LedgerEntry, LedgerKind, LoyaltyAccount, Tier
from bot.notify import Notifier, NullNotifier, TextKey
from bot.rules.earning import add_months, points_for_amount
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.rules.points import (
    Expiry,
    balance,
    expired_lots,
    expiring_soon,
    next_expiry,
    tier_for,
)
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
class BatchSummary:
    """What recording a batch of purchases did, or (a preview) would do."""

    purchases: int = 0
    new: int = 0
    duplicates: int = 0  # recorded before, or earlier in the same batch
    new_customers: int = 0  # shop records created for a card or phone seen the first time
    new_amount_minor: int = 0
    points: int = 0  # earned by the new purchases
    bonus_points: int = 0  # first-purchase bonuses and the invited side's referral bonuses


class PurchasesRefused(LoyaltyError):
    """Purchases of a batch the rules refuse (a card and a phone of different customers, an unknown
    record); nothing was recorded. The field and key are the first refusal's; `refusals` holds every
    refused purchase id with its error, in the batch's order."""

    def __init__(self, refusals: list[tuple[str, LoyaltyError]]) -> None:
        first = refusals[0][1]
        super().__init__(first.field, first.key, **first.args_for_text)
        self.refusals = refusals


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
        return self._view(account, entries, count, spend, now)

    async def balances_of(self, linked: dict[int, LoyaltyAccount]) -> dict[int, BalanceView]:
        """`balance_for_account` of each of these accounts (keyed by anything, say the customer) in two
        queries: a campaign's messages are prepared a group at a time."""
        now = self._clock.now()
        account_ids = [a.id for a in linked.values()]
        entries = await ledger.entries_of(self._db, account_ids)
        activity = await ledger.activity_of(self._db, account_ids, now - TIER_WINDOW)
        return {
            key: self._view(account, entries.get(account.id, []), *activity.get(account.id, (0, 0)), now)
            for key, account in linked.items()
        }

    def _view(
        self, account: LoyaltyAccount, entries: list[LedgerEntry], count: int, spend: int, now: datetime
    ) -> BalanceView:
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
        expiring = await self.expiring_of(
            await ledger.accounts_with_expiry_between(self._db, now, end), days, now
        )
        found = await accounts.by_ids(self._db, expiring)
        return [(found[a], points, at) for a, (points, at) in expiring.items() if a in found]

    async def expiring_of(
        self, account_ids: Iterable[int], days: int, now: datetime | None = None
    ) -> dict[int, tuple[int, datetime]]:
        """Of these accounts, those with points expiring in the next `days` days: (points, first expiry)."""
        now = now or self._clock.now()
        end = now + timedelta(days=days)
        found: dict[int, tuple[int, datetime]] = {}
        # Accounts that only ever earned: their lots are their entries, summed in SQL (see
        # `expiring_soon`, which it must agree with); the others' lots are worked out from their entries.
        unspent, others = await ledger.unspent_expiring(self._db, account_ids, now, end)
        for account_id, (points, soonest) in unspent.items():
            if points > 0 and soonest is not None:
                found[account_id] = (points, soonest)
        for account_id, entries in (await ledger.entries_of(self._db, others) if others else {}).items():
            if (soon := expiring_soon(entries, now, end)) is not None:
                found[account_id] = soon
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
        try:
            async with self._db.transaction() as tx:
                batch = await self._record_in(tx, [purchase], actor=actor, source=source, now=now)
        except PurchasesRefused as refused:
            raise refused.refusals[0][1] from None
        (result,) = batch.results()
        await self._send_notices(result)
        return result

    async def record_purchases(
        self, purchases: list[PurchaseInput], *, actor: str, source: str
    ) -> list[PurchaseResult]:
        """All or nothing: one transaction for the whole batch (CSV import). No messages are sent.
        Raises `PurchasesRefused`, naming every purchase the rules refuse, and records nothing."""
        for purchase in purchases:
            self._check_purchase(purchase)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            batch = await self._record_in(tx, purchases, actor=actor, source=source, now=now)
        return batch.results()

    async def record_batch(
        self,
        purchases: list[PurchaseInput],
        *,
        actor: str,
        source: str,
        progress: Callable[[int], object] | None = None,
    ) -> BatchSummary:
        """`record_purchases`, telling what it did rather than each purchase's result; `progress(n)` is
        told of every n purchases written."""
        for purchase in purchases:
            self._check_purchase(purchase)
        now = self._clock.now()
        async with self._db.transaction() as tx:
            batch = await self._record_in(
                tx, purchases, actor=actor, source=source, now=now, results=False, progress=progress
            )
        return batch.summary()

    async def preview_purchases(self, purchases: list[PurchaseInput]) -> BatchSummary:
        """What `record_batch` would do with these purchases now, changing nothing (a dry run); raises
        as it would. Only the id of a record already stored can name a purchase's customer here: a record
        the batch itself would create has no id yet."""
        for purchase in purchases:
            self._check_purchase(purchase)
        now = self._clock.now()
        async with self._db.transaction() as tx:  # a consistent view; nothing is written
            batch = _PurchaseBatch(self, tx, now, actor="", source="", write=False)
            await batch.run(purchases)
        return batch.summary()

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
        self,
        tx: Tx,
        purchases: list[PurchaseInput],
        *,
        actor: str,
        source: str,
        now: datetime,
        results: bool = True,
        progress: Callable[[int], object] | None = None,
    ) -> _PurchaseBatch:
        batch = _PurchaseBatch(
            self, tx, now, actor=actor, source=source, write=True, results=results, progress=progress
        )
        await batch.run(purchases)
        return batch

    def _earn_entry(
        self, account_id: int, purchase: PurchaseInput, points: int, actor: str
    ) -> ledger.NewEntry:
        """The points a purchase earns: dated at the purchase, expiring `points_expire_months` after it."""
        return ledger.NewEntry(
            account_id,
            LedgerKind.EARN,
            points,
            reason="purchase",
            actor=actor,
            at=purchase.at,
            expires_at=add_months(purchase.at, self._rules.points_expire_months),
            external_id=f"purchase:{purchase.purchase_id}",
        )

    def _first_purchase_entry(self, account_id: int, now: datetime) -> ledger.NewEntry:
        """A record's first-purchase bonus (once per record: keyed by it), dated and expiring from now."""
        return ledger.NewEntry(
            account_id,
            LedgerKind.BONUS,
            self._rules.first_purchase_bonus,
            reason="first-purchase",
            actor="system",
            at=now,
            expires_at=add_months(now, self._rules.points_expire_months),
            external_id=f"first-purchase:{account_id}",
        )

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


# -- recording purchases: the rules, applied to a batch in memory ----------------------------------------

_WRITE_ROUND = 5000  # purchases written per round of executemany (and per call of `progress`)
_Notices = list[tuple[int, str, dict[str, str | int]]]


@dataclass(eq=False, slots=True)
class _Customer:
    """A shop record as a batch sees it: as stored, plus the batch's purchases so far."""

    id: int | None  # None: created by the batch and not written yet
    user_id: int | None
    card: str | None
    phone: str | None
    purchases: int = 0  # all of them
    recent: int = 0  # those in the tier window
    recent_spend_minor: int = 0


@dataclass(slots=True)
class _Decision:
    """One purchase of a batch: new, with what it earns, or a duplicate of one recorded before."""

    purchase: PurchaseInput
    owner: _Customer
    new: bool
    earned: int = 0
    first_purchase_bonus: int = 0
    bonus: int = 0  # the first-purchase bonus and the invited side's referral bonus
    tier_before: Tier = Tier.NEW
    tier_after: Tier = Tier.NEW
    referrer: int | None = None
    notices: _Notices | None = None  # made when there is one

    def result(self) -> PurchaseResult:
        assert self.owner.id is not None, "written"
        if not self.new:
            return PurchaseResult(PurchaseStatus.DUPLICATE, self.owner.id, self.owner.user_id)
        return PurchaseResult(
            PurchaseStatus.CREATED,
            self.owner.id,
            self.owner.user_id,
            self.earned,
            self.bonus,
            self.tier_before,
            self.tier_after,
            self.referrer,
            self.notices if self.notices is not None else [],
        )


class _PurchaseBatch:
    """Purchases recorded in order by LoyaltyService's rules, one purchase or a hundred thousand.

    The rules: a purchase id counts once; the record is the one given, else the card's, else the phone's
    (a card and a phone of different records are refused), else a new record holding both; the purchase
    earns `points_for` its amount; a record's first purchase earns the first-purchase bonus and pays the
    referral of a linked customer invited by a friend; the tier is counted before and after. What the
    rules read is fetched first in a few grouped queries and then kept up to date in memory; rows are
    written in rounds of executemany, in the order recording the purchases one at a time would write
    them (ids included). A referral is paid by `LoyaltyService._pay_referral`, after writing what comes
    before it. With `write=False` the batch only decides (a preview) and writes nothing.
    """

    def __init__(
        self,
        service: LoyaltyService,
        tx: Tx,
        now: datetime,
        *,
        actor: str,
        source: str,
        write: bool,
        results: bool = False,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self._service = service
        self._rules = service._rules
        self._region = service._config.shop.phone_region
        self._tx = tx
        self._now = now
        self._actor = actor
        self._source = source
        self._write = write
        self._progress = progress
        self._window_start = now - TIER_WINDOW
        # The database keeps times to the second (`to_db`) and counts a purchase in the window when
        # `at >= since` on those; against a whole-second `since` that is the same as comparing the moments.
        self._window_start_second = self._window_start.astimezone(UTC).replace(microsecond=0)
        self._by_id: dict[int, _Customer] = {}
        self._by_card: dict[str, _Customer] = {}
        self._by_phone: dict[str, _Customer] = {}
        self._recorded_before: dict[str, int] = {}  # purchase id → account id
        self._recorded: dict[str, _Customer] = {}  # purchase ids this batch records
        self._cards: dict[str, str | None] = {}
        self._phones: dict[str, str | None] = {}
        self._pending: list[_Decision] = []  # decided, not written yet
        self._pending_created: list[_Customer] = []
        self._decided: list[_Decision] | None = [] if results else None  # all of them, for `results`
        self._refusals: list[tuple[str, LoyaltyError]] = []
        # What is decided so far, for the summary.
        self._purchases = self._new = self._new_customers = self._new_amount_minor = 0
        self._points = self._bonus_points = 0
        self._seen = self._reported = 0  # purchases looked at, and told to `progress`

    async def run(self, purchases: list[PurchaseInput]) -> None:
        await self._load(purchases)
        for purchase in purchases:
            await self._add(purchase)
        await self._flush()
        if self._refusals:
            raise PurchasesRefused(self._refusals)

    def results(self) -> list[PurchaseResult]:
        assert self._decided is not None, "made with results=True"
        return [decision.result() for decision in self._decided]

    def summary(self) -> BatchSummary:
        return BatchSummary(
            purchases=self._purchases,
            new=self._new,
            duplicates=self._purchases - self._new,
            new_customers=self._new_customers,
            new_amount_minor=self._new_amount_minor,
            points=self._points,
            bonus_points=self._bonus_points,
        )

    @property
    def _writing(self) -> bool:
        return self._write and not self._refusals  # after a refusal nothing will be kept anyway

    # -- reading ------------------------------------------------------------------------------------

    async def _load(self, purchases: list[PurchaseInput]) -> None:
        """The purchase ids recorded before, and the records the batch's cards, phones and ids name."""
        tx = self._tx
        self._recorded_before = await ledger.purchase_accounts(tx, {p.purchase_id for p in purchases})
        fresh = [p for p in purchases if p.purchase_id not in self._recorded_before]
        ids = {p.account_id for p in fresh if p.account_id is not None}
        ids.update(self._recorded_before.values())
        by_customer = [p for p in fresh if p.account_id is None]
        cards = {code for p in by_customer if p.card and (code := self._card(p.card))}
        phones = {phone for p in by_customer if p.phone and (phone := self._phone(p.phone))}
        found = await accounts.by_ids(tx, ids) if ids else {}
        for account in (await accounts.by_cards(tx, cards)).values() if cards else ():
            found[account.id] = account
        for account in (await accounts.by_phones(tx, phones)).values() if phones else ():
            found[account.id] = account
        activity = await ledger.purchase_activity(tx, found, self._window_start) if found else {}
        for account in found.values():
            self._known(account, activity.get(account.id))

    def _known(self, account: LoyaltyAccount, activity: ledger.PurchaseActivity | None) -> _Customer:
        counts = activity or ledger.PurchaseActivity(0, 0, 0)
        customer = _Customer(account.id, account.user_id, account.card_code, account.phone, *counts)
        self._by_id[account.id] = customer
        if customer.card:
            self._by_card[customer.card] = customer
        if customer.phone:
            self._by_phone[customer.phone] = customer
        return customer

    def _card(self, text: str) -> str | None:
        if text not in self._cards:
            self._cards[text] = normalize_card_code(text)
        return self._cards[text]

    def _phone(self, text: str) -> str | None:
        if text not in self._phones:
            self._phones[text] = normalize_phone(text, self._region)
        return self._phones[text]

    # -- deciding -----------------------------------------------------------------------------------

    async def _add(self, purchase: PurchaseInput) -> None:
        self._seen += 1
        owner = self._recorded.get(purchase.purchase_id)
        if owner is None and (account_id := self._recorded_before.get(purchase.purchase_id)) is not None:
            owner = self._by_id.get(account_id) or _Customer(account_id, None, None, None)
        if owner is not None:
            self._decide(_Decision(purchase, owner, new=False))
        else:
            try:
                owner = await self._owner(purchase)
            except LoyaltyError as refused:
                self._refusals.append((purchase.purchase_id, refused))
                return
            await self._record(purchase, owner)
        if len(self._pending) >= _WRITE_ROUND:
            await self._flush()

    async def _owner(self, purchase: PurchaseInput) -> _Customer:
        """The shop record the purchase belongs to; a new one for a card or phone seen the first time."""
        if purchase.account_id is not None:
            found = self._by_id.get(purchase.account_id) or await self._fetch(purchase.account_id)
            if found is None:
                raise LoyaltyError("customer", "error-customer-unknown")
            return found
        card = self._card(purchase.card) if purchase.card else None
        if purchase.card and card is None:
            raise LoyaltyError("customer.card", "error-card")
        phone = self._phone(purchase.phone) if purchase.phone else None
        if purchase.phone and phone is None:
            raise LoyaltyError("customer.phone", "error-phone")
        by_card = self._by_card.get(card) if card else None
        by_phone = self._by_phone.get(phone) if phone else None
        if by_card is not None and by_phone is not None and by_card is not by_phone:
            raise LoyaltyError("customer", "error-card-phone-mismatch")
        found = by_card or by_phone
        if found is None:
            found = _Customer(None, None, card, phone)
            self._pending_created.append(found)
            self._new_customers += 1
            if card:
                self._by_card[card] = found
            if phone:
                self._by_phone[phone] = found
        return found

    async def _fetch(self, account_id: int) -> _Customer | None:
        """A record the batch did not load: one it created, or a referrer's made by a referral it paid."""
        await self._flush()  # the records created so far get their ids
        found = self._by_id.get(account_id)
        if found is None and (account := await accounts.get(self._tx, account_id)) is not None:
            activity = await ledger.purchase_activity(self._tx, [account_id], self._window_start)
            found = self._known(account, activity.get(account_id))
        return found

    async def _record(self, purchase: PurchaseInput, owner: _Customer) -> None:
        service = self._service
        decision = _Decision(
            purchase,
            owner,
            new=True,
            earned=service.points_for(purchase.amount_minor),
            tier_before=service._tier(owner.recent, owner.recent_spend_minor),
        )
        first_purchase = owner.purchases == 0
        if first_purchase and self._rules.first_purchase_bonus > 0:
            decision.first_purchase_bonus = self._rules.first_purchase_bonus
        owner.purchases += 1
        if purchase.at >= self._window_start_second:
            owner.recent += 1
            owner.recent_spend_minor += purchase.amount_minor
        self._recorded[purchase.purchase_id] = owner
        self._decide(decision)  # before a referral is paid: it writes what is decided first
        decision.bonus = decision.first_purchase_bonus
        if first_purchase and owner.user_id is not None:
            decision.notices = []
            decision.referrer = await self._referral(owner.user_id, decision.notices)
            if decision.referrer is not None:
                decision.bonus += self._rules.referral_bonus
        self._new += 1
        self._new_amount_minor += purchase.amount_minor
        self._points += decision.earned
        self._bonus_points += decision.bonus
        decision.tier_after = service._tier(owner.recent, owner.recent_spend_minor)
        if owner.user_id is not None and _TIER_RANK[decision.tier_after] > _TIER_RANK[decision.tier_before]:
            decision.notices = decision.notices or []
            decision.notices.append(
                (owner.user_id, "tier-up", {"tier": TextKey(f"tier-{decision.tier_after.value}")})
            )

    def _decide(self, decision: _Decision) -> None:
        self._pending.append(decision)
        if self._decided is not None:
            self._decided.append(decision)
        self._purchases += 1

    async def _referral(self, invited_user_id: int, notices: _Notices) -> int | None:
        """Pay the referral of a linked customer's first purchase (a preview only looks); the inviter."""
        if not self._writing:
            return await referrals.unrewarded_referrer(self._tx, invited_user_id)
        await self._flush()  # this purchase's own rows come first, as one at a time
        return await self._service._pay_referral(self._tx, invited_user_id, self._now, notices)

    # -- writing ------------------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write the records and purchases decided since the last round."""
        pending, self._pending = self._pending, []
        created, self._pending_created = self._pending_created, []
        if self._writing:
            await self._write_round(pending, created)
        if self._progress is not None and self._seen > self._reported:
            self._progress(self._seen - self._reported)
            self._reported = self._seen

    async def _write_round(self, decisions: list[_Decision], created: list[_Customer]) -> None:
        if created:
            ids = await accounts.insert_many(self._tx, self._now, [(c.card, c.phone) for c in created])
            for customer, new_id in zip(created, ids, strict=True):
                customer.id = new_id
                self._by_id[new_id] = customer
        new = [d for d in decisions if d.new]
        if not new:
            return
        rows: list[ledger.NewPurchase] = []
        entries: list[ledger.NewEntry] = []
        for decision in new:
            purchase, account_id = decision.purchase, decision.owner.id
            assert account_id is not None
            rows.append(
                ledger.NewPurchase(
                    account_id,
                    purchase.purchase_id,
                    purchase.amount_minor,
                    purchase.currency,
                    purchase.at,
                    purchase.note,
                    purchase.items,
                )
            )
            if decision.earned > 0:
                entries.append(self._service._earn_entry(account_id, purchase, decision.earned, self._actor))
            if decision.first_purchase_bonus:
                entries.append(self._service._first_purchase_entry(account_id, self._now))
        await ledger.insert_purchases(self._tx, rows, self._now, source=self._source)
        if entries:
            await ledger.insert_entries(self._tx, entries)
