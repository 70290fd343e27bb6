"""Helpers for the end-to-end tests: the real `retention-bot run` process, its config and its database.

The bot runs as a subprocess exactly as a shop runs it (`retention-bot --config CFG run`, BOT_TOKEN in the
environment), talking HTTP to the Telegram Bot API emulator. Tests act as people through the emulator and
read the SQLite file directly to check what the bot recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import LedgerKind
from bot.storage import accounts, ledger
from bot.storage.db import Database

# The console script installed next to the interpreter running the tests (.venv/bin/retention-bot).
BOT_SCRIPT = Path(sys.executable).with_name("retention-bot")
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_WARNING = re.compile(r"\w+Warning: ")  # how Python prints a warning, e.g. "RuntimeWarning: coroutine …"

SHOP_NAME = "Кав'ярня «E2E»"
SHOP_ZONE = ZoneInfo("Europe/Kyiv")
TEXT_VERSION = "e2e-consent-7"
OWNER_ID = 9_000_001
STAFF_ID = 9_000_002


def write_config(path: Path, *, api_base: str, db_path: Path, polling_timeout: int = 10) -> Path:
    """A complete config the way a shop writes one; the token comes from BOT_TOKEN, never the file."""
    path.write_text(
        f"""
[telegram]
api_base = "{api_base}"
polling_timeout = {polling_timeout}

[database]
path = "{db_path}"

[shop]
name = "{SHOP_NAME}"
timezone = "{SHOP_ZONE.key}"
currency = "UAH"
default_language = "uk"
phone_region = "UA"

[staff]
owners = [{OWNER_ID}]
staff = [{STAFF_ID}]

[consent]
text_version = "{TEXT_VERSION}"

[marketing]
max_per_7_days = 1
max_per_30_days = 3

[loyalty]
tier_basis = "purchases"
regular_from = 3
loyal_from = 5
points_expire_months = 12
""",
        encoding="utf-8",
    )
    return path


# -- the bot process ----------------------------------------------------------------------------------


@dataclass
class BotProcess:
    """One `retention-bot run` subprocess; its stdout and stderr go to `log_path`."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def problems(self) -> list[str]:
        """Log lines showing a crash or a Python warning (an un-awaited coroutine, say): none expected."""
        return [line for line in self.log().splitlines() if "Traceback" in line or _WARNING.search(line)]

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """The exit code; kills the process (and fails) if it does not exit in time."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the bot did not exit within {timeout} s:\n{self.tail()}") from None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        self.terminate()
        return self.wait(timeout)


def bot_command(config_path: Path, *args: str) -> list[str]:
    assert BOT_SCRIPT.exists(), f"{BOT_SCRIPT} is missing: pip install -e '.[dev]'"
    return [str(BOT_SCRIPT), "--config", str(config_path), *args]


def bot_environment(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    if token is not None:
        env["BOT_TOKEN"] = token
    return env


async def run_command(config_path: Path, token: str | None, *args: str, timeout: float) -> str:
    """`retention-bot --config … ARGS` to its end: its standard output. It must succeed, no traceback."""
    done = await asyncio.to_thread(
        subprocess.run,
        bot_command(config_path, *args),
        env=bot_environment(token),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def start_bot(config_path: Path, token: str, api_base: str, log_path: Path) -> BotProcess:
    """Start `retention-bot run` and return once it polls the emulator (its start-up work is done)."""
    polls_before = _count_calls(api_base, token, "getUpdates")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            bot_command(config_path, "run"),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=bot_environment(token),
        )
    bot = BotProcess(proc, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while _count_calls(api_base, token, "getUpdates") <= polls_before:
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited with {proc.returncode} while starting:\n{bot.tail()}")
        if time.monotonic() > deadline:
            bot.stop()
            raise AssertionError(f"the bot did not start polling in {STARTUP_TIMEOUT_S} s:\n{bot.tail()}")
        time.sleep(0.05)
    return bot


def _count_calls(api_base: str, token: str, method: str) -> int:
    request = urllib.request.Request(
        f"{api_base}/getCallLog",
        data=json.dumps({"token": token}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        calls: list[dict[str, Any]] = json.load(response)["result"]
    return sum(1 for c in calls if c["method"] == method)


# -- the database -------------------------------------------------------------------------------------


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived reader beside the bot's own connections (the file is in WAL mode)."""
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    with connect(db_path) as conn:
        return list(conn.execute(sql, params).fetchall())


def value(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    rows = query(db_path, sql, params)
    return rows[0][0] if rows else None


# -- what the database is seeded with before the bot starts --------------------------------------------


@dataclass(frozen=True)
class BalanceSeed:
    """A card with a year of history. Expected: 52 points, tier "regular", 12 points expiring first.

    Earned lots (expiring 12 months after): 8 (400 days ago, already expired and written off), 17, 15, 10,
    15; 5 points redeemed 10 days ago come out of the lot that expires first (the 17), leaving 12 there.
    Four purchases fall in the last 12 months (regular_from = 3, loyal_from = 5); the fifth is older.
    """

    card: str
    points: int
    tier: str
    expiry_points: int
    expiry_at: datetime


@dataclass(frozen=True)
class Seeds:
    now: datetime
    balance: dict[str, BalanceSeed] = field(default_factory=dict)
    taken_card: dict[str, str] = field(default_factory=dict)
    forget_card: dict[str, str] = field(default_factory=dict)
    data_card: dict[str, str] = field(default_factory=dict)
    own_phone: dict[str, str] = field(default_factory=dict)  # E.164, as the shop's till knows it
    other_phone: dict[str, str] = field(default_factory=dict)
    foreign_phone: dict[str, str] = field(default_factory=dict)


LANGUAGES = ("ru", "en")


def planned_seeds(now: datetime) -> Seeds:
    expiry_at = _noon(now - timedelta(days=300)) + timedelta(days=365)
    return Seeds(
        now=now,
        balance={
            lang: BalanceSeed(f"E2E-BAL-{lang.upper()}", 52, "regular", 12, expiry_at) for lang in LANGUAGES
        },
        taken_card={lang: f"E2E-TAKEN-{lang.upper()}" for lang in LANGUAGES},
        forget_card={lang: f"E2E-FORGET-{lang.upper()}" for lang in LANGUAGES},
        data_card={lang: f"E2E-DATA-{lang.upper()}" for lang in LANGUAGES},
        own_phone={"ru": "+380501110001", "en": "+380501110002"},
        other_phone={"ru": "+380501110003", "en": "+380501110004"},
        foreign_phone={"ru": "+79161234567", "en": "+48601234567"},
    )


def _noon(moment: datetime) -> datetime:
    # Noon UTC is the same calendar day in Kyiv, so the date the bot shows is unambiguous.
    return moment.astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


async def seed(db_path: Path, seeds: Seeds) -> None:
    """Shop records created the way bot/demo.py seeds its demo shop."""
    db = await Database.open(db_path)
    try:
        await db.migrate()
        now = seeds.now
        for lang in LANGUAGES:
            await _seed_history(db, seeds.balance[lang].card, now)
            await accounts.create(
                db, now - timedelta(days=30), card_code=seeds.taken_card[lang], name="Taken"
            )
            for card in (seeds.forget_card[lang], seeds.data_card[lang]):
                await _seed_one_purchase(db, card, now)
            for phones in (seeds.own_phone, seeds.other_phone, seeds.foreign_phone):
                await accounts.create(db, now - timedelta(days=30), phone=phones[lang], name=f"Phone {lang}")
    finally:
        await db.close()


async def _seed_one_purchase(db: Database, card: str, now: datetime) -> None:
    """A card with one purchase of 140.00 UAH three days ago that earned 7 points."""
    account = await accounts.create(db, now - timedelta(days=30), card_code=card, name=f"Card {card}")
    at = _noon(now - timedelta(days=3))
    await ledger.record_purchase(db, account.id, f"{card}-1", 14000, "UAH", at, now)
    await ledger.append(
        db,
        account.id,
        LedgerKind.EARN,
        7,
        reason="purchase",
        actor="import",
        at=at,
        expires_at=at + timedelta(days=365),
        external_id=f"earn-{card}-1",
    )


async def _seed_history(db: Database, card: str, now: datetime) -> None:
    account = await accounts.create(db, now - timedelta(days=500), card_code=card, name=f"Card {card}")
    earned = [(400, 8), (300, 17), (200, 15), (100, 10), (30, 15)]  # (days ago, points)
    for days_ago, points in earned:
        at = _noon(now - timedelta(days=days_ago))
        external = f"{card}-{days_ago}"
        await ledger.record_purchase(db, account.id, external, points * 2000, "UAH", at, now)
        await ledger.append(
            db,
            account.id,
            LedgerKind.EARN,
            points,
            reason="purchase",
            actor="import",
            at=at,
            expires_at=at + timedelta(days=365),
            external_id=f"earn-{external}",
        )
    old = _noon(now - timedelta(days=400))
    await ledger.append(
        db,
        account.id,
        LedgerKind.EXPIRE,
        -8,
        reason="expired",
        actor="system",
        at=old + timedelta(days=365),
        external_id=f"expire-{card}",
    )
    await ledger.append(
        db,
        account.id,
        LedgerKind.REDEEM,
        -5,
        reason="redeemed at the till",
        actor="api",
        at=_noon(now - timedelta(days=10)),
        external_id=f"redeem-{card}",
    )
