"""SQL for `surveys` (and the customer's no-win-back flag they can set by answering)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import from_db, to_db
from bot.storage.db import Database, Reader, Row, Tx


@dataclass(frozen=True)
class Survey:
    id: int
    user_id: int | None
    kind: str
    sent_at: datetime
    state: str
    reason: str | None
    score: int | None
    comment: str | None
    answered_at: datetime | None


def _survey(row: Row) -> Survey:
    return Survey(
        id=row["id"],
        user_id=row["user_id"],
        kind=row["kind"],
        sent_at=from_db(row["sent_at"]),
        state=row["state"],
        reason=row["reason"],
        score=row["score"],
        comment=row["comment"],
        answered_at=from_db(row["answered_at"]) if row["answered_at"] else None,
    )


async def open_survey(tx: Tx, user_id: int, kind: str, outbox_id: int | None, now: datetime) -> int:
    """The survey sent with an outbox message (the same one again if the row is retried)."""
    if outbox_id is not None:
        existing = await tx.fetch_value("SELECT id FROM surveys WHERE outbox_id = ?", (outbox_id,))
        if existing is not None:
            return int(existing)
    cursor = await tx.execute(
        "INSERT INTO surveys (user_id, kind, outbox_id, sent_at) VALUES (?, ?, ?, ?)",
        (user_id, kind, outbox_id, to_db(now)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def get(q: Reader, survey_id: int) -> Survey | None:
    row = await q.fetch_one("SELECT * FROM surveys WHERE id = ?", (survey_id,))
    return _survey(row) if row else None


async def answer(
    db: Database,
    survey_id: int,
    user_id: int,
    *,
    reason: str | None,
    score: int | None,
    now: datetime,
    awaiting_comment: bool,
) -> bool:
    """Record the one answer of an open survey of this user; False if it was answered before."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            """
            UPDATE surveys SET reason = ?, score = ?, answered_at = ?, state = ?
            WHERE id = ? AND user_id = ? AND state = 'open'
            """,
            (
                reason,
                score,
                to_db(now),
                "awaiting_comment" if awaiting_comment else "answered",
                survey_id,
                user_id,
            ),
        )
        return cursor.rowcount == 1


async def awaiting_comment(q: Reader, user_id: int, since: datetime) -> Survey | None:
    row = await q.fetch_one(
        "SELECT * FROM surveys WHERE user_id = ? AND state = 'awaiting_comment' AND answered_at >= ? "
        "ORDER BY answered_at DESC LIMIT 1",
        (user_id, to_db(since)),
    )
    return _survey(row) if row else None


async def abandoned(q: Reader, before: datetime) -> list[Survey]:
    """Answered by a tap, but neither a comment nor "No comment" came within the window."""
    rows = await q.fetch_all(
        "SELECT * FROM surveys WHERE state = 'awaiting_comment' AND answered_at < ? ORDER BY answered_at",
        (to_db(before),),
    )
    return [_survey(r) for r in rows]


async def finish(db: Database, survey_id: int, comment: str | None) -> bool:
    """awaiting_comment → answered, with the comment if one was given."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE surveys SET comment = ?, state = 'answered' WHERE id = ? AND state = 'awaiting_comment'",
            (comment, survey_id),
        )
        return cursor.rowcount == 1


async def answered_between(q: Reader, kind: str, start: datetime, end: datetime) -> list[Survey]:
    rows = await q.fetch_all(
        "SELECT * FROM surveys WHERE kind = ? AND answered_at >= ? AND answered_at < ? ORDER BY answered_at",
        (kind, to_db(start), to_db(end)),
    )
    return [_survey(r) for r in rows]


async def latest_comments(q: Reader, limit: int, since: datetime) -> list[Survey]:
    rows = await q.fetch_all(
        "SELECT * FROM surveys WHERE comment IS NOT NULL AND comment != '' AND answered_at >= ? "
        "ORDER BY answered_at DESC LIMIT ?",
        (to_db(since), limit),
    )
    return [_survey(r) for r in rows]


async def all_answered(q: Reader) -> list[Survey]:
    rows = await q.fetch_all("SELECT * FROM surveys WHERE answered_at IS NOT NULL ORDER BY answered_at, id")
    return [_survey(r) for r in rows]


async def forget_user(tx: Tx, user_id: int) -> None:
    """The answer stays for the shop's counts, without the person or their words."""
    await tx.execute("UPDATE surveys SET user_id = NULL, comment = NULL WHERE user_id = ?", (user_id,))


async def for_user(q: Reader, user_id: int, limit: int) -> list[Survey]:
    rows = await q.fetch_all(
        "SELECT * FROM surveys WHERE user_id = ? AND answered_at IS NOT NULL "
        "ORDER BY answered_at DESC LIMIT ?",
        (user_id, limit),
    )
    return [_survey(r) for r in rows]
