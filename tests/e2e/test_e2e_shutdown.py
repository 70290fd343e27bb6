"""SIGTERM under traffic: the process exits 0 within seconds and no update it took goes unanswered.

The emulator, like Telegram, hands an update out once (it is marked read when a getUpdates returns it), so
whatever the stopping process took it must answer before it exits: updates of the getUpdates call the
stop interrupted (PollingSession keeps them) and updates whose handlers are still running (the in-flight
drain). What it did not take is answered by the next process on the same database; the processed-updates
table keeps anything from being answered twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tgemu import Emulator, User

from .conftest import EmulatorProcess
from .support import BotProcess, query, start_bot, write_config
from .texts import seen, text

pytestmark = pytest.mark.e2e

# `docker stop` and many supervisors send SIGKILL 10 s after SIGTERM. Here an idle stop takes about 1.5 s
# (the interrupted long poll's grace) plus draining and interpreter exit, 2-3 s on a busy machine.
EXIT_WITHIN_S = 10.0
DRAIN_TIMEOUT_S = 20.0


@dataclass
class Bench:
    """A bot of its own (own token, own database) on the session's emulator."""

    emu: Emulator
    config_path: Path
    db_path: Path
    folder: Path
    started: list[BotProcess] = field(default_factory=list)

    async def start(self) -> BotProcess:
        log_path = self.folder / f"bot-{len(self.started) + 1}.log"
        bot = await asyncio.to_thread(
            start_bot, self.config_path, self.emu.token, self.emu.api_base, log_path
        )
        self.started.append(bot)
        return bot

    async def stop(self, bot: BotProcess) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the process took to exit."""
        started = time.monotonic()
        bot.terminate()
        code = await asyncio.to_thread(bot.wait, 15.0)
        return code, time.monotonic() - started

    async def answers(self) -> dict[int, list[str]]:
        """Every bot message so far, by chat, as the person sees it."""
        out: dict[int, list[str]] = {}
        for message in await self.emu.sent_messages():
            out.setdefault(message.chat_id, []).append(seen(message))
        return out

    async def fresh_poll(self, within: float = 0.25, timeout: float = 10.0) -> None:
        """Return just after the bot has begun a getUpdates that the emulator holds open (about 2 s)."""
        deadline = time.monotonic() + timeout
        while True:
            calls, _ = await self.emu.call_log()
            last = max(c["t"] for c in calls if c["method"] == "getUpdates")
            if time.time() - last < within:
                return
            assert time.monotonic() < deadline, "the bot does not poll"
            await asyncio.sleep(0.02)

    def processed(self, bot_id: int) -> set[int]:
        rows = query(self.db_path, "SELECT update_id FROM processed_updates WHERE bot_id = ?", (bot_id,))
        return {int(r[0]) for r in rows}


_tokens = iter(range(720_001, 720_100))


@pytest.fixture
async def bench(emulator: EmulatorProcess, tmp_path: Path) -> AsyncIterator[Bench]:
    token = f"{next(_tokens)}:e2e-shutdown"
    db_path = tmp_path / "bot.sqlite3"
    config_path = write_config(tmp_path / "config.toml", api_base=emulator.api_base, db_path=db_path)
    emu = Emulator(emulator.proc, emulator.api_base, token)
    bench = Bench(emu, config_path, db_path, tmp_path)
    try:
        yield bench
    finally:
        await emu.close()
        for bot in bench.started:  # a failed test may leave one running: kill it
            if bot.proc.poll() is None:
                bot.proc.kill()
                await asyncio.to_thread(bot.proc.wait)


def bot_id(bench: Bench) -> int:
    return int(bench.emu.token.split(":")[0])


# What each kind of message gets back from someone the bot does not know yet: exactly one answer.
ACTIONS: list[tuple[str, Callable[[User, int], Awaitable[None]]]] = [
    ("free-text", lambda user, n: user.send(f"message {n}")),
    ("unknown-command", lambda user, n: user.command(f"/nope{n}")),
    ("balance-unlinked", lambda user, n: user.command("/balance")),
]


async def chatter(user: User, lang: str, stop: asyncio.Event, expected: Counter[str], seed: int) -> None:
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        key, act = ACTIONS[n % len(ACTIONS)]
        await act(user, n)
        expected[text(lang, key)] += 1
        n += 1
        await asyncio.sleep(rng.uniform(0.04, 0.12))


async def test_sigterm_under_traffic_loses_no_update_and_answers_none_twice(bench: Bench) -> None:
    langs = ["ru", "en"] * 3
    users = [bench.emu.user(300_001 + i, f"U{i}", language_code=lang) for i, lang in enumerate(langs)]
    expected: dict[int, Counter[str]] = {u.id: Counter() for u in users}
    stop_sending = asyncio.Event()

    # 1. People keep writing while the first process gets SIGTERM, and after it is gone.
    first = await bench.start()
    senders = [
        asyncio.create_task(chatter(u, lang, stop_sending, expected[u.id], seed=i))
        for i, (u, lang) in enumerate(zip(users, langs, strict=True))
    ]
    try:
        await asyncio.sleep(1.0)
        code, took_first = await bench.stop(first)
        await asyncio.sleep(0.3)
    finally:
        stop_sending.set()
        await asyncio.wait_for(asyncio.gather(*senders), 10)
    assert code == 0, first.tail()
    assert took_first < EXIT_WITHIN_S, f"took {took_first:.1f} s to exit\n{first.tail()}"

    # Whatever it took from the emulator it handled, recorded and answered, once, before exiting.
    updates = await bench.emu.user_updates()
    taken = [u for u in updates if u["isRead"]]
    assert taken, "the first process took nothing"
    assert bench.processed(bot_id(bench)) == {u["updateId"] for u in taken}
    answered = {chat: len(a) for chat, a in (await bench.answers()).items()}
    assert answered == Counter(int(u["message"]["chat"]["id"]) for u in taken)

    # 2. The next process on the same database answers the rest.
    second = await bench.start()
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while sum(len(a) for a in (await bench.answers()).values()) < len(updates):
        assert time.monotonic() < deadline, f"not all answered in {DRAIN_TIMEOUT_S} s:\n{second.tail()}"
        await asyncio.sleep(0.1)

    # 3. Idle in a long poll, it gets SIGTERM; a message that arrives during the stop is taken by the
    # interrupted getUpdates, and the stopping process answers it before it exits.
    late = bench.emu.user(309_999, "Late", language_code="en")
    await bench.fresh_poll()
    sigterm_at = time.monotonic()
    second.terminate()
    await asyncio.sleep(0.2)
    await late.send("are you still there?")
    code = await asyncio.to_thread(second.wait)
    took = time.monotonic() - sigterm_at
    assert code == 0, second.tail()
    assert took < EXIT_WITHIN_S, f"took {took:.1f} s to exit\n{second.tail()}"

    # Every message got exactly the one answer it should, none twice, none lost.
    answers = await bench.answers()
    assert answers.pop(late.id) == [text("en", "free-text")]
    for user in users:
        assert Counter(answers.get(user.id, [])) == expected[user.id], user.id
    everything = await bench.emu.user_updates()
    assert all(u["isRead"] for u in everything)
    assert len(everything) == sum(sum(c.values()) for c in expected.values()) + 1
    assert bench.processed(bot_id(bench)) == {u["updateId"] for u in everything}
    for run in (first, second):
        assert not run.problems(), run.log()
    print(
        f"\n{len(everything)} updates, {len(taken)} taken by the first process; "
        f"exits took {took_first:.1f} s and {took:.1f} s; {_kept(first, second)}"
    )


def _kept(*runs: BotProcess) -> list[str]:
    return [line[24:] for run in runs for line in run.log().splitlines() if "kept" in line]
