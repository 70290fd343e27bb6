"""The SQLite file: connections, durability settings, transactions and migrations.

One writer connection guarded by a lock (SQLite has a single writer anyway, and an aiosqlite connection
shared by coroutines must not interleave two transactions), and one reader connection: in WAL mode it
reads the last committed state without waiting for the writer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import orjson

from bot.resources import resource_dir

log = logging.getLogger(__name__)
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaError(Exception):
    """The database cannot be used with this version of the code."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or resource_dir("migrations")
    found: list[Migration] = []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise SchemaError(f"{path}: migration files are named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"{folder}: migrations must be numbered 0001, 0002, … without gaps, got {versions}")
    return found


Row = sqlite3.Row

# `UPDATE … FROM json_each(?)` (SQLite 3.33+) changes a group of rows in one statement. `executemany`
# steps once a row, and every step hands Python's lock between the database thread and the event loop:
# for a delivery group that cost more than the SQL did. Older SQLite gets the statement once a row.
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)


def json_values(values: Iterable[str | int]) -> str:
    """One parameter for `IN (SELECT value FROM json_each(?))`: any number of values in one statement."""
    return orjson.dumps(list(values)).decode()


async def fetch_packed(q: Reader, sql: str, params: Sequence[Any], columns: Sequence[str]) -> list[list[Any]]:
    """The rows of `sql` (these of its columns, or expressions over them, in this order), read as one
    row of JSON.

    The connection's thread then takes Python's lock (GIL) once for the query instead of once a row:
    row by row, a delivery group's reads handed the lock back and forth with the event loop more than a
    thousand times. Integers, text and NULL come back as they are; do not use it for REAL columns (JSON
    keeps 15 digits). The order of `sql`'s rows is kept in practice, but no aggregate promises it.
    """
    # fetch_all: one trip to the connection's thread (execute, fetch and close would be three, each
    # waiting for the event loop to hand the next one over).
    (found,) = await q.fetch_all(
        f"SELECT json_group_array(json_array({', '.join(columns)})) FROM ({sql})", params
    )
    rows: list[list[Any]] = orjson.loads(found[0] or "[]")
    return rows


def json_rows(rows: Iterable[Sequence[str | int | None]]) -> str:
    """One parameter for `json_each(?)` whose each value is a row: `json_extract(value, '$[0]')` …"""
    return orjson.dumps(list(rows)).decode()


class Reader(Protocol):
    """Anything SQL can be read through: the database (committed state) or an open transaction."""

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetch_value(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class Tx:
    """An open write transaction: reads through it see its own uncommitted writes."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Cursor:
        return await self._conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> aiosqlite.Cursor:
        return await self._conn.executemany(sql, rows)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # One trip to the connection's thread, not three (execute, fetch, close).
        return list(await self._conn.execute_fetchall(sql, params))

    async def fetch_value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]


class Database:
    """An open SQLite file. Use `transaction()` for writes and `fetch_*` for reads."""

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        # One statement at a time on the reader: overlapping cursors on one connection can read a
        # snapshot from before the latest commit (seen: a balance read right after a purchase missed it).
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int = 5000) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, busy_timeout_ms)
        try:
            # WAL lets the reader see committed data while a write is under way; a property of the file.
            await _pragma(writer, "journal_mode=WAL")
            reader = await _connect(path, busy_timeout_ms)
        except BaseException:
            # An open connection's thread would keep the process from exiting (e.g. not a database).
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            await self._reader.close()
            # A clean close checkpoints the WAL into the main file.
            await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT on the writer connection; ROLLBACK on any exception."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._writer)
            except BaseException:
                await self._writer.rollback()
                raise
            await self._writer.commit()

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self._read_lock, self._reader.execute(sql, params) as cursor:
            row: Row | None = await cursor.fetchone()
            return row

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._read_lock:
            # One trip to the connection's thread, not three (execute, fetch, close).
            return list(await self._reader.execute_fetchall(sql, params))

    async def fetch_value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    # -- migrations ---------------------------------------------------------------------------------

    async def applied_versions(self) -> list[int]:
        exists = await self.fetch_value(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        )
        if not exists:
            return []
        rows = await self.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
        return [int(r[0]) for r in rows]

    async def migrate(self, migrations: Iterable[Migration] | None = None) -> list[Migration]:
        """Apply the migrations this database lacks, each in its own transaction; return those applied."""
        known = list(migrations) if migrations is not None else load_migrations()
        applied = await self.applied_versions()
        newest_known = known[-1].version if known else 0
        if applied and applied[-1] > newest_known:
            raise SchemaError(
                f"{self.path}: the database is at schema version {applied[-1]}, newer than this code "
                f"knows ({newest_known}); upgrade retention-bot instead of running an older version on it"
            )
        done: list[Migration] = []
        async with self._write_lock:
            await self._writer.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            await self._writer.commit()
            for migration in known:
                if migration.version in applied:
                    continue
                # Said before, not only after: one that builds a big table again takes minutes, once.
                log.info("applying migration %04d_%s", migration.version, migration.name)
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                record = (
                    "INSERT INTO schema_migrations (version, name, applied_at) "
                    f"VALUES ({migration.version}, '{migration.name}', '{stamp}');"
                )
                # Foreign keys off while a migration runs (set outside a transaction, or it does nothing):
                # building a table again (SQLite's way of changing its constraints) drops the old one,
                # which with them on would delete, or set to NULL, the rows pointing at it. Before the
                # commit, the migration must not have left a row pointing at nothing (one that did
                # before, e.g. from an edit by hand, is not the migration's to fix).
                await _pragma(self._writer, "foreign_keys=OFF")
                try:
                    dangling = await _dangling_rows(self._writer)
                    # executescript runs statements as written: the file and its record are one
                    # transaction, committed below.
                    await self._writer.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n;{record}")
                    if not self._writer.in_transaction or not await _recorded(self._writer, migration):
                        # An unterminated /* comment swallows the record without an error.
                        raise sqlite3.OperationalError(
                            "incomplete SQL at the end (an unterminated /* comment?)"
                        )
                    if broken := sorted(await _dangling_rows(self._writer) - dangling):
                        raise sqlite3.IntegrityError(
                            "rows left pointing at nothing: "
                            + "; ".join(
                                f"{table} row {rowid} → {parent}" for table, rowid, parent in broken[:3]
                            )
                        )
                    await self._writer.commit()
                except sqlite3.Error as exc:
                    await self._writer.rollback()
                    raise SchemaError(
                        f"migration {migration.version:04d}_{migration.name}.sql: {exc}"
                    ) from exc
                finally:
                    await _pragma(self._writer, "foreign_keys=ON")
                done.append(migration)
        return done


async def _recorded(conn: aiosqlite.Connection, migration: Migration) -> bool:
    async with conn.execute(
        "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
    ) as cursor:
        return await cursor.fetchone() is not None


async def _dangling_rows(conn: aiosqlite.Connection) -> set[tuple[str, int | None, str]]:
    """(table, rowid, table it points at) of every row whose foreign key points at no row."""
    async with conn.execute("PRAGMA foreign_key_check") as cursor:
        return {(str(row[0]), row[1], str(row[2])) for row in await cursor.fetchall()}


async def _connect(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    # isolation_level=None: transactions are begun explicitly, never implicitly by the driver.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        await _pragma(conn, f"busy_timeout={int(busy_timeout_ms)}")
        await _pragma(conn, "foreign_keys=ON")
        # FULL: a commit is on disk before it returns, so a recorded consent survives a power cut.
        await _pragma(conn, "synchronous=FULL")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _pragma(conn: aiosqlite.Connection, setting: str) -> None:
    # Read the answer to the end: an unfinished statement would keep the file locked.
    async with conn.execute(f"PRAGMA {setting}") as cursor:
        await cursor.fetchall()
