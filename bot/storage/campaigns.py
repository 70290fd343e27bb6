"""SQL for `campaigns` (and the state of their outbox rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import from_db, to_db
from bot.storage.db import Database, Reader, Row

# The outbox template name of a campaign whose text the owner wrote.
OWN_TEXT = "campaign_text"


@dataclass(frozen=True)
class Campaign:
    id: int
    created_by: int
    segment: str
    template: str | None
    text: str | None
    state: str
    recipients: int
    created_at: datetime
    finished_at: datetime | None


def _campaign(row: Row) -> Campaign:
    return Campaign(
        id=row["id"],
        created_by=row["created_by"],
        segment=row["segment"],
        template=row["template"],
        text=row["text"],
        state=row["state"],
        recipients=row["recipients"],
        created_at=from_db(row["created_at"]),
        finished_at=from_db(row["finished_at"]) if row["finished_at"] else None,
    )


async def create(
    db: Database,
    owner_id: int,
    segment: str,
    template: str | None,
    text: str | None,
    recipients: int,
    now: datetime,
) -> int:
    async with db.transaction() as tx:
        cursor = await tx.execute(
            "INSERT INTO campaigns (created_by, segment, template, text, recipients, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (owner_id, segment, template, text, recipients, to_db(now)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid


async def get(q: Reader, campaign_id: int) -> Campaign | None:
    row = await q.fetch_one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))
    return _campaign(row) if row else None


async def outbox_counts(q: Reader, campaign_id: int) -> dict[str, int]:
    rows = await q.fetch_all(
        "SELECT state, COUNT(*) FROM outbox WHERE campaign_id = ? GROUP BY state", (campaign_id,)
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def skipped_reasons(q: Reader, campaign_id: int) -> dict[str, int]:
    rows = await q.fetch_all(
        "SELECT COALESCE(reason, ''), COUNT(*) FROM outbox "
        "WHERE campaign_id = ? AND state IN ('skipped', 'failed') GROUP BY reason",
        (campaign_id,),
    )
    return {str(r[0]): int(r[1]) for r in rows}


async def finish(db: Database, campaign_id: int, state: str, now: datetime) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE campaigns SET state = ?, finished_at = ? WHERE id = ? AND state = 'running'",
            (state, to_db(now), campaign_id),
        )


async def cancel(db: Database, campaign_id: int, now: datetime) -> None:
    """The campaign and its unsent messages, in one transaction."""
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE campaigns SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'running'",
            (to_db(now), campaign_id),
        )
        await tx.execute(
            "UPDATE outbox SET state = 'skipped', reason = 'campaign cancelled', updated_at = ? "
            "WHERE campaign_id = ? AND state = 'planned'",
            (to_db(now), campaign_id),
        )


async def text_of(q: Reader, campaign_id: int) -> str | None:
    value = await q.fetch_value("SELECT text FROM campaigns WHERE id = ?", (campaign_id,))
    return str(value) if value is not None else None
