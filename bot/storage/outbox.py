"""SQL for `outbox`: planned marketing messages and their delivery state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from bot.clock import from_db, to_db
from bot.storage.db import (
    UPDATE_FROM,
    Database,
    Reader,
    Tx,
    fetch_packed,
    json_rows,
    json_values,
)


class OutboxState(StrEnum):
    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    HELD_OUT = "held_out"
    UNKNOWN = "unknown"


# States that count against a customer's caps: what may have reached them.
DELIVERED_OR_MAYBE = (OutboxState.SENT, OutboxState.SENDING, OutboxState.UNKNOWN)


class NewOutboxRow(NamedTuple):  # immutable like a frozen dataclass, made in a fifth of the time
    user_id: int
    rule: str
    step: int
    period: str
    template: str
    priority: int
    state: OutboxState
    due_at: datetime
    reason: str | None = None
    campaign_id: int | None = None

    @property
    def key(self) -> tuple[int, str, int, str]:
        """What makes a message unique: planning it twice is impossible (migration 0009)."""
        return (self.user_id, self.rule, self.step, self.period)


class OutboxRow(NamedTuple):  # a NamedTuple, like NewOutboxRow: one is made for every message sent
    id: int
    user_id: int
    rule: str
    step: int
    period: str
    template: str
    priority: int
    state: OutboxState
    reason: str | None
    due_at: datetime
    attempts: int
    coupon_code: str | None
    campaign_id: int | None
    sent_at: datetime | None


@dataclass(frozen=True)
class HistoryRow:
    user_id: int
    rule: str
    step: int
    period: str
    state: OutboxState
    created_at: datetime
    sent_at: datetime | None


_ROW_COLUMNS = (
    "id", "user_id", "rule", "step", "period", "template", "priority", "state", "reason", "due_at",
    "attempts", "coupon_code", "campaign_id", "sent_at",
)  # fmt: skip
_ROW_SELECT = ", ".join(_ROW_COLUMNS)


def _row(values: Sequence[Any]) -> OutboxRow:
    """An outbox row from its `_ROW_COLUMNS`, in that order (a delivery group reads thousands)."""
    id_, user_id, rule, step, period, template, priority, state, reason, due_at, *rest = values
    attempts, coupon_code, campaign_id, sent_at = rest
    return OutboxRow(
        id_,
        user_id,
        rule,
        step,
        period,
        template,
        priority,
        OutboxState(state),
        reason,
        from_db(due_at),
        attempts,
        coupon_code,
        campaign_id,
        from_db(sent_at) if sent_at else None,
    )


class OutboxBatch:
    """New outbox rows for `insert_batch`, gathered as they come; a row with the key (customer, rule,
    step, period) of an earlier one is left out."""

    # A planning run writes hundreds of thousands of rows, most of them alike but for the customer, the
    # period and the time: rows alike in the rest go in one statement that binds what they share, and
    # each row as one text, its due time (always _DUE_WIDTH characters), then "user:period", which SQLite
    # splits again. Sent as JSON arrays of whole rows, SQLite parsed a row's array once for each of its
    # 11 columns: 277 000 rows took 6.8 s to insert, 3.7 s so.

    def __init__(self) -> None:
        self.groups: dict[tuple[str, int, int | None, str, int, OutboxState, str | None], list[str]] = {}
        self.one_by_one: list[NewOutboxRow] = []
        self._seen: set[tuple[int, str, int, str]] = set()
        self._due_texts: dict[datetime, str] = {}

    def add(
        self,
        user_id: int,
        rule: str,
        step: int,
        period: str,
        template: str,
        priority: int,
        state: OutboxState,
        due_at: datetime,
        reason: str | None = None,
        campaign_id: int | None = None,
    ) -> None:
        """A row, in `NewOutboxRow`'s order (the planner adds them without making one)."""
        key = (user_id, rule, step, period)  # NewOutboxRow.key
        if key in self._seen:
            return
        self._seen.add(key)
        if (due_text := self._due_texts.get(due_at)) is None:
            due_text = self._due_texts[due_at] = to_db(due_at)
        if len(due_text) != _DUE_WIDTH or "\x00" in period:
            # A NUL character (a product code from a till) ends a text for SQLite's text functions (and
            # `to_db` has one width, but the split must not trust it): the row goes in column by column.
            self.one_by_one.append(
                NewOutboxRow(
                    user_id, rule, step, period, template, priority, state, due_at, reason, campaign_id
                )
            )
            return
        group = (rule, step, campaign_id, template, priority, state, reason)
        if (texts := self.groups.get(group)) is None:
            texts = self.groups[group] = []
        texts.append(f"{due_text}{user_id}:{period}")


async def insert_many(db: Database, rows: Iterable[NewOutboxRow], now: datetime) -> int:
    """Insert planned rows; a row whose key exists is left alone (as is a second row with the key of an
    earlier one). Returns how many were new."""
    batch = OutboxBatch()
    for row in rows:
        batch.add(*row)
    return await insert_batch(db, batch, now)


async def insert_batch(db: Database, batch: OutboxBatch, now: datetime) -> int:
    """Insert the batch's rows; a row whose key exists is left alone. Returns how many were new."""
    groups, one_by_one = batch.groups, batch.one_by_one
    if not groups and not one_by_one:
        return 0
    # Bound as a JSON array, the texts are read by SQLite without Python's lock (GIL), which the planner
    # needs meanwhile to decide the next slice; 2 000 a statement keep the planning's peak down.
    stamp = to_db(now)
    statements: list[tuple[Any, ...]] = []
    for (rule, step, campaign_id, template, priority, state, reason), texts in groups.items():
        shared = (stamp, rule, step, campaign_id, template, priority, state.value, reason)
        for first in range(0, len(texts), _INSERT_ROWS):
            statements.append((*shared, json_values(texts[first : first + _INSERT_ROWS])))
    written = 0
    async with db.transaction() as tx:
        # executemany: all of them in one trip to the connection's thread. Statement by statement, each
        # waited for the event loop, which the planner keeps busy deciding the next slice.
        if statements:
            written += (await tx.executemany(_INSERT_KEYS, statements)).rowcount
        if one_by_one:
            written += (
                await tx.executemany(
                    _INSERT_ONE,
                    [
                        (stamp, r.user_id, r.rule, r.step, r.period, r.campaign_id, r.template,
                         r.priority, r.state.value, r.reason, to_db(r.due_at))
                        for r in one_by_one
                    ],
                )
            ).rowcount  # fmt: skip
    return written


_INSERT_ROWS = 2000
_DUE_WIDTH = len("2026-03-10T09:00:00+00:00")  # `to_db`'s
# ?9: due time then "user:period", one text a row; the user's ":" is `colon` characters after the time.
_INSERT_KEYS = f"""
    INSERT INTO outbox (user_id, rule, step, period, campaign_id, template, priority, state, reason,
                        due_at, created_at, updated_at)
    SELECT CAST(substr(value, {_DUE_WIDTH + 1}, colon - 1) AS INTEGER), ?2, ?3,
           substr(value, {_DUE_WIDTH + 1} + colon), ?4, ?5, ?6, ?7, ?8,
           substr(value, 1, {_DUE_WIDTH}), ?1, ?1
    FROM (SELECT value, instr(substr(value, {_DUE_WIDTH + 1}), ':') AS colon FROM json_each(?9))
    WHERE true  -- without a WHERE, SQLite would read ON CONFLICT as the join's ON
    ON CONFLICT (user_id, rule, period, step) DO NOTHING
    """
_INSERT_ONE = """
    INSERT INTO outbox (user_id, rule, step, period, campaign_id, template, priority, state, reason,
                        due_at, created_at, updated_at)
    VALUES (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?1, ?1)
    ON CONFLICT (user_id, rule, period, step) DO NOTHING
    """


async def history_of(q: Reader, user_ids: Sequence[int], since: datetime) -> list[HistoryRow]:
    """Rows of these users that matter for planning: recent or still in flight."""
    rows = await q.fetch_all(
        """
        SELECT user_id, rule, step, period, state, created_at, sent_at FROM outbox
        WHERE user_id IN (SELECT value FROM json_each(?))
          AND (created_at >= ? OR state IN ('planned', 'sending'))
        """,
        (json_values(user_ids), to_db(since)),
    )
    return [
        HistoryRow(
            r["user_id"],
            r["rule"],
            r["step"],
            r["period"],
            OutboxState(r["state"]),
            from_db(r["created_at"]),
            from_db(r["sent_at"]) if r["sent_at"] else None,
        )
        for r in rows
    ]


async def due(q: Reader, now: datetime, limit: int) -> list[OutboxRow]:
    """The planned rows due by `now`, the most important and the longest due first."""
    rows = await fetch_packed(
        q,
        f"SELECT {_ROW_SELECT} FROM outbox WHERE state = 'planned' AND due_at <= ? "
        "ORDER BY priority DESC, due_at, id LIMIT ?",
        (to_db(now), limit),
        _ROW_COLUMNS,
    )
    due_rows = [_row(r) for r in rows]
    due_rows.sort(key=lambda r: (-r.priority, r.due_at, r.id))
    return due_rows


async def next_due_at(q: Reader) -> datetime | None:
    value = await q.fetch_value("SELECT MIN(due_at) FROM outbox WHERE state = 'planned'")
    return from_db(value) if value else None


async def get(q: Reader, outbox_id: int) -> OutboxRow | None:
    row = await q.fetch_one(f"SELECT {_ROW_SELECT} FROM outbox WHERE id = ?", (outbox_id,))
    return _row(row) if row else None


async def sent_times_of(q: Reader, user_ids: Iterable[int], since: datetime) -> dict[int, list[datetime]]:
    """When marketing messages went (or may have gone) to each of these customers since a moment, in one
    query; customers sent nothing are left out."""
    rows = await fetch_packed(
        q,
        """
        SELECT user_id, COALESCE(sent_at, updated_at) AS at FROM outbox
        WHERE user_id IN (SELECT value FROM json_each(?)) AND state IN ('sent', 'sending', 'unknown')
          AND COALESCE(sent_at, updated_at) >= ?
        """,
        (json_values(user_ids), to_db(since)),
        ("user_id", "at"),
    )
    found: dict[int, list[datetime]] = {}
    for user_id, at in rows:
        found.setdefault(int(user_id), []).append(from_db(at))
    return found


async def planned_among(q: Reader, outbox_ids: Iterable[int]) -> set[int]:
    """Which of these rows are still planned (nobody else has taken or settled them)."""
    rows = await fetch_packed(
        q,
        # `+state`: by the primary key, not by the index of planned rows (which holds a whole campaign)
        "SELECT id FROM outbox WHERE id IN (SELECT value FROM json_each(?)) AND +state = 'planned'",
        (json_values(outbox_ids),),
        ("id",),
    )
    return {int(outbox_id) for (outbox_id,) in rows}


class Claim(NamedTuple):
    """planned → sending for one row: the coupon it carries and the language it is written in."""

    outbox_id: int
    coupon_code: str | None
    language: str


async def mark_sending_many(tx: Tx, claims: Sequence[Claim], now: datetime) -> None:
    """planned → sending; the caller has read in this transaction that every row is still planned."""
    if not claims:
        return  # no trip to the database for nothing
    stamp = to_db(now)
    rows = [(c.outbox_id, c.coupon_code, c.language) for c in claims]
    if UPDATE_FROM:
        await tx.execute(
            """
            UPDATE outbox SET state = 'sending', attempts = attempts + 1,
                              coupon_code = COALESCE(json_extract(j.value, '$[1]'), coupon_code),
                              language = json_extract(j.value, '$[2]'), updated_at = ?
            FROM json_each(?) AS j
            WHERE outbox.id = json_extract(j.value, '$[0]') AND +outbox.state = 'planned'
            """,
            (stamp, json_rows(rows)),
        )
        return
    await tx.executemany(
        """
        UPDATE outbox SET state = 'sending', attempts = attempts + 1, coupon_code = COALESCE(?, coupon_code),
                          language = ?, updated_at = ?
        WHERE id = ? AND state = 'planned'
        """,
        [(code, language, stamp, outbox_id) for outbox_id, code, language in rows],
    )


async def mark_sent_many(tx: Tx, sent: Sequence[tuple[int, int, datetime]]) -> None:
    """(outbox id, Telegram's message id, when) of each row Telegram accepted."""
    if not sent:
        return  # no trip to the database for nothing
    rows = [(outbox_id, message_id, to_db(at)) for outbox_id, message_id, at in sent]
    if UPDATE_FROM:
        await tx.execute(
            """
            UPDATE outbox SET state = 'sent', message_id = json_extract(j.value, '$[1]'),
                              sent_at = json_extract(j.value, '$[2]'),
                              updated_at = json_extract(j.value, '$[2]')
            FROM json_each(?) AS j
            WHERE outbox.id = json_extract(j.value, '$[0]')
            """,
            (json_rows(rows),),
        )
        return
    await tx.executemany(
        "UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ?, updated_at = ? WHERE id = ?",
        [(message_id, at, at, outbox_id) for outbox_id, message_id, at in rows],
    )


async def settle_many(
    tx: Tx, settled: Sequence[tuple[int, OutboxState, str]], now: datetime, *, from_states: tuple[str, ...]
) -> None:
    """`settle_in` for (outbox id, state, reason) of each row."""
    if not settled:
        return  # no trip to the database for nothing
    marks = ", ".join("?" for _ in from_states)
    stamp = to_db(now)
    await tx.executemany(
        f"UPDATE outbox SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state IN ({marks})",
        [(state.value, reason, stamp, outbox_id, *from_states) for outbox_id, state, reason in settled],
    )


async def postpone_many(tx: Tx, waits: Sequence[tuple[int, datetime, str]], now: datetime) -> None:
    """A planned row that must wait (caps, quiet hours, the customer's pause): (outbox id, new due time,
    reason) of each."""
    if not waits:
        return  # no trip to the database for nothing
    stamp = to_db(now)
    await tx.executemany(
        "UPDATE outbox SET due_at = ?, reason = ?, updated_at = ? WHERE id = ? AND state = 'planned'",
        [(to_db(due_at), reason, stamp, outbox_id) for outbox_id, due_at, reason in waits],
    )


async def put_back(tx: Tx, outbox_id: int, now: datetime) -> None:
    """sending → planned for a claimed row that certainly was not sent (the shop paused, or stopping)."""
    await tx.execute(
        "UPDATE outbox SET state = 'planned', attempts = attempts - 1, updated_at = ? "
        "WHERE id = ? AND state = 'sending'",
        (to_db(now), outbox_id),
    )


async def settle_in(
    tx: Tx,
    outbox_id: int,
    state: OutboxState,
    reason: str | None,
    now: datetime,
    *,
    from_states: tuple[str, ...],
) -> bool:
    marks = ", ".join("?" for _ in from_states)
    cursor = await tx.execute(
        f"UPDATE outbox SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state IN ({marks})",
        (state.value, reason, to_db(now), outbox_id, *from_states),
    )
    return cursor.rowcount == 1


async def retry_later(tx: Tx, outbox_id: int, due_at: datetime, reason: str, now: datetime) -> None:
    """A send that certainly did not arrive (429, server error): back to planned for a later try."""
    await tx.execute(
        "UPDATE outbox SET state = 'planned', due_at = ?, reason = ?, updated_at = ? "
        "WHERE id = ? AND state IN ('sending', 'planned')",
        (to_db(due_at), reason, to_db(now), outbox_id),
    )


async def recover_interrupted(db: Database, now: datetime) -> int:
    """Rows caught in 'sending' by a crash may or may not have reached the customer: never resend them."""
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE outbox SET state = 'unknown', reason = 'interrupted while sending', updated_at = ? "
            "WHERE state = 'sending'",
            (to_db(now),),
        )
        return cursor.rowcount


async def counts_by_state(q: Reader) -> list[tuple[str, str, int]]:
    rows = await q.fetch_all(
        "SELECT rule, state, COUNT(*) FROM outbox GROUP BY rule, state ORDER BY rule, state"
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def forget_user(tx: Tx, user_id: int) -> None:
    """Planned and past nudges go with the person who asked to be forgotten."""
    await tx.execute("DELETE FROM outbox WHERE user_id = ?", (user_id,))


async def latest_for_user(q: Reader, user_id: int, limit: int) -> list[OutboxRow]:
    rows = await q.fetch_all(
        f"SELECT {_ROW_SELECT} FROM outbox WHERE user_id = ? "
        "ORDER BY COALESCE(sent_at, updated_at) DESC, id DESC LIMIT ?",
        (user_id, limit),
    )
    return [_row(r) for r in rows]
