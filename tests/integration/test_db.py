"""bot.storage.db on a real SQLite file: migrations, their atomicity, and the durability pragmas."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.storage.db import Database, SchemaError, fetch_packed, load_migrations


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name).write_text(sql, "utf-8")
    return folder


async def table_names(db: Database) -> set[str]:
    rows = await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


async def columns(db: Database, table: str) -> list[str]:
    return [r["name"] for r in await db.fetch_all(f"PRAGMA table_info({table})")]


@pytest.fixture
async def raw_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    database = await Database.open(tmp_path / "raw.sqlite3")
    try:
        yield database
    finally:
        await database.close()


# -- the shipped migrations ---------------------------------------------------------------------------


def test_shipped_migrations_are_numbered_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "foundation"
    assert all(m.sql.strip() for m in migrations)


async def test_migrations_apply_in_order_and_are_recorded(
    raw_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    known = load_migrations()
    with caplog.at_level(logging.INFO, logger="bot.storage.db"):
        applied = await raw_db.migrate()
    # Each is announced as it starts (some take long): in order, every one.
    assert [r.getMessage() for r in caplog.records if r.name == "bot.storage.db"] == [
        f"applying migration {m.version:04d}_{m.name}" for m in known
    ]
    assert [m.version for m in applied] == [m.version for m in known]
    rows = await raw_db.fetch_all("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in known]
    assert all(r["applied_at"] for r in rows)
    assert {
        "customers",
        "consent_events",
        "loyalty_accounts",
        "purchases",
        "points_ledger",
        "erasures",
        "processed_updates",
    } <= await table_names(raw_db)


async def test_migrating_twice_changes_nothing(raw_db: Database) -> None:
    await raw_db.migrate()
    before = [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM schema_migrations ORDER BY version")]
    assert await raw_db.migrate() == []
    after = [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM schema_migrations ORDER BY version")]
    assert after == before


async def test_reopening_a_migrated_file_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "again.sqlite3"
    first = await Database.open(path)
    try:
        assert await first.migrate()
    finally:
        await first.close()
    second = await Database.open(path)
    try:
        assert await second.migrate() == []
        assert await second.applied_versions() == [m.version for m in load_migrations()]
    finally:
        await second.close()


async def test_a_database_newer_than_the_code_is_refused(raw_db: Database) -> None:
    await raw_db.migrate()
    async with raw_db.transaction() as tx:
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', '2030-01-01')"
        )
    with pytest.raises(SchemaError, match="schema version 99, newer than this code"):
        await raw_db.migrate()


async def test_0009_keys_the_outbox_by_its_parts_and_keeps_every_row_and_link(raw_db: Database) -> None:
    """The outbox built again without its text key: the same rows under the same ids, the coupons and
    surveys still pointing at them, and (customer, rule, period, step) unique."""
    known = load_migrations()
    await raw_db.migrate(known[:8])
    t = "2026-03-10T09:00:00+00:00"
    async with raw_db.transaction() as tx:
        await tx.execute("INSERT INTO customers (user_id, created_at, updated_at) VALUES (7, ?, ?)", (t, t))
        for id_, rule, step, period, state in [
            (1, "win_back", 0, "2026-01-01", "sent"),
            (2, "win_back", 1, "2026-01-01", "planned"),
            (5, "a:b", 0, "c", "held_out"),
            (6, "a", 0, "b:0:c", "skipped"),  # the same text key as row 5 would have been but for its step
        ]:
            await tx.execute(
                "INSERT INTO outbox (id, dedupe_key, user_id, rule, step, period, template, state, due_at, "
                "created_at, updated_at, sent_at) VALUES (?, ?, 7, ?, ?, ?, 'tip', ?, ?, ?, ?, ?)",
                (id_, f"7:{rule}:{step}:{period}:{id_}", rule, step, period, state, t, t, t, t),
            )
        await tx.execute(
            "INSERT INTO coupons (code, user_id, rule, outbox_id, kind, value, issued_at, valid_until) "
            "VALUES ('C-1', 7, 'win_back', 1, 'percent', 10, ?, ?)",
            (t, t),
        )
        await tx.execute(
            "INSERT INTO surveys (user_id, kind, outbox_id, sent_at) VALUES (7, 'leave', 2, ?)", (t,)
        )
    before = [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM outbox ORDER BY id")]

    assert [m.version for m in await raw_db.migrate(known)] == [m.version for m in known[8:]]
    assert "dedupe_key" not in await columns(raw_db, "outbox")
    after = [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM outbox ORDER BY id")]
    assert after == [row[:1] + row[2:] for row in before]  # all but the text key, as it was
    assert await raw_db.fetch_value("SELECT outbox_id FROM coupons WHERE code = 'C-1'") == 1
    assert await raw_db.fetch_value("SELECT outbox_id FROM surveys") == 2
    assert await raw_db.fetch_all("PRAGMA foreign_key_check") == []
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        async with raw_db.transaction() as tx:
            await tx.execute(
                "INSERT INTO outbox (user_id, rule, step, period, template, state, due_at, created_at, "
                "updated_at) VALUES (7, 'win_back', 1, '2026-01-01', 'tip', 'planned', ?, ?, ?)",
                (t, t, t),
            )
    # Look-ups by customer, rule and period go through the key.
    plan = await raw_db.fetch_all(
        "EXPLAIN QUERY PLAN SELECT 1 FROM outbox WHERE user_id = 7 AND rule = 'a' AND period = 'x'"
    )
    assert any("outbox_key" in row[3] for row in plan)


# -- atomicity with a migrations folder of our own ---------------------------------------------------


async def test_a_failing_migration_rolls_back_completely(raw_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_base.sql": "CREATE TABLE base (id INTEGER PRIMARY KEY);\nINSERT INTO base VALUES (1);\n",
            "0002_broken.sql": (
                "CREATE TABLE half (x INTEGER);\n"
                "INSERT INTO half VALUES (1);\n"
                "ALTER TABLE base ADD COLUMN extra TEXT;\n"
                "UPDATE base SET id = 2;\n"
                "INSERT INTO no_such_table VALUES (1);\n"
                "CREATE TABLE never (y INTEGER);\n"
            ),
        },
    )
    with pytest.raises(SchemaError) as caught:
        await raw_db.migrate(load_migrations(folder))
    assert "0002_broken.sql" in str(caught.value)
    assert "no_such_table" in str(caught.value)
    # 0001 stays applied; nothing of 0002 is left: no table, no column, no changed row, no record.
    assert await raw_db.applied_versions() == [1]
    names = await table_names(raw_db)
    assert "base" in names
    assert "half" not in names and "never" not in names
    assert await columns(raw_db, "base") == ["id"]
    assert await raw_db.fetch_value("SELECT id FROM base") == 1
    # The connection is usable: no transaction was left open.
    async with raw_db.transaction() as tx:
        await tx.execute("INSERT INTO base VALUES (5)")
    assert await raw_db.fetch_value("SELECT COUNT(*) FROM base") == 2
    # Once the file is fixed, it applies.
    (folder / "0002_broken.sql").write_text("CREATE TABLE half (x INTEGER);\n", "utf-8")
    applied = await raw_db.migrate(load_migrations(folder))
    assert [m.version for m in applied] == [2]
    assert "half" in await table_names(raw_db)


async def test_a_table_built_again_keeps_the_rows_pointing_at_it(raw_db: Database, tmp_path: Path) -> None:
    """SQLite changes a table's constraints by building it again; with foreign keys on, dropping the old
    table would set the children's keys to NULL (or refuse). The runner turns them off meanwhile."""
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_base.sql": (
                "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT UNIQUE);\n"
                "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                "parent_id INTEGER REFERENCES parent (id) ON DELETE SET NULL);\n"
                "CREATE TABLE strict_child (id INTEGER PRIMARY KEY, "
                "parent_id INTEGER REFERENCES parent (id));\n"
                "INSERT INTO parent VALUES (1, 'a'), (2, 'b');\n"
                "INSERT INTO child VALUES (10, 1), (11, 2);\n"
                "INSERT INTO strict_child VALUES (20, 2);\n"
            ),
            "0002_rebuild.sql": (
                "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT);\n"
                "INSERT INTO parent_new SELECT id, name FROM parent;\n"
                "DROP TABLE parent;\n"
                "ALTER TABLE parent_new RENAME TO parent;\n"
            ),
        },
    )
    assert [m.version for m in await raw_db.migrate(load_migrations(folder))] == [1, 2]
    assert [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM child ORDER BY id")] == [(10, 1), (11, 2)]
    assert [tuple(r) for r in await raw_db.fetch_all("SELECT * FROM strict_child")] == [(20, 2)]
    # Foreign keys are on again afterwards.
    with pytest.raises(sqlite3.IntegrityError):
        async with raw_db.transaction() as tx:
            await tx.execute("INSERT INTO strict_child VALUES (21, 99)")


# Two tables, the second's rows pointing at the first's.
PARENT_AND_CHILD = (
    "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));\n"
)


async def test_a_migration_that_leaves_rows_pointing_at_nothing_rolls_back(
    raw_db: Database, tmp_path: Path
) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_base.sql": (
                PARENT_AND_CHILD
                + "INSERT INTO parent VALUES (1), (2);\nINSERT INTO child VALUES (10, 1), (11, 2);\n"
            ),
            "0002_loses_parents.sql": "DELETE FROM parent WHERE id = 2;\nCREATE TABLE later (x INTEGER);\n",
        },
    )
    with pytest.raises(
        SchemaError, match=r"0002_loses_parents\.sql: rows left pointing at nothing: child row 11"
    ):
        await raw_db.migrate(load_migrations(folder))
    assert await raw_db.applied_versions() == [1]
    assert await raw_db.fetch_value("SELECT COUNT(*) FROM parent") == 2
    assert "later" not in await table_names(raw_db)


async def test_rows_pointing_at_nothing_before_a_migration_do_not_stop_it(
    raw_db: Database, tmp_path: Path
) -> None:
    """Left by an edit by hand (foreign keys are off in the sqlite3 shell): not the migration's doing."""
    folder = write_migrations(
        tmp_path / "migrations",
        {
            "0001_base.sql": PARENT_AND_CHILD,
            "0002_more.sql": "CREATE TABLE later (x INTEGER);\n",
        },
    )
    await raw_db.migrate(load_migrations(folder)[:1])
    with sqlite3.connect(raw_db.path) as by_hand:
        by_hand.execute("INSERT INTO child VALUES (10, 99)")
    assert [m.version for m in await raw_db.migrate(load_migrations(folder))] == [2]


async def test_a_syntax_error_rolls_back_the_statements_before_it(raw_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_typo.sql": "CREATE TABLE first (x INTEGER);\nCREATE TABLE second (y INTEGER;\n"},
    )
    with pytest.raises(SchemaError, match=r"0001_typo\.sql"):
        await raw_db.migrate(load_migrations(folder))
    assert await raw_db.applied_versions() == []
    assert "first" not in await table_names(raw_db)


async def test_an_unterminated_comment_is_not_reported_as_applied(raw_db: Database, tmp_path: Path) -> None:
    # The comment swallows the record and the COMMIT appended after the file: SQLite raises nothing.
    folder = write_migrations(
        tmp_path / "migrations",
        {"0001_comment.sql": "CREATE TABLE t (x INTEGER);\n/* forgot to close this\n"},
    )
    with pytest.raises(SchemaError, match=r"0001_comment\.sql"):
        await raw_db.migrate(load_migrations(folder))
    assert await raw_db.applied_versions() == []
    assert "t" not in await table_names(raw_db)
    async with raw_db.transaction() as tx:  # and the writer is not stuck in a transaction
        await tx.execute("CREATE TABLE ok (x INTEGER)")


async def test_a_trailing_line_comment_is_fine(raw_db: Database, tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "migrations", {"0001_tail.sql": "CREATE TABLE t (x INTEGER) -- no semicolon, no newline"}
    )
    assert [m.version for m in await raw_db.migrate(load_migrations(folder))] == [1]
    assert await raw_db.applied_versions() == [1]


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"0001_a.sql": "", "0003_c.sql": ""}, "without gaps"),
        ({"0002_b.sql": ""}, "without gaps"),
        ({"0001_a.sql": "", "0001_b.sql": ""}, "without gaps"),
        ({"1_init.sql": ""}, "named NNNN_name.sql"),
        ({"0001-init.sql": ""}, "named NNNN_name.sql"),
        ({"0001_Init.sql": ""}, "named NNNN_name.sql"),
        ({"0001_.sql": ""}, "named NNNN_name.sql"),
    ],
)
def test_load_migrations_rejects_bad_folders(tmp_path: Path, files: dict[str, str], problem: str) -> None:
    folder = write_migrations(tmp_path / "migrations", files)
    with pytest.raises(SchemaError, match=problem):
        load_migrations(folder)


def test_load_migrations_ignores_other_files_and_sorts(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "migrations",
        {"0002_second.sql": "B", "README.md": "notes", "0001_first.sql": "A", "0003_third.sql": "C"},
    )
    assert [(m.version, m.name, m.sql) for m in load_migrations(folder)] == [
        (1, "first", "A"),
        (2, "second", "B"),
        (3, "third", "C"),
    ]


# -- durability settings ------------------------------------------------------------------------------


async def pragma(conn, name: str) -> object:  # type: ignore[no-untyped-def]
    async with conn.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    return row[0]


async def test_pragmas_on_both_connections(db: Database) -> None:
    for conn in (db._writer, db._reader):
        assert await pragma(conn, "journal_mode") == "wal"
        assert await pragma(conn, "foreign_keys") == 1
        assert await pragma(conn, "synchronous") == 2  # FULL
        assert await pragma(conn, "busy_timeout") == 5000


async def test_busy_timeout_is_configurable(tmp_path: Path) -> None:
    database = await Database.open(tmp_path / "slow.sqlite3", busy_timeout_ms=1234)
    try:
        assert await pragma(database._reader, "busy_timeout") == 1234
        assert await pragma(database._writer, "busy_timeout") == 1234
    finally:
        await database.close()


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO consent_events (user_id, action, text_version, source, at) "
                "VALUES (404, 'granted', '1', '/start', '2026-01-01T00:00:00+00:00')"
            )


async def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(
                "INSERT INTO erasures (at, consent_events, had_account) VALUES ('2026-01-01', 0, 0)"
            )
            raise RuntimeError("boom")
    assert await db.fetch_value("SELECT COUNT(*) FROM erasures") == 0


async def test_the_reader_sees_committed_writes(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO erasures (at, consent_events, had_account) VALUES ('2026-01-01', 2, 1)")
    assert await db.fetch_value("SELECT consent_events FROM erasures") == 2


# -- packed reads ---------------------------------------------------------------------------------------


cells = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=20)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(cells, cells), max_size=40))
@example([(None, ""), ('"\\', "\n\x00"), ("ü 🙂 <b>&", 2**63 - 1), ("[1, 2]", '{"a": 1}')])
def test_a_packed_read_gives_what_a_row_by_row_read_gives(rows: list[tuple[Any, Any]]) -> None:
    async def check(db: Database) -> None:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE cells (n INTEGER PRIMARY KEY, a, b)")
            await tx.executemany("INSERT INTO cells (a, b) VALUES (?, ?)", rows)
        sql = "SELECT n, a, b FROM cells WHERE n > ? ORDER BY n DESC"
        packed = await fetch_packed(db, sql, (0,), ("n", "a", "b"))
        by_row = [list(r) for r in await db.fetch_all(sql, (0,))]
        assert packed == by_row

    asyncio.run(_with_db(check))


async def _with_db(check: Callable[[Database], Awaitable[None]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "packed.sqlite3")
        try:
            await check(db)
        finally:
            await db.close()
