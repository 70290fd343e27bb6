"""Benchmark: nudge planning over 1 000 000 opted-in customers.

    .venv/bin/python bench/nudge_planning.py [--n 1000000] [--db FILE] [--runs 2] [--profile OUT.prof]

Builds a temporary SQLite file (migrated with the bot's own migrations, then filled with executemany in
big batches inside one transaction): N opted-in customers in ru/uk/en, 30 % with a birthday, 2 % paused or
on fewer messages; 70 % with a linked loyalty card holding 1–6 purchases over the past year (each with a
product line and the points it earned, expiring 12 months later), a share of them lapsed; plus unlinked
shop records. Then times `NudgePlanner.plan(dry_run=False)` — the scheduler's planning job — in a fresh
subprocess, so that its peak RSS (getrusage maxrss) is the planning's own and not the seeding's, and
prints seconds (and the CPU seconds of all its threads: on a busy machine the steadier figure), outbox
rows written and peak RSS (goals: < 10 s, < 300 MB). A second planning run at the
same moment (the steady state of the 15-minute job: little new to write) is timed too.

`--db FILE` keeps the database in FILE and reuses it when it exists, its outbox emptied (seeding takes
two minutes or so); `--profile OUT.prof` runs the planning under cProfile and prints the top functions.
Peak RSS is getrusage's maxrss, with Linux's VmHWM beside it as a check (maxrss survives exec, which is
why the parent process stays small).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.clock import ManualClock, to_db  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.storage.db import Database  # noqa: E402

# A Tuesday, 12:00 in Kyiv (outside quiet hours).
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
FIRST_USER = 10_000_001
BATCH = 50_000
PRODUCTS = [(f"SKU-{n:03d}", f"Product {n}") for n in range(60)]


def _rss_mb() -> float:
    """Peak RSS of this process: getrusage's maxrss, which Linux carries over from the parent across
    fork and exec (so the parent stays small: seeding runs in a subprocess too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _hwm_mb() -> float | None:
    """Peak RSS of this process's own memory since exec (Linux VmHWM), None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


# -- seeding --------------------------------------------------------------------------------------------


def _last_purchase_days(rng: random.Random) -> float:
    """Days since the last purchase: most customers active, a fifth lapsed, some gone for longer."""
    r = rng.random()
    if r < 0.45:
        return rng.uniform(0, 21)  # active
    if r < 0.60:
        return rng.uniform(21, 35)  # at risk
    if r < 0.80:
        return rng.uniform(35, 180)  # lapsed
    return rng.uniform(180, 365)  # lost


def seed(db_path: Path, n: int, seed_value: int = 5) -> dict[str, int]:
    """Fill a migrated database; returns row counts."""
    asyncio.run(_migrate(db_path))
    rng = random.Random(seed_value)
    conn = sqlite3.connect(db_path, isolation_level=None)
    # Setup only, not what is measured: nothing here needs to survive a power cut.
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    counts = dict.fromkeys(
        ["customers", "accounts", "unlinked", "purchases", "items", "ledger", "birthdays"], 0
    )
    account_id = 0
    purchase_id = 0
    stamp = to_db(NOW)
    for start in range(0, n, BATCH):
        customers: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        accounts: list[tuple[Any, ...]] = []
        purchases: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        ledger: list[tuple[Any, ...]] = []
        for uid in range(FIRST_USER + start, FIRST_USER + min(n, start + BATCH)):
            opted_in = NOW - timedelta(days=rng.uniform(1, 730))
            birthday = None
            if rng.random() < 0.30:
                birthday = f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                counts["birthdays"] += 1
            r = rng.random()
            frequency = "weekly" if r < 0.01 else "monthly" if r < 0.015 else "normal"
            paused = to_db(NOW + timedelta(days=30)) if r > 0.995 else None
            customers.append(
                (
                    uid,
                    f"Name{uid % 997}",
                    rng.choice(("ru", "uk", "en", "de")),
                    to_db(opted_in),
                    birthday,
                    frequency,
                    paused,
                    to_db(opted_in),
                )
            )
            events.append((uid, to_db(opted_in)))
            if rng.random() >= 0.70:
                continue
            account_id += 1
            accounts.append((account_id, f"C{account_id:08d}", None, uid, to_db(opted_in), stamp))
            days = _last_purchase_days(rng)
            favourite = rng.choice(PRODUCTS)
            for _ in range(rng.randint(1, 6)):
                purchase_id += 1
                at = NOW - timedelta(days=days)
                amount = rng.randint(3_000, 60_000)
                purchases.append((purchase_id, account_id, f"p{purchase_id}", amount, to_db(at), stamp))
                sku, name = favourite if rng.random() < 0.6 else rng.choice(PRODUCTS)
                items.append((purchase_id, sku, name, amount))
                expires = at + timedelta(days=365)
                ledger.append(
                    (account_id, amount // 2000, to_db(at), to_db(expires), f"purchase:p{purchase_id}")
                )
                days = min(365.0, days + rng.uniform(5, 60))
        # Shop records nobody has linked yet (1 for every 7 customers).
        for _ in range(len(customers) // 7):
            account_id += 1
            accounts.append((account_id, f"C{account_id:08d}", f"+38050{account_id:07d}", None, None, stamp))
            counts["unlinked"] += 1
        conn.executemany(
            "INSERT INTO customers (user_id, first_name, telegram_language, consent, consent_at, birthday, "
            "frequency, paused_until, created_at, updated_at) "
            "VALUES (?, ?, ?, 'granted', ?, ?, ?, ?, ?, ?8)",
            customers,
        )
        conn.executemany(
            "INSERT INTO consent_events (user_id, action, text_version, source, at) "
            "VALUES (?, 'granted', '1', '/start', ?)",
            events,
        )
        conn.executemany(
            "INSERT INTO loyalty_accounts (id, card_code, phone, user_id, linked_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            accounts,
        )
        conn.executemany(
            "INSERT INTO purchases (id, account_id, external_id, amount_minor, currency, at, created_at, "
            "source) VALUES (?, ?, ?, ?, 'UAH', ?, ?, 'import')",
            purchases,
        )
        conn.executemany(
            "INSERT INTO purchase_items (purchase_id, line, sku, name, qty, price_minor) "
            "VALUES (?, 1, ?, ?, '1', ?)",
            items,
        )
        conn.executemany(
            "INSERT INTO points_ledger (account_id, kind, points, reason, actor, at, expires_at, "
            "external_id) VALUES (?, 'earn', ?, 'purchase', 'import', ?, ?, ?)",
            ledger,
        )
        counts["customers"] += len(customers)
        counts["accounts"] += len(accounts)
        counts["purchases"] += len(purchases)
        counts["items"] += len(items)
        counts["ledger"] += len(ledger)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return counts


async def _migrate(db_path: Path) -> None:
    db = await Database.open(db_path)
    try:
        await db.migrate()
    finally:
        await db.close()


# -- planning (in a subprocess of its own) ----------------------------------------------------------------


async def _plan(db_path: Path, runs: int) -> list[dict[str, Any]]:
    from bot.app import open_application

    config = parse_config({"database": {"path": str(db_path)}, "shop": {"timezone": "Europe/Kyiv"}}, "bench")
    results = []
    async with open_application(config, ManualClock(NOW)) as data:
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            report = await data["planner"].plan(dry_run=False)
            took, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            by_rule: dict[str, int] = {}
            for (rule, outcome, _reason), count in report.counts.items():
                if outcome in ("plan", "hold_out"):
                    by_rule[rule] = by_rule.get(rule, 0) + count
            results.append(
                {
                    "seconds": took,
                    "cpu_seconds": cpu,
                    "customers": report.customers,
                    "written": report.written,
                    "by_rule": by_rule,
                    "rss_mb": _rss_mb(),
                    "hwm_mb": _hwm_mb(),
                }
            )
    return results


def plan_child(db_path: Path, runs: int, profile: Path | None) -> None:
    rss_before = _rss_mb()
    if profile is None:
        results = asyncio.run(_plan(db_path, runs))
    else:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        results = profiler.runcall(asyncio.run, _plan(db_path, runs))
        profiler.dump_stats(profile)
        stats = pstats.Stats(str(profile), stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)
    print(json.dumps({"rss_before_mb": rss_before, "runs": results}))


def _child(*args: str) -> dict[str, Any]:
    """Run this script with `args` in a fresh interpreter; its last stdout line, read as JSON."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if "--profile" in args:
        print(done.stderr[-12_000:])
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def seed_child(db_path: Path, n: int) -> None:
    started = time.perf_counter()
    counts = seed(db_path, n)
    print(json.dumps({"seconds": time.perf_counter() - started, "counts": counts, "rss_mb": _rss_mb()}))


def refresh_child(db_path: Path) -> None:
    """The rows went in through plain SQL, so every shop record's purchase summary is marked stale (as
    right after migration 0006 on an existing database). A running shop keeps them fresh as purchases
    come in; bring them up to date once, timed on its own."""
    started = time.perf_counter()
    refreshed = asyncio.run(_refresh_summaries(db_path))
    print(json.dumps({"refreshed": refreshed, "seconds": time.perf_counter() - started, "rss_mb": _rss_mb()}))


async def _refresh_summaries(db_path: Path) -> int:
    from bot.services.summaries import refresh_purchase_summaries

    db = await Database.open(db_path)
    try:
        await db.migrate()
        return await refresh_purchase_summaries(db, batch=20_000)
    finally:
        await db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="customers (default 1 000 000)")
    parser.add_argument("--db", type=Path, default=None, help="keep the database here; reuse it if it exists")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the planning into this file")
    parser.add_argument("--runs", type=int, default=2, help="planning runs in the fresh process (default 2)")
    parser.add_argument("--seed-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--plan-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--refresh-child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_child is not None:
        seed_child(args.seed_child, args.n)
        return 0
    if args.refresh_child is not None:
        refresh_child(args.refresh_child)
        return 0
    if args.plan_child is not None:
        plan_child(args.plan_child, args.runs, args.profile)
        return 0

    with tempfile.TemporaryDirectory(prefix="nudge-planning-") as tmp:
        db_path = args.db or Path(tmp) / "planning.sqlite3"
        if db_path.exists():
            with closing(sqlite3.connect(db_path)) as conn, conn:
                conn.execute("DELETE FROM outbox")  # the first plan starts from an empty outbox again
            print(f"reusing {db_path} (outbox emptied)")
        else:
            print(f"seeding {args.n} customers into {db_path} ({_load()}) …", flush=True)
            seeded = _child("--seed-child", str(db_path), "--n", str(args.n))
            size = db_path.stat().st_size / 2**20
            print(
                f"  seeded in {seeded['seconds']:.0f} s, {size:.0f} MB (seeding process peak RSS "
                f"{seeded['rss_mb']:.0f} MB)"
            )
            print("  " + ", ".join(f"{k} {v}" for k, v in seeded["counts"].items()))
        refreshed = _child("--refresh-child", str(db_path))
        if refreshed["refreshed"]:
            print(
                f"  purchase summaries of {refreshed['refreshed']} shop records computed in "
                f"{refreshed['seconds']:.1f} s, peak RSS {refreshed['rss_mb']:.0f} MB (once, as after "
                "migration 0006; a running shop keeps them fresh as purchases come in)"
            )
        print(f"planning at {NOW.isoformat()} in a fresh process ({_load()}) …", flush=True)
        command = ["--plan-child", str(db_path), "--runs", str(args.runs)]
        if args.profile is not None:
            command += ["--profile", str(args.profile)]
        result = _child(*command)
    print(f"  planning process RSS before planning (interpreter, imports): {result['rss_before_mb']:.0f} MB")
    for number, run in enumerate(result["runs"], start=1):
        kind = "first plan" if number == 1 else "plan again (same moment)"
        hwm = f", VmHWM {run['hwm_mb']:.0f} MB" if run["hwm_mb"] is not None else ""
        print(
            f"  {kind}: {run['seconds']:.1f} s (CPU {run['cpu_seconds']:.1f} s, all threads) for "
            f"{run['customers']} customers, "
            f"{run['written']} outbox rows written, peak RSS (maxrss) {run['rss_mb']:.0f} MB{hwm}"
        )
        if run["by_rule"]:
            print("    planned or held out by rule: " + json.dumps(run["by_rule"], ensure_ascii=False))
    runs = result["runs"]
    peak = max(run["rss_mb"] for run in runs)
    verdicts = [
        f"first plan (empty outbox) {runs[0]['seconds']:.1f} s < 10 s — {_met(runs[0]['seconds'] < 10)}"
    ]
    if len(runs) > 1:
        verdicts.append(f"plan again {runs[1]['seconds']:.1f} s < 10 s — {_met(runs[1]['seconds'] < 10)}")
    verdicts.append(f"peak RSS {peak:.0f} MB < 300 MB — {_met(peak < 300)}")
    print("goals: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
