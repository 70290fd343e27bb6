"""Fixtures shared by the unit, integration and in-process tests.

Time never comes from the wall clock here: every test that needs "now" gets a `ManualClock`.
Databases are real SQLite files under `tmp_path`, opened, migrated and always closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.config import Config, parse_config
from bot.storage.db import Database

# A Tuesday morning in Kyiv winter time (UTC+2): far from DST changes and month ends.
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def no_bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """BOT_TOKEN in the developer's shell must not leak into configs built by tests."""
    monkeypatch.delenv("BOT_TOKEN", raising=False)


@pytest.fixture
def make_config(tmp_path: Path, no_bot_token: None) -> Callable[..., Config]:
    """`make_config(shop={...}, staff={...})`: a validated Config whose database lives in tmp_path."""

    def make(**sections: dict[str, Any]) -> Config:
        data: dict[str, Any] = {
            "database": {"path": str(tmp_path / "bot.sqlite3")},
            "shop": {"name": "Test Shop", "default_language": "uk", "currency": "UAH", "phone_region": "UA"},
        }
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        return parse_config(data, "test")

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database file, closed after the test."""
    database = await Database.open(tmp_path / "bot.sqlite3")
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()
