"""Read-only SQL for staff reports and exports (stats, uplift, CSV documents)."""

from __future__ import annotations

from datetime import datetime

from bot.clock import to_db
from bot.storage.db import Reader


async def sent_by_rule(q: Reader, since: datetime) -> dict[str, int]:
    rows = await q.fetch_all(
        "SELECT rule, COUNT(*) FROM outbox WHERE state = 'sent' AND sent_at >= ? GROUP BY rule",
        (to_db(since),),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def delivery_outcomes(q: Reader, since: datetime) -> tuple[int, int]:
    """(messages sent, sends refused because the customer blocked the bot) since a moment."""
    row = await q.fetch_one(
        """
        SELECT COALESCE(SUM(state = 'sent'), 0), COALESCE(SUM(state = 'failed' AND reason = 'blocked'), 0)
        FROM outbox WHERE updated_at >= ? AND state IN ('sent', 'failed')
        """,
        (to_db(since),),
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def redemptions_by_rule(q: Reader, since: datetime) -> dict[str, int]:
    rows = await q.fetch_all(
        "SELECT rule, COUNT(*) FROM coupons WHERE redeemed_at >= ? GROUP BY rule", (to_db(since),)
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def uplift_counts(
    q: Reader, window_days: int, matured_before: datetime
) -> list[tuple[str, str, int, int]]:
    """Per rule and group ('sent' / 'held_out'): customers, and how many bought within `window_days`
    after the message (or after being held out). Only first steps old enough to have a full window."""
    rows = await q.fetch_all(
        """
        SELECT o.rule, o.state, COUNT(*),
               SUM(EXISTS (
                   SELECT 1 FROM loyalty_accounts a JOIN purchases p ON p.account_id = a.id
                   WHERE a.user_id = o.user_id
                     AND p.at > COALESCE(o.sent_at, o.created_at)
                     AND p.at <= strftime('%Y-%m-%dT%H:%M:%S+00:00', COALESCE(o.sent_at, o.created_at), ?)
               ))
        FROM outbox o
        WHERE o.step = 0 AND o.campaign_id IS NULL AND o.state IN ('sent', 'held_out')
          AND COALESCE(o.sent_at, o.created_at) <= ?
        GROUP BY o.rule, o.state
        ORDER BY o.rule, o.state
        """,
        (f"+{int(window_days)} days", to_db(matured_before)),
    )
    return [(str(r[0]), str(r[1]), int(r[2]), int(r[3] or 0)) for r in rows]


async def export_customers(q: Reader) -> list[list[str]]:
    rows = await q.fetch_all(
        """
        SELECT c.user_id, c.first_name, c.last_name, c.username, COALESCE(c.language, c.telegram_language),
               c.consent, c.consent_at, c.reachable, c.frequency, c.paused_until, c.created_at,
               a.card_code, a.phone,
               (SELECT COALESCE(SUM(points), 0) FROM points_ledger l WHERE l.account_id = a.id)
        FROM customers c LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id ORDER BY c.user_id
        """
    )
    header = [
        "user_id",
        "first_name",
        "last_name",
        "username",
        "language",
        "consent",
        "consent_at",
        "reachable",
        "frequency",
        "paused_until",
        "created_at",
        "card",
        "phone",
        "points",
    ]
    return [header, *[["" if v is None else str(v) for v in r] for r in rows]]


async def export_ledger(q: Reader) -> list[list[str]]:
    rows = await q.fetch_all(
        """
        SELECT l.id, l.account_id, a.card_code, a.phone, a.user_id, l.kind, l.points, l.reason, l.actor, l.at,
               l.expires_at, l.external_id
        FROM points_ledger l JOIN loyalty_accounts a ON a.id = l.account_id ORDER BY l.id
        """
    )
    header = [
        "entry_id",
        "account_id",
        "card",
        "phone",
        "user_id",
        "kind",
        "points",
        "reason",
        "actor",
        "at",
        "expires_at",
        "external_id",
    ]
    return [header, *[["" if v is None else str(v) for v in r] for r in rows]]


async def export_messages(q: Reader) -> list[list[str]]:
    rows = await q.fetch_all(
        """
        SELECT id, user_id, rule, step, period, campaign_id, state, reason, due_at, sent_at, coupon_code,
               language
        FROM outbox ORDER BY id
        """
    )
    header = [
        "message_id",
        "user_id",
        "rule",
        "step",
        "period",
        "campaign_id",
        "state",
        "reason",
        "due_at",
        "sent_at",
        "coupon",
        "language",
    ]
    return [header, *[["" if v is None else str(v) for v in r] for r in rows]]
