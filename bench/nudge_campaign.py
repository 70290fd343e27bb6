"""Benchmark: a win-back campaign to N customers through the nudge pipeline, against the Bot API emulator.

    .venv/bin/python bench/nudge_campaign.py [--n 10000] [--fast-n N] [--senders 32] [--rounds 3]

1. Telegram's pace: the emulator enforces Telegram's flood limits (30 messages/s in all, 1/s per chat). N
   lapsed, opted-in customers are seeded into a fresh SQLite file, planned, and `NudgeDelivery.deliver_due`
   is timed in-process (`open_application` with a real aiogram `Bot` on the bot's own session,
   `bot.telegram.sessions.telegram_session`, pointed at the emulator). Prints messages/s and the
   emulator's flood-control violations (goals: ≥ 29/s, 0).
   At 30/s this phase takes N/30 s (about 6 minutes for 10 000).
2. Limits lifted: a fresh emulator without flood control, the bot's own pacing lifted too (100 000
   messages/s) and `--senders` concurrent senders. After a warm-up, `--rounds` rounds each deliver a
   fresh campaign to N customers, between bare aiogram loops (`asyncio.gather` of `bot.send_message` to
   as many chats, at most `--senders` at once, on aiogram's own `AiohttpSession`) against the same
   emulator: each round's pipeline messages/s against the mean of the bare loops just before and just
   after it, the median of the rounds reported (goal ≥ 90 %). The bare loop on the bot's own session
   (JSON bodies) is printed too: against it, the ratio is what the pipeline's own work costs.

Needs node (the emulator). Everything is temporary and removed at the end; exit status 1 when a delivery
check fails (not every customer got exactly one message).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "tgemu"))

from aiogram import Bot  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup  # noqa: E402
from tgemu import Emulator  # noqa: E402

from bot.app import freeze_startup_heap, open_application  # noqa: E402
from bot.clock import to_db  # noqa: E402
from bot.config import Config, parse_config  # noqa: E402
from bot.storage import outbox as outbox_store  # noqa: E402
from bot.storage.db import Database  # noqa: E402
from bot.telegram.callbacks import FewerMessages  # noqa: E402
from bot.telegram.dispatcher import build_bot  # noqa: E402
from bot.telegram.sessions import telegram_session  # noqa: E402

TOKEN = "740001:bench-campaign"
KYIV = ZoneInfo("Europe/Kyiv")
# Noon in Kyiv today (outside quiet hours whenever the benchmark runs).
NOW = datetime.combine(date.today(), datetime.min.time(), tzinfo=KYIV).replace(hour=12).astimezone(UTC)
FIRST_USER = 50_000_001
WARM_UP = 2_000  # messages sent (not counted) before the limits-lifted comparison
PRODUCTS = ["Flat white", "Капучино", "Лате", "Espresso", "Чай улун", "Круасан"]


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def make_config(db_path: Path, api_base: str, *, messages_per_second: int, senders: int) -> Config:
    """The bench's shop. Above Telegram's free 30 messages/s, `messages_per_second` is set past
    validation: limits lifted means the bot's own pacing too (beyond even the 1 000/s of paid
    broadcasts), so that what is measured is the pipeline's cost, not the pace it keeps. No paid
    broadcast is asked for: the nudges' calls stay what the bare loop sends."""
    config = parse_config(
        {
            "telegram": {"api_base": api_base, "token": TOKEN},
            "database": {"path": str(db_path)},
            "shop": {"name": "Кав'ярня «Bench»", "timezone": "Europe/Kyiv", "default_language": "uk"},
            # No holdout: every customer is sent the win-back.
            "nudges": {"holdout_percent": 0},
            "delivery": {"messages_per_second": min(messages_per_second, 30), "senders": senders},
        },
        "bench",
    )
    if messages_per_second <= 30:
        return config
    delivery = config.delivery.model_copy(update={"messages_per_second": messages_per_second})
    return config.model_copy(update={"delivery": delivery})


async def seed(db_path: Path, n: int, seed_value: int = 11, first_user: int = FIRST_USER) -> list[int]:
    """N lapsed, opted-in customers (ru/uk/en), each with a linked card, 1–4 purchases with a product line
    and their points, the last 40–170 days ago. One transaction; returns the user ids."""
    rng = random.Random(seed_value)
    db = await Database.open(db_path)
    try:
        await db.migrate()
        ids = list(range(first_user, first_user + n))
        opted_in = to_db(NOW - timedelta(days=200))
        customers, events, accounts, purchases, items, earns = [], [], [], [], [], []
        purchase_id = 0
        for account_id, uid in enumerate(ids, start=1):
            lang = rng.choice(["ru", "uk", "en"])
            customers.append((uid, f"Гість{uid % 1000}", lang, opted_in, opted_in, opted_in))
            events.append((uid, opted_in))
            accounts.append((account_id, f"BENCH-{uid}", uid, opted_in, opted_in))
            last = rng.randint(40, 170)
            for k in range(rng.randint(1, 4)):
                purchase_id += 1
                at = NOW - timedelta(days=last + 30 * k, hours=rng.randint(0, 8))
                amount = rng.randint(5_000, 40_000)
                purchases.append((purchase_id, account_id, f"b-{purchase_id}", amount, to_db(at), opted_in))
                items.append((purchase_id, rng.choice(PRODUCTS), amount))
                expires = at + timedelta(days=365)
                earns.append((account_id, amount // 2000, to_db(at), to_db(expires), f"p:{purchase_id}"))
        async with db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO customers (user_id, first_name, telegram_language, consent, consent_at, "
                "created_at, updated_at) VALUES (?, ?, ?, 'granted', ?, ?, ?)",
                customers,
            )
            await tx.executemany(
                "INSERT INTO consent_events (user_id, action, text_version, source, at) "
                "VALUES (?, 'granted', '1', '/start', ?)",
                events,
            )
            await tx.executemany(
                "INSERT INTO loyalty_accounts (id, card_code, user_id, linked_at, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                accounts,
            )
            await tx.executemany(
                "INSERT INTO purchases (id, account_id, external_id, amount_minor, currency, at, created_at, "
                "source) VALUES (?, ?, ?, ?, 'UAH', ?, ?, 'import')",
                purchases,
            )
            await tx.executemany(
                "INSERT INTO purchase_items (purchase_id, line, sku, name, qty, price_minor) "
                "VALUES (?, 1, ?, ?, '1', ?)",
                [(p, name.upper(), name, price) for p, name, price in items],
            )
            await tx.executemany(
                "INSERT INTO points_ledger (account_id, kind, points, reason, actor, at, expires_at, "
                "external_id) VALUES (?, 'earn', ?, 'purchase', 'import', ?, ?, ?)",
                earns,
            )
        return ids
    finally:
        await db.close()


def emulator_bot(api_base: str) -> Bot:
    """The bot as `run` builds it: on its own session (each call one JSON body)."""
    return build_bot(TOKEN, telegram_session(api_base))


def stock_aiogram_bot(api_base: str) -> Bot:
    """aiogram as it comes: its `AiohttpSession` (form-encoded calls)."""
    return build_bot(TOKEN, AiohttpSession(api=TelegramAPIServer.from_base(api_base)))


class RunningClock:
    """Starts at NOW and runs at real speed: a send refused with retry_after comes due again."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - self._start)


async def run_pipeline(config: Config, label: str) -> tuple[float, float, Counter[str]]:
    """Plan, then deliver as the scheduler's delivery job does until the outbox has nothing planned.

    Returns (plan seconds, delivery seconds, outcomes of every attempt)."""
    bot = emulator_bot(config.telegram.api_base)
    try:
        async with open_application(config, RunningClock(), bot) as data:
            freeze_startup_heap()  # as `run` does once started
            db = data["db"]
            started = time.perf_counter()
            plan = await data["planner"].plan()
            plan_s = time.perf_counter() - started
            print(f"  [{label}] planned {plan.written} outbox rows in {plan_s:.1f} s", flush=True)
            delivery = data["delivery"]
            assert delivery is not None
            outcomes: Counter[str] = Counter()
            progress = asyncio.create_task(_progress(db, label))
            started = time.perf_counter()
            try:
                while True:
                    outcomes.update((await delivery.deliver_due()).outcomes)
                    # Left planned: sends refused by flood control, due again after retry_after.
                    next_due = await outbox_store.next_due_at(db)
                    if next_due is None:
                        break
                    await asyncio.sleep(max(0.0, (next_due - data["clock"].now()).total_seconds()))
            finally:
                progress.cancel()
            return plan_s, time.perf_counter() - started, outcomes
    finally:
        await bot.session.close()


async def _progress(db: Database, label: str) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(30)
        sent = await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        took = time.perf_counter() - started
        print(f"  [{label}] … {sent} sent after {took:.0f} s ({sent / took:.1f}/s)", flush=True)


async def bare_loop(bot: Bot, chats: list[int], concurrency: int) -> float:
    """Seconds for a bare aiogram loop to send one message (same size, same button) to every chat.
    Closes the bot's session."""
    text = (
        "Гість, ми сумуємо за вами в Кав'ярня «Bench»! Минуло 60 днів.\n\n"
        "Повертайтеся — <b>знижка 15%</b>, ваш Flat white чекає.\n"
        "Ваш код: <code>ABCD-EFGH</code>, діє до 1 січня"
    )
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="🔕 Рідше", callback_data=FewerMessages(choice="ask").pack())]
        ]
    )
    gate = asyncio.Semaphore(concurrency)

    async def one(chat_id: int) -> None:
        async with gate:
            await bot.send_message(chat_id, text, reply_markup=markup)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in chats))
        return time.perf_counter() - started
    finally:
        await bot.session.close()


async def sends_per_chat(emu: Emulator) -> tuple[Counter[int], Counter[int], int]:
    """(delivered messages per chat, sendMessage statuses, flood-control violations)."""
    calls, violations = await emu.call_log()
    sends = [c for c in calls if c["method"] == "sendMessage"]
    delivered = Counter(int(c["chat_id"]) for c in sends if c["status"] == 200)
    return delivered, Counter(int(c["status"]) for c in sends), violations


def check(delivered: Counter[int], ids: list[int], label: str) -> bool:
    wrong = {uid: delivered[uid] for uid in ids if delivered[uid] != 1}
    if wrong:
        print(
            f"  [{label}] FAILED: {len(wrong)} customers did not get exactly one message, e.g. "
            f"{dict(list(wrong.items())[:5])}"
        )
        return False
    return True


async def telegram_pace(n: int, folder: Path) -> bool:
    print(f"\n1. Telegram's pace: {n} customers, flood limits enforced ({_load()})", flush=True)
    async with Emulator.start(token=TOKEN, enforce_limits=True) as emu:
        config = make_config(folder / "paced.sqlite3", emu.api_base, messages_per_second=30, senders=8)
        ids = await seed(Path(config.database.path), n)
        _, took, outcomes = await run_pipeline(config, "paced")
        delivered, statuses, violations = await sends_per_chat(emu)
    sent = outcomes.get("sent", 0)
    print(f"  delivery: {sent} sent in {took:.1f} s = {sent / took:.2f} messages/s   (goal ≥ 29/s)")
    print(f"  flood-control violations: {violations}   (goal 0); sendMessage statuses {dict(statuses)}")
    print(f"  outcomes: {dict(outcomes)}")
    return check(delivered, ids, "paced")


async def limits_lifted(n: int, senders: int, rounds: int, folder: Path) -> bool:
    print(
        f"\n2. Limits lifted: {n} customers, {senders} senders, no flood control, {rounds} rounds ({_load()})"
    )
    ok = True
    async with Emulator.start(token=TOKEN, enforce_limits=False) as emu:
        # The bare loops write to chats nobody else uses, so per-chat counts stay checkable.
        def chats(ids: list[int], k: int) -> list[int]:
            return [uid + k * 100_000_000 for uid in ids]

        warm_up = list(range(900_000_000, 900_000_000 + WARM_UP))
        # Warm the emulator (node compiles its hot paths as they run), so no phase meets it cold.
        await bare_loop(stock_aiogram_bot(emu.api_base), warm_up, senders)
        # stock, pipeline, stock, pipeline, …, stock: each pipeline run is compared with the bare loops
        # on either side of it, and the rounds' median taken (this machine's speed drifts by ±15 %).
        first_ids = [uid + 10 * 100_000_000 for uid in range(FIRST_USER, FIRST_USER + n)]
        stock = [n / await bare_loop(stock_aiogram_bot(emu.api_base), first_ids, senders)]
        ours: list[float] = []
        pipeline: list[float] = []
        every_id: list[int] = []
        for number in range(rounds):
            config = make_config(
                folder / f"fast-{number}.sqlite3",
                emu.api_base,
                messages_per_second=100_000,
                senders=senders,
            )
            ids = await seed(Path(config.database.path), n, first_user=FIRST_USER + number * n)
            every_id += ids
            _, took, outcomes = await run_pipeline(config, f"fast {number + 1}")
            pipeline.append(outcomes.get("sent", 0) / took)
            stock.append(n / await bare_loop(stock_aiogram_bot(emu.api_base), chats(ids, 1), senders))
            ours.append(n / await bare_loop(emulator_bot(emu.api_base), chats(ids, 2), senders))
            ratio = pipeline[-1] / ((stock[-2] + stock[-1]) / 2)
            print(
                f"  round {number + 1}: pipeline {pipeline[-1]:.0f} messages/s; bare aiogram loop "
                f"{stock[-2]:.0f} before, {stock[-1]:.0f} after: {ratio:.1%}; "
                f"the bare loop on the bot's session {ours[-1]:.0f}",
                flush=True,
            )
        delivered, statuses, _ = await sends_per_chat(emu)
        ok = check(delivered, every_id, "fast")
    ratios = sorted(p / ((stock[k] + stock[k + 1]) / 2) for k, p in enumerate(pipeline))
    own = sorted(p / o for p, o in zip(pipeline, ours, strict=True))
    print(
        f"  pipeline (deliver_due): {statistics.median(pipeline):.0f} messages/s (median of {rounds}); "
        f"bare aiogram loop {statistics.median(stock):.0f}"
    )
    print(
        f"  ratio: {statistics.median(ratios):.1%} median, rounds {', '.join(f'{r:.1%}' for r in ratios)}"
        f"   (goal ≥ 90 %); sendMessage statuses {dict(statuses)}"
    )
    print(
        f"  against the same loop on the bot's session (JSON bodies): {statistics.median(own):.1%} "
        "(what the pipeline's own work costs)"
    )
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="customers in the paced phase (default 10 000)")
    parser.add_argument(
        "--fast-n", type=int, default=None, help="customers with limits lifted (default: --n)"
    )
    parser.add_argument("--senders", type=int, default=32, help="concurrency with limits lifted (default 32)")
    parser.add_argument("--skip-paced", action="store_true", help="only the limits-lifted comparison")
    parser.add_argument("--rounds", type=int, default=3, help="limits-lifted rounds (default 3)")
    args = parser.parse_args()
    print(f"nudge campaign benchmark, now = {NOW.astimezone(KYIV):%Y-%m-%d %H:%M} Kyiv")
    ok = True
    with tempfile.TemporaryDirectory(prefix="nudge-campaign-") as tmp:
        if not args.skip_paced:
            ok &= await telegram_pace(args.n, Path(tmp))
        ok &= await limits_lifted(args.fast_n or args.n, args.senders, args.rounds, Path(tmp))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
