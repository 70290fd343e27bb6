"""Fixtures: one emulator and one `retention-bot run` process for the session; a fresh client per test.

Tests stay independent by using user ids no other test uses (`people`) and shop records seeded for them
alone (`Seeds`). Tests that need a bot of their own (start/stop) use another token on the same emulator.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

# tests/tgemu/tgemu.py, the emulator's client, is imported as the top-level module `tgemu`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tgemu"))

from tgemu import Emulator, User, launch, stop_process

from .support import (
    BotProcess,
    Seeds,
    planned_seeds,
    seed,
    start_bot,
    write_config,
)

MAIN_TOKEN = "710001:e2e-main-bot"


@dataclass(frozen=True)
class EmulatorProcess:
    proc: subprocess.Popen[str]
    api_base: str


@dataclass
class BotEnv:
    """The session's bot: its process, config, database and what was seeded into it."""

    emulator: EmulatorProcess
    token: str
    config_path: Path
    db_path: Path
    seeds: Seeds
    bot: BotProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("node") is None:
        skip = pytest.mark.skip(reason="node is not installed: the Telegram Bot API emulator needs it")
        for item in items:
            if "emulator" in getattr(item, "fixturenames", ()):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    proc, api_base = launch()
    try:
        yield EmulatorProcess(proc, api_base)
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def bot_env(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotEnv]:
    """The database seeded first, then `retention-bot run` started on it; stopped (exit 0) at the end."""
    folder = tmp_path_factory.mktemp("bot")
    db_path = folder / "bot.sqlite3"
    seeds = planned_seeds(datetime.now(UTC))
    asyncio.run(seed(db_path, seeds))
    config_path = write_config(folder / "config.toml", api_base=emulator.api_base, db_path=db_path)
    bot = start_bot(config_path, MAIN_TOKEN, emulator.api_base, folder / "bot.log")
    try:
        yield BotEnv(emulator, MAIN_TOKEN, config_path, db_path, seeds, bot)
    finally:
        code = bot.stop()
        assert code == 0, f"the session's bot exited with {code}:\n{bot.tail()}"
        assert not bot.problems(), bot.log()


@pytest.fixture
async def emu(bot_env: BotEnv) -> AsyncIterator[Emulator]:
    """A client of the session's emulator acting for the session's bot; closed after the test."""
    client = Emulator(bot_env.emulator.proc, bot_env.emulator.api_base, bot_env.token)
    try:
        yield client
    finally:
        await client.close()


_user_ids = itertools.count(100_001)


@pytest.fixture
def people(emu: Emulator) -> Callable[..., User]:
    """`people(lang, name)`: a Telegram user no other test has used."""

    def make(language_code: str | None, first_name: str = "Test", user_id: int | None = None) -> User:
        return emu.user(user_id or next(_user_ids), first_name, language_code=language_code)

    return make
