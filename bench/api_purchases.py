"""Throughput of POST /api/v1/purchases against a fresh SQLite file, over real loopback HTTP.

    .venv/bin/python bench/api_purchases.py [--n 2000] [--concurrency 20] [--customers 300] [--with-bot]

Opens a temporary database (migrated, with the production durability settings), starts the API on a free
loopback port, posts N purchases with distinct ids from `concurrency` clients at once (a few hundred
customers, by phone or card, some with item lines), prints purchases/s and latency percentiles, and checks
that the database holds exactly N purchases and N earn entries. Exit status 1 when a check fails.

By default the API runs in this process, alone. With `--with-bot` the same load goes to the bot as a shop
runs it: the Telegram Bot API emulator (tests/tgemu, needs node) is started, then `retention-bot run` as a
subprocess with `[api] enabled` on a free port; once it polls, a customer links the card of one of the
loaded customers, the N purchases are posted to the bot's API, and meanwhile that customer keeps sending
/balance: the time of each answer is printed, and after the load the bot's /balance must match the ledger.
Everything started is stopped at the end (the bot must exit 0 with no traceback in its log).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "tgemu"))  # the emulator's client, for --with-bot

from tgemu import Emulator, User, free_port, launch, stop_process  # noqa: E402

from bot.api import build_api_app, start_api  # noqa: E402
from bot.app import open_application  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.storage import accounts  # noqa: E402
from bot.storage.db import Database  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
DEADLINE_S = 600

# --with-bot
BOT_TOKEN = "734001:bench-api-purchases"
BOT_SCRIPT = Path(sys.executable).with_name("retention-bot")
BOT_START_TIMEOUT_S = 60
BOT_STOP_TIMEOUT_S = 20
CUSTOMER_ID = 734_000_001  # the Telegram user who asks /balance during the load
CUSTOMER_CARD = "BENCH-00000"  # customer 0 of make_purchases: shows a card, and is loaded like the rest
BALANCE = re.compile(r"Your points: ([0-9][0-9,]*)")  # templates/en/bot.ftl, balance-points
ANSWER_TIMEOUT_S = 30
PROBE_PAUSE_S = 0.25


def make_purchases(n: int, customers: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    bodies = []
    for i in range(n):
        c = rng.randrange(customers)
        # Every third customer shows a loyalty card, the others give a phone.
        customer = {"card": f"BENCH-{c:05d}"} if c % 3 == 0 else {"phone": f"+38050{c:07d}"}
        amount_minor = rng.randrange(2_000, 500_000)  # 20.00 … 5000.00 UAH: always at least 1 point
        body: dict[str, Any] = {
            "purchase_id": f"bench-{seed}-{i:07d}",
            "customer": customer,
            "amount": f"{amount_minor // 100}.{amount_minor % 100:02d}",
            "currency": "UAH",
            "at": at,
        }
        if i % 2 == 0:
            body["items"] = [
                {"sku": f"SKU-{rng.randrange(100)}", "name": "Spice mix", "qty": "0.250", "price": "12.50"},
                {"sku": "BAG", "name": "Bag", "qty": 1, "price": 2},
            ]
        bodies.append(body)
    return bodies


async def post_all(
    base_url: str, bodies: list[dict[str, Any]], concurrency: int, warm: asyncio.Event | None = None
) -> tuple[list[float], dict[int, int], int, float]:
    """Latencies (seconds), a count per HTTP status, answers without a balance, and the wall time.
    `warm` is set once a twentieth of the answers are in (the load is well under way)."""
    warm_after = max(1, len(bodies) // 20)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    no_balance = 0
    headers = {"Authorization": f"Bearer {TOKEN}"}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal no_balance
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                async with session.post("/api/v1/purchases", json=body, headers=headers) as response:
                    answer = await response.json()
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    no_balance += response.status == 201 and answer.get("balance") is None
                if warm is not None and len(latencies) >= warm_after:
                    warm.set()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, statuses, no_balance, wall


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Load:
    """What posting the purchases did, and what the database holds after."""

    n: int
    concurrency: int
    customers: int
    latencies: list[float]
    statuses: dict[int, int]
    no_balance: int
    wall: float
    purchases: int = 0
    earned: int = 0
    accounts: int = 0
    items: int = 0
    problems: list[str] = field(default_factory=list)


async def run(n: int, concurrency: int, customers: int, seed: int) -> int:
    """The API in this process, alone."""
    with tempfile.TemporaryDirectory(prefix="api-bench-") as folder:
        config = parse_config(
            {
                "database": {"path": str(Path(folder) / "bench.sqlite3")},
                "shop": {"name": "Bench", "currency": "UAH", "phone_region": "UA"},
                "api": {"enabled": True, "host": "127.0.0.1", "port": 1},
            },
            "bench",
        )
        async with open_application(config, SystemClock()) as data:
            app = build_api_app(data["loyalty"], data["config"], TOKEN, data["clock"])
            runner = await start_api(app, "127.0.0.1", 0)
            try:
                host, port = runner.addresses[0][:2]
                bodies = make_purchases(n, customers, seed)
                load = Load(
                    n, concurrency, customers, *await post_all(f"http://{host}:{port}", bodies, concurrency)
                )
            finally:
                await runner.cleanup()
            db = data["db"]
            load.purchases = int(await db.fetch_value("SELECT COUNT(*) FROM purchases"))
            load.earned = int(await db.fetch_value("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'"))
            load.accounts = int(await db.fetch_value("SELECT COUNT(*) FROM loyalty_accounts"))
            load.items = int(await db.fetch_value("SELECT COUNT(*) FROM purchase_items"))
    return report(load)


def report(load: Load) -> int:
    """Print the figures; 1 when a check failed (the problems found on the way included)."""
    n = load.n
    ms = [x * 1000 for x in load.latencies]
    print(f"purchases:   {n} posted by {load.concurrency} concurrent clients, {load.customers} customers")
    print(f"machine:     load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"statuses:    {dict(sorted(load.statuses.items()))}")
    print(f"throughput:  {n / load.wall:.0f} purchases/s ({load.wall:.2f} s)")
    print(
        f"latency ms:  p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
        f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )
    print(
        f"database:    {load.purchases} purchases, {load.earned} earn entries, {load.accounts} accounts, "
        f"{load.items} item lines"
    )
    if load.no_balance:
        print(f"warning:     {load.no_balance} answers 201 without a balance (a read that missed the commit)")
    problems = list(load.problems)
    if load.statuses != {201: n}:
        problems.append(f"expected {n} answers 201, got {load.statuses}")
    if load.purchases != n or load.earned != n:
        problems.append(
            f"expected {n} purchases and {n} earn entries, got {load.purchases} and {load.earned}"
        )
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("OK: ledger holds exactly one earn entry per purchase")
    return 1 if problems else 0


# -- --with-bot: the same load on `retention-bot run`, with a customer talking to the bot meanwhile ------


def write_bot_config(folder: Path, api_base: str, db_path: Path, port: int) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"""
[telegram]
api_base = "{api_base}"
polling_timeout = 10

[database]
path = "{db_path}"

[shop]
name = "Bench"
currency = "UAH"
phone_region = "UA"

[api]
enabled = true
host = "127.0.0.1"
port = {port}

[nudges]
enabled = false
""",
        encoding="utf-8",
    )
    return path


async def seed_customer_card(db_path: Path) -> None:
    """The card the emulator's customer links: customer 0's, which the load posts purchases for."""
    db = await Database.open(db_path)
    try:
        await db.migrate()
        await accounts.create(db, datetime.now(UTC), card_code=CUSTOMER_CARD, name="Bench customer")
    finally:
        await db.close()


class BotRun:
    """`retention-bot run` as a subprocess, its output in a log file; `stop` ends it (SIGTERM, then kill)."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
        env |= {"BOT_TOKEN": BOT_TOKEN, "RETENTION_API_TOKEN": TOKEN}
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(BOT_SCRIPT), "--config", str(config_path), "run"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(BOT_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -9


async def wait_until_polling(emu: Emulator, bot: BotRun, api_url: str) -> None:
    """Until the bot has asked the emulator for updates and its API answers /healthz."""
    deadline = time.monotonic() + BOT_START_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            if bot.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {bot.proc.returncode} while starting:\n{bot.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start in {BOT_START_TIMEOUT_S} s:\n{bot.tail()}")
            calls, _ = await emu.call_log()
            if any(c["method"] == "getUpdates" for c in calls):
                try:
                    async with session.get(f"{api_url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
            await asyncio.sleep(0.05)


async def balance_answer(user: User, timeout: float = ANSWER_TIMEOUT_S) -> tuple[int, int]:
    """The points the next /balance answer shows, and how many other messages came meanwhile (tier-up)."""
    others = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in await user.messages():
            found = BALANCE.search(message.body)
            if found:
                return int(found.group(1).replace(",", "")), others
            others += 1
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no answer to /balance within {timeout} s")


@dataclass
class Probe:
    """The customer's /balance during the load: seconds to each answer, and whether the load still ran."""

    answers: list[tuple[float, bool]] = field(default_factory=list)
    other_messages: int = 0


async def probe_balance(user: User, warm: asyncio.Event, load: asyncio.Task[Any], probe: Probe) -> None:
    """/balance again and again from when the load is well under way until it ends."""
    warmed = asyncio.ensure_future(warm.wait())
    await asyncio.wait({warmed, load}, return_when=asyncio.FIRST_COMPLETED)
    warmed.cancel()
    while not load.done():
        started = time.perf_counter()
        await user.command("/balance")
        _, others = await balance_answer(user)
        probe.answers.append((time.perf_counter() - started, not load.done()))
        probe.other_messages += others
        await asyncio.sleep(PROBE_PAUSE_S)


def database_counts(db_path: Path) -> tuple[int, int, int, int, int]:
    """Purchases, earn entries, accounts, item lines, and the points of the customer's card (read beside
    the running bot: the file is in WAL mode)."""
    with closing(sqlite3.connect(db_path, timeout=10)) as conn:

        def one(sql: str, *params: Any) -> int:
            return int(conn.execute(sql, params).fetchone()[0] or 0)

        return (
            one("SELECT COUNT(*) FROM purchases"),
            one("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'"),
            one("SELECT COUNT(*) FROM loyalty_accounts"),
            one("SELECT COUNT(*) FROM purchase_items"),
            one(
                "SELECT SUM(l.points) FROM points_ledger l JOIN loyalty_accounts a ON a.id = l.account_id "
                "WHERE a.card_code = ?",
                CUSTOMER_CARD,
            ),
        )


async def run_with_bot(n: int, concurrency: int, customers: int, seed: int) -> int:
    with tempfile.TemporaryDirectory(prefix="api-bench-bot-") as name:
        folder = Path(name)
        db_path = folder / "bench.sqlite3"
        await seed_customer_card(db_path)
        proc, api_base = await asyncio.to_thread(launch)
        emu = Emulator(proc, api_base, BOT_TOKEN)
        bot: BotRun | None = None
        code: int | None = None
        try:
            port = free_port()
            api_url = f"http://127.0.0.1:{port}"
            bot = BotRun(write_bot_config(folder, api_base, db_path, port), folder / "bot.log")
            started = time.perf_counter()
            await wait_until_polling(emu, bot, api_url)
            print(f"bot:         polling and serving the API after {time.perf_counter() - started:.1f} s")

            user = emu.user(CUSTOMER_ID, "Bench", language_code="en")
            await user.command(f"/start card_{CUSTOMER_CARD}")
            await user.wait_messages(2, timeout=ANSWER_TIMEOUT_S)  # linked, and the consent question

            bodies = make_purchases(n, customers, seed)
            warm = asyncio.Event()
            task = asyncio.create_task(post_all(api_url, bodies, concurrency, warm))
            probe = Probe()
            try:
                await probe_balance(user, warm, task, probe)
            except BaseException:
                task.cancel()  # interrupted, out of time, or the bot stopped answering: the load stops too
                await asyncio.gather(task, return_exceptions=True)
                raise
            latencies, statuses, no_balance, wall = await task
            load = Load(n, concurrency, customers, latencies, statuses, no_balance, wall)

            await user.command("/balance")
            shown, others = await balance_answer(user)
            probe.other_messages += others
            load.purchases, load.earned, load.accounts, load.items, points = await asyncio.to_thread(
                database_counts, db_path
            )
        finally:
            await emu.close()
            if bot is not None:
                code = bot.stop()
            await asyncio.to_thread(stop_process, proc)
        assert bot is not None
        during = [seconds for seconds, under_load in probe.answers if under_load]
        ms = [seconds * 1000 for seconds in during]
        if ms:
            print(
                f"bot /balance: {len(ms)} answered during the load: first {ms[0]:.0f} ms, "
                f"p50 {percentile(ms, 50):.0f} ms, max {max(ms):.0f} ms "
                f"({probe.other_messages} other messages to the customer, e.g. tier-up)"
            )
        else:
            load.problems.append("the bot answered no /balance while the load ran")
        print(f"bot /balance: {shown} points after the load; the ledger holds {points}")
        if shown != points:
            load.problems.append(f"/balance shows {shown} points, the ledger holds {points}")
        problems_in_log = [line for line in bot.log().splitlines() if "Traceback" in line]
        if code != 0 or problems_in_log:
            load.problems.append(
                f"the bot exited with {code}, {len(problems_in_log)} tracebacks:\n{bot.tail()}"
            )
        return report(load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="purchases to post (default 2000)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
    parser.add_argument("--customers", type=int, default=300, help="distinct customers (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for amounts and customers")
    parser.add_argument(
        "--with-bot",
        action="store_true",
        help="post to `retention-bot run` (a subprocess, against the Telegram Bot API emulator: needs node) "
        "while a customer asks it /balance",
    )
    args = parser.parse_args()
    if args.n < 1 or args.concurrency < 1 or args.customers < 1:
        parser.error("--n, --concurrency and --customers must be positive")

    async def bounded() -> int:
        async with asyncio.timeout(DEADLINE_S):
            mode = run_with_bot if args.with_bot else run
            return await mode(args.n, args.concurrency, args.customers, args.seed)

    try:
        sys.exit(asyncio.run(bounded()))
    except KeyboardInterrupt:
        print("interrupted: what the benchmark started is stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
