"""SQL for `audit_log`: every staff action."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.clock import from_db, to_db
from bot.storage.db import Database, Reader, Tx


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    staff_id: int
    action: str
    detail: str


async def record(db: Database, staff_id: int, action: str, detail: str, now: datetime) -> None:
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO audit_log (at, staff_id, action, detail) VALUES (?, ?, ?, ?)",
            (to_db(now), staff_id, action, detail[:500]),
        )


async def latest(q: Reader, limit: int) -> list[AuditEntry]:
    rows = await q.fetch_all(
        "SELECT at, staff_id, action, detail FROM audit_log ORDER BY at DESC, id DESC LIMIT ?", (limit,)
    )
    return [AuditEntry(from_db(r[0]), int(r[1]), r[2], r[3]) for r in rows]


async def forget(tx: Tx, texts: Sequence[str]) -> None:
    """Take these texts (a forgotten customer's id, username, phone, name, as staff may have typed them
    in a command) out of every recorded action's detail, where each stands as a whole: "1001" goes, but
    not out of "100123", someone else's id."""
    if not texts:
        return
    # Longest first, so that a text inside another (a number without its "+") does not cut it short.
    ordered = sorted(texts, key=len, reverse=True)
    whole = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")
    found = " OR ".join("instr(detail, ?) > 0" for _ in ordered)
    cursor = await tx.execute(f"SELECT id, detail FROM audit_log WHERE {found}", ordered)
    for id_, detail in await cursor.fetchall():
        if (erased := whole.sub("[erased]", detail)) != detail:
            await tx.execute("UPDATE audit_log SET detail = ? WHERE id = ?", (erased, id_))
