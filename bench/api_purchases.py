"""Throughput of POST /api/v1/purchases against a fresh SQLite file, over real loopback HTTP.

    .venv/bin/python bench/api_purchases.py [--n 2000] [--concurrency 20] [--customers 300]

Opens a temporary database (migrated, with the production durability settings), starts the API on a free
loopback port, posts N purchases with distinct ids from `concurrency` clients at once (a few hundred
customers, by phone or card, some with item lines), prints purchases/s and latency percentiles, and checks
that the database holds exactly N purchases and N earn entries. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.api import build_api_app, start_api
from bot.app import open_application
from bot.clock import SystemClock
from bot.config import parse_config

TOKEN = "bench-token-0123456789abcdef"
DEADLINE_S = 600


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
    base_url: str, bodies: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], dict[int, int], int, float]:
    """Latencies (seconds), a count per HTTP status, answers without a balance, and the wall time."""
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

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, statuses, no_balance, wall


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(n: int, concurrency: int, customers: int, seed: int) -> int:
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
                latencies, statuses, no_balance, wall = await post_all(
                    f"http://{host}:{port}", bodies, concurrency
                )
            finally:
                await runner.cleanup()
            db = data["db"]
            purchases = int(await db.fetch_value("SELECT COUNT(*) FROM purchases"))
            earned = int(await db.fetch_value("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'"))
            accounts = int(await db.fetch_value("SELECT COUNT(*) FROM loyalty_accounts"))
            items = int(await db.fetch_value("SELECT COUNT(*) FROM purchase_items"))

    ms = [x * 1000 for x in latencies]
    print(f"purchases:   {n} posted by {concurrency} concurrent clients, {customers} customers")
    print(f"statuses:    {dict(sorted(statuses.items()))}")
    print(f"throughput:  {n / wall:.0f} purchases/s ({wall:.2f} s)")
    print(
        f"latency ms:  p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
        f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}  mean {statistics.fmean(ms):.1f}"
    )
    print(
        f"database:    {purchases} purchases, {earned} earn entries, {accounts} accounts, {items} item lines"
    )
    if no_balance:
        print(f"warning:     {no_balance} answers 201 without a balance (a read that missed the commit)")
    problems = []
    if statuses != {201: n}:
        problems.append(f"expected {n} answers 201, got {statuses}")
    if purchases != n or earned != n:
        problems.append(f"expected {n} purchases and {n} earn entries, got {purchases} and {earned}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("OK: ledger holds exactly one earn entry per purchase")
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=2000, help="purchases to post (default 2000)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
    parser.add_argument("--customers", type=int, default=300, help="distinct customers (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for amounts and customers")
    args = parser.parse_args()
    if args.n < 1 or args.concurrency < 1 or args.customers < 1:
        parser.error("--n, --concurrency and --customers must be positive")

    async def bounded() -> int:
        async with asyncio.timeout(DEADLINE_S):
            return await run(args.n, args.concurrency, args.customers, args.seed)

    sys.exit(asyncio.run(bounded()))


if __name__ == "__main__":
    main()
