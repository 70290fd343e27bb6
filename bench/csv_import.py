"""Benchmark: `purchases import` of a 100 000-row CSV into a fresh database, end to end.

    .venv/bin/python bench/csv_import.py [--rows 100000] [--customers 20000] [--service | --dry-run]

Writes the file into a temporary folder (removed afterwards), then times reading, checking and importing
it exactly as `retention-bot purchases import` does (`bot.csv_import.import_file` on an application
opened by `bot.app.open_application`). Prints rows per second, seconds and peak memory, checks the
ledger against the file, and exits 1 if it does not match. `--service` times only
`LoyaltyService.record_purchases` on the parsed purchases (the same batch path as the import, without
reading the file and with a result per purchase); `--dry-run` times `purchases import --dry-run` and checks
that nothing was written.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.app import open_application  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.csv_import import import_file, parse_purchases_csv  # noqa: E402

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
PRODUCTS = [
    (f"SKU-{n:04d}", name) for n, name in enumerate(["Перець чорний", "Кориця", "Паприка", "Куркума"] * 50)
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def make_csv(rows: int, customers: int, seed: int = 7) -> tuple[bytes, list[int]]:
    """The file and its purchases' amounts in kopecks: 1–4 lines a purchase, phones, cards or both."""
    rng = random.Random(seed)
    people: list[tuple[str, str]] = []
    for n in range(customers):
        phone, card = f"050{n:07d}", f"C-{n:06d}"
        style = n % 3
        people.append((phone if style != 1 else "", card if style != 0 else ""))
    out = io.StringIO()
    out.write("purchase_id,phone,card,amount,at,sku,name,qty\n")
    written = purchases = 0
    totals: list[int] = []
    while written < rows:
        purchases += 1
        phone, card = people[rng.randrange(customers)]
        moment = NOW - timedelta(minutes=rng.randrange(60 * 24 * 360))
        at = moment.date().isoformat() if purchases % 4 == 0 else moment.isoformat()
        total = 0
        for _ in range(min(rng.choice((1, 1, 1, 2, 3, 4)), rows - written)):
            cents = rng.randrange(100, 100_000)
            total += cents
            amount = f"{cents // 100}.{cents % 100:02d}"
            if purchases % 5 == 0:
                amount = amount.replace(".", ",")
            sku, name = PRODUCTS[rng.randrange(len(PRODUCTS))]
            qty = rng.choice(("1", "2", "0.5", "1,25"))
            out.write(f'R-{purchases:07d},{phone},{card},"{amount}",{at},{sku},{name},"{qty}"\n')
            written += 1
        totals.append(total)
    return out.getvalue().encode("utf-8"), totals


async def run(rows: int, customers: int, service: bool, dry_run: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as tmp:
        folder = Path(tmp)
        data, totals = make_csv(rows, customers)
        purchases = len(totals)
        # 5 % of the amount, one point per hryvnia, rounded down: the default rules, computed here apart.
        earning = [total * 5 // 10_000 for total in totals]
        points, earn_entries = sum(earning), sum(1 for p in earning if p > 0)
        csv_path = folder / "purchases.csv"
        csv_path.write_bytes(data)
        config = parse_config({"database": {"path": str(folder / "bench.sqlite3")}}, "bench")
        assert (config.loyalty.cashback_percent, config.loyalty.rounding) == (Decimal(5), "down")
        assert config.loyalty.first_purchase_bonus == 0
        clock = ManualClock(NOW)
        print(f"{rows} rows, {purchases} purchases, {customers} customers, {len(data) / 1e6:.1f} MB")
        async with open_application(config, clock) as app:
            db, loyalty = app["db"], app["loyalty"]
            started, cpu_started = time.perf_counter(), _cpu()
            if service:
                parsed, errors = parse_purchases_csv(data, config=config, now=clock.now())
                assert not errors, errors[:5]
                started, cpu_started = time.perf_counter(), _cpu()  # the file read and checked before
                await loyalty.record_purchases([p.purchase for p in parsed], actor="import", source="import")
                code = 0
            else:
                report = io.StringIO()
                code = await import_file(db, loyalty, config, clock, csv_path, dry_run=dry_run, out=report)
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu_started
            ledger = await db.fetch_value("SELECT COUNT(*) FROM points_ledger WHERE reason = 'purchase'")
            earned = await db.fetch_value("SELECT COALESCE(SUM(points), 0) FROM points_ledger")
            recorded = await db.fetch_value("SELECT COUNT(*) FROM purchases")
            items = await db.fetch_value("SELECT COUNT(*) FROM purchase_items")
            accounts = await db.fetch_value("SELECT COUNT(*) FROM loyalty_accounts")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = "LoyaltyService.record_purchases" if service else "purchases import" + " --dry-run" * dry_run
    print(f"path:        {path}")
    print(f"total:       {seconds:.2f} s wall clock, {cpu:.2f} s CPU (all threads; load {_load()})")
    print(f"rate:        {rows / seconds:,.0f} rows/s ({purchases / seconds:,.0f} purchases/s)")
    print(f"peak memory: {peak_mb:.0f} MB (max RSS of the process)")
    print(f"recorded:    {recorded} purchases, {items} lines, {accounts} customers, {ledger} earn entries")
    if dry_run:
        purchases = rows = earn_entries = points = 0
        print(f"report:      {report.getvalue().splitlines()[1].strip()}")
    ok = code == 0 and (recorded, items, ledger, int(earned)) == (purchases, rows, earn_entries, points)
    expected = f"{purchases} purchases, {rows} lines, {earn_entries} earn entries, {points} points"
    print(f"check:       {'OK' if ok else 'MISMATCH'} (expected {expected}; ledger holds {earned} points)")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--service", action="store_true", help="time LoyaltyService.record_purchases alone")
    which.add_argument("--dry-run", action="store_true", help="time `purchases import --dry-run`")
    args = parser.parse_args()
    return asyncio.run(run(args.rows, args.customers, args.service, args.dry_run))


if __name__ == "__main__":
    sys.exit(main())
