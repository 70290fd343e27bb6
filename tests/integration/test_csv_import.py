"""`purchases import`: the CSV parser, the batch import on a real SQLite file, and the CLI subcommand.

Default rules: 5 % cashback rounded down, points expire after 12 months, currency UAH (2 decimals),
shop time zone Europe/Kyiv (UTC+2 in March), phones read in UA.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_application
from bot.cli import main
from bot.clock import ManualClock
from bot.config import Config, parse_config
from bot.csv_import import (
    EXIT_BAD_FILE,
    EXIT_OK,
    CsvError,
    ImportReport,
    import_file,
    import_purchases,
    parse_purchases_csv,
)
from bot.models import TelegramProfile
from bot.services.loyalty import BatchSummary, LoyaltyError, PurchaseInput, PurchaseItem
from bot.storage import accounts, customers, ledger
from bot.storage.db import Database
from bot.telegram.deps import WorkflowData

HEADER = "purchase_id,phone,card,amount,at,sku,name,qty\n"
PHONE = "+380501234567"
GOOD = (
    HEADER
    + "R-1,0501234567,,125.50,2026-03-01T10:00:00+02:00,,,\n"
    + "R-2,,zerno-7,40,2026-03-02,SKU-1,Кориця,2\n"
    + "R-3,+380671112233,ZERNO-8,19.99,2026-03-03T08:00:00Z,,,\n"
)
TABLES = ("loyalty_accounts", "purchases", "purchase_items", "points_ledger", "referrals")


@pytest.fixture
async def app(config: Config, clock: ManualClock) -> AsyncIterator[WorkflowData]:
    async with open_application(config, clock) as data:
        yield data


def parse(text: str | bytes, config: Config, clock: ManualClock) -> tuple[list[Any], list[CsvError]]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_purchases_csv(data, config=config, now=clock.now())


async def run_import(
    app: WorkflowData, tmp_path: Path, text: str | bytes, *, dry_run: bool = False
) -> tuple[int, str, str]:
    path = tmp_path / "purchases.csv"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    out, err = io.StringIO(), io.StringIO()
    code = await import_file(
        app["db"], app["loyalty"], app["config"], app["clock"], path, dry_run=dry_run, out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


async def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {t: [tuple(r) for r in await db.fetch_all(f"SELECT * FROM {t} ORDER BY 1, 2")] for t in TABLES}


async def points_of(db: Database, *, phone: str | None = None, card: str | None = None) -> int:
    account = await accounts.by_phone(db, phone) if phone else await accounts.by_card(db, card or "")
    assert account is not None
    return await ledger.balance(db, account.id)


# -- importing ------------------------------------------------------------------------------------------


async def test_a_good_file_is_imported_with_exact_points(app: WorkflowData, tmp_path: Path) -> None:
    code, out, err = await run_import(app, tmp_path, GOOD)
    assert (code, err) == (EXIT_OK, "")
    db = app["db"]
    assert await points_of(db, phone=PHONE) == 6  # 5 % of 125.50 = 6.275, rounded down
    assert await points_of(db, card="ZERNO-7") == 2
    assert await points_of(db, card="ZERNO-8") == 0  # 5 % of 19.99 is under a point
    rows = await db.fetch_all("SELECT external_id, amount_minor, source, at FROM purchases ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("R-1", 12550, "import", "2026-03-01T08:00:00+00:00"),
        ("R-2", 4000, "import", "2026-03-02T10:00:00+00:00"),  # a date alone: noon in Kyiv
        ("R-3", 1999, "import", "2026-03-03T08:00:00+00:00"),
    ]
    entries = await db.fetch_all("SELECT actor, reason, points, expires_at, external_id FROM points_ledger")
    assert [tuple(e) for e in entries] == [
        ("import", "purchase", 6, "2027-03-01T08:00:00+00:00", "purchase:R-1"),
        ("import", "purchase", 2, "2027-03-02T10:00:00+00:00", "purchase:R-2"),
    ]
    account = await accounts.by_card(db, "ZERNO-8")
    assert account is not None and account.phone == "+380671112233"
    items = await db.fetch_all("SELECT line, sku, name, qty, price_minor FROM purchase_items")
    assert [tuple(i) for i in items] == [(1, "SKU-1", "Кориця", "2", 4000)]
    assert "imported:           3 new purchases, 185.49 UAH" in out
    assert "points earned:      8" in out


async def test_the_same_file_again_changes_nothing_and_says_so(app: WorkflowData, tmp_path: Path) -> None:
    assert (await run_import(app, tmp_path, GOOD))[0] == EXIT_OK
    before = await dump(app["db"])
    code, out, err = await run_import(app, tmp_path, GOOD)
    assert (code, err) == (EXIT_OK, "")
    assert "nothing to import: all 3 purchases were imported before; nothing changed" in out
    assert await dump(app["db"]) == before


async def test_a_file_with_one_bad_line_imports_nothing(app: WorkflowData, tmp_path: Path) -> None:
    bad = GOOD + 'R-4,0501234567,,"12,3,4",2026-03-04,,,\n'
    before = await dump(app["db"])
    code, out, err = await run_import(app, tmp_path, bad)
    assert (code, out) == (EXIT_BAD_FILE, "")
    assert err.splitlines() == [
        'line 5: amount: "12,3,4" is not an amount',
        f"{tmp_path / 'purchases.csv'}: 1 bad line; nothing was imported",
    ]
    assert await dump(app["db"]) == before


async def test_a_purchase_in_several_lines_is_their_sum(app: WorkflowData, tmp_path: Path) -> None:
    text = (
        HEADER
        + 'R-1,0501234567,,100.00,2026-03-01T10:00:00+02:00,SKU-1,Перець чорний,"0,5"\n'
        + "R-2,0671112233,,30,2026-03-01,SKU-2,Кориця,1\n"
        + 'R-1,+380 50 123 45 67,,"25,50",2026-03-01T08:00:00Z,SKU-2,"Кориця, мелена",3\n'
    )
    code, out, _ = await run_import(app, tmp_path, text)
    assert code == EXIT_OK
    assert "3 lines" in out and "2 purchases" in out
    db = app["db"]
    assert await points_of(db, phone=PHONE) == 6  # 125.50 as a whole, not 5 + 1
    row = await db.fetch_one("SELECT id, amount_minor FROM purchases WHERE external_id = 'R-1'")
    assert row is not None and row["amount_minor"] == 12550
    items = await db.fetch_all(
        "SELECT line, sku, name, qty, price_minor FROM purchase_items WHERE purchase_id = ? ORDER BY line",
        (row["id"],),
    )
    assert [tuple(i) for i in items] == [
        (1, "SKU-1", "Перець чорний", "0.5", 10000),
        (2, "SKU-2", "Кориця, мелена", "3", 2550),
    ]


async def test_dry_run_changes_nothing_and_tells_what_would_happen(app: WorkflowData, tmp_path: Path) -> None:
    assert (await run_import(app, tmp_path, HEADER + "R-1,0501234567,,125.50,2026-03-01,,,\n"))[0] == 0
    before = await dump(app["db"])
    code, out, err = await run_import(app, tmp_path, GOOD, dry_run=True)
    assert (code, err) == (EXIT_OK, "")
    assert await dump(app["db"]) == before
    assert out.splitlines() == [
        f"{tmp_path / 'purchases.csv'}: 3 purchases in 3 lines, 185.49 UAH — dry run, nothing was changed",
        "  would import:       2 new purchases, 59.99 UAH",
        "  already imported:   1 (would be skipped)",
        "  new customers:      2",
        "  points to earn:     2",
    ]


async def test_the_batch_writes_what_loyalty_service_writes(
    tmp_path: Path, clock: ManualClock, no_bot_token: None
) -> None:
    """The batch path against LoyaltyService.record_purchases: the same rows, ids included."""
    text = (
        HEADER
        + "A-1,0501234567,,125.50,2026-03-01T10:00:00+02:00,SKU-1,Кориця,2\n"
        + "A-2,,OLD-CARD,99.99,2026-03-02,,,\n"  # an account with purchases before
        + "A-3,0509999999,NEW-1,10,2026-03-02,,,\n"
        + "A-4,0509999999,,300,2026-02-02,SKU-1,Кориця,1\n"  # found by phone, no card added
        + "A-5,,NEW-1,41,2026-03-05,,,\n"
        + 'A-1,0501234567,,74.50,2026-03-01T08:00:00Z,SKU-2,Паприка,"1,5"\n'
        + "OLD-P,,OLD-CARD,1000,2026-03-05,,,\n"  # imported before: skipped
        + "A-6,,EMPTY-CARD,200,2026-03-06,,,\n"  # an account without purchases: first-purchase bonus
    )
    dumps = []
    for use_service in (False, True):
        folder = tmp_path / ("service" if use_service else "batch")
        rules = {"first_purchase_bonus": 50, "cashback_percent": "3.5", "rounding": "half_up"}
        config = parse_config({"database": {"path": str(folder / "db.sqlite3")}, "loyalty": rules})
        async with open_application(config, clock) as app:
            loyalty = app["loyalty"]
            old = await accounts.create(app["db"], clock.now(), card_code="OLD-CARD")
            await accounts.create(app["db"], clock.now(), card_code="EMPTY-CARD")
            await ledger.record_purchase(app["db"], old.id, "OLD-P", 500, "UAH", clock.now(), clock.now())
            purchases, errors = parse(text, config, clock)
            assert errors == []
            if use_service:
                await loyalty.record_purchases(
                    [p.purchase for p in purchases], actor="import", source="import"
                )
            else:
                report, errors = await import_purchases(app["db"], loyalty, config, clock, purchases)
                assert errors == []
                assert (report.new, report.duplicates, report.new_customers, report.path) == (
                    6,
                    1,
                    2,
                    "batch",
                )
                assert (report.points, report.bonus_points) == (7 + 3 + 0 + 11 + 1 + 7, 3 * 50)
            dumps.append(await dump(app["db"]))
    assert dumps[0] == dumps[1]
    assert len(dumps[0]["points_ledger"]) == 5 + 3  # A-3 earns no point


async def test_a_batch_that_pays_a_referral_goes_through_loyalty_service(
    make_config: Callable[..., Config], tmp_path: Path, clock: ManualClock
) -> None:
    async with open_application(make_config(loyalty={"referral_bonus": 30}), clock) as app:
        db, loyalty = app["db"], app["loyalty"]
        for user_id in (1001, 1002):
            profile = TelegramProfile(user_id, "Олена", None, None, "uk")
            await customers.upsert_profile(db, profile, clock.now())
        await accounts.create_linked(db, 1002, clock.now(), phone=PHONE, name="Олена")
        assert await loyalty.accept_referral(1002, await loyalty.referral_code(1001)) == "accepted"
        text = HEADER + "R-1,0501234567,,125.50,2026-03-01,,,\n" + "R-2,0501234567,,20,2026-03-02,,,\n"
        code, out, _ = await run_import(app, tmp_path, text, dry_run=True)
        assert (code, out.splitlines()[-1]) == (EXIT_OK, "  points to earn:     7 (and 30 bonus points)")
        assert await db.fetch_value("SELECT rewarded_at FROM referrals WHERE invited_user_id = 1002") is None
        code, out, err = await run_import(app, tmp_path, text)
        assert (code, err) == (EXIT_OK, "")
        assert out.splitlines()[-1] == "  points earned:      7 (and 30 bonus points)"
        assert await db.fetch_value("SELECT rewarded_at FROM referrals WHERE invited_user_id = 1002")
        assert await points_of(db, phone=PHONE) == 7 + 30
        inviter = await accounts.by_user(db, 1001)
        assert inviter is not None and await ledger.balance(db, inviter.id) == 30


async def test_card_and_phone_of_different_customers_import_nothing(
    app: WorkflowData, tmp_path: Path, clock: ManualClock
) -> None:
    await accounts.create(app["db"], clock.now(), card_code="ZERNO-1")
    await accounts.create(app["db"], clock.now(), phone=PHONE)
    before = await dump(app["db"])
    text = HEADER + "R-1,,ZERNO-1,10,2026-03-01,,,\n" + "R-2,0501234567,zerno-1,10,2026-03-01,,,\n"
    code, _, err = await run_import(app, tmp_path, text)
    assert code == EXIT_BAD_FILE
    assert err.splitlines()[0] == (
        'line 3: card "ZERNO-1" and phone "+380501234567" belong to different customers'
    )
    assert await dump(app["db"]) == before


async def test_a_card_and_a_phone_first_seen_apart_in_the_file_conflict_later(
    config: Config, clock: ManualClock, app: WorkflowData
) -> None:
    text = (
        HEADER
        + "R-1,,ZERNO-1,10,2026-03-01,,,\n"
        + "R-2,0501234567,,10,2026-03-01,,,\n"
        + "R-3,0501234567,ZERNO-1,10,2026-03-01,,,\n"
    )
    purchases, errors = parse(text, config, clock)
    assert errors == []
    report, errors = await import_purchases(app["db"], app["loyalty"], config, clock, purchases)
    assert [str(e) for e in errors] == [
        'line 4: card "ZERNO-1" and phone "+380501234567" belong to different customers'
    ]
    assert report == ImportReport()
    assert await app["db"].fetch_value("SELECT COUNT(*) FROM loyalty_accounts") == 0


# -- the file -------------------------------------------------------------------------------------------


def test_every_bad_line_is_reported_with_its_reason(config: Config, clock: ManualClock) -> None:
    text = (
        HEADER
        + "R-1,0501234567,,125.50,2026-03-01,,,\n"
        + ",,,,,,,\n"  # a blank row is skipped
        + "R-2,12,,1.234,2026-03-01T10:00:00,,,0\n"
        + "R-3,,,-5,2026-13-01,,,x\n"
        + "R-4,0501234567,bad card!,1,2026-03-12T10:00:00+02:00,,,\n"  # 3 days after the clock
        + "R-5,0501234567,,1,2026-03-01\n"
        + ",0501234567,,,,,,\n"
        + f"{'x' * 101},0501234567,,1,2026-03-01,,,\n"
    )
    purchases, errors = parse(text, config, clock)
    assert [p.purchase.purchase_id for p in purchases] == ["R-1"]
    assert [str(e) for e in errors] == [  # every problem, line by line, in column order
        'line 4: phone: "12" is not a phone number',
        'line 4: amount: "1.234" has more than 2 decimals',
        'line 4: at: "2026-03-01T10:00:00" has no time zone: add one (+02:00, Z) or give the date alone '
        "(noon in the shop's zone)",
        'line 4: qty: "0" is not a positive quantity',
        "line 5: phone, card: missing (give at least one of them)",
        'line 5: amount: "-5" is not an amount',
        'line 5: at: "2026-13-01" is not a date-time with a time zone (2026-03-09T18:30:00+02:00) or a date '
        "(2026-03-09)",
        'line 5: qty: "x" is not a positive quantity',
        "line 6: card: \"bad card!\" is not a card code (3–40 letters, digits or '-')",
        'line 6: at: "2026-03-12T10:00:00+02:00" is in the future',
        "line 7: expected 8 fields as in the header, found 5",
        "line 8: purchase_id: missing",
        "line 8: amount: missing",
        "line 8: at: missing",
        "line 9: purchase_id: longer than 100 characters",
    ]


def test_lines_of_one_purchase_must_agree(config: Config, clock: ManualClock) -> None:
    text = (
        HEADER
        + "R-1,0501234567,,10,2026-03-01T10:00:00+02:00,,,\n"
        + "R-1,+380501234567,,10,2026-03-01T08:00:00Z,,,\n"  # the same phone and moment, written otherwise
        + "R-2,0501234567,,10,2026-03-01,,,\n"
        + "R-1,0671112233,,10,2026-03-02,,,\n"
        + "R-2,0501234567,ZERNO-1,10,2026-03-01,,,\n"
    )
    purchases, errors = parse(text, config, clock)
    assert [str(e) for e in errors] == [
        'line 5: phone: "0671112233" differs from line 2 ("0501234567") of the same purchase "R-1"',
        'line 5: at: "2026-03-02" differs from line 2 ("2026-03-01T10:00:00+02:00") '
        'of the same purchase "R-1"',
        'line 6: card: "ZERNO-1" differs from line 4 ("") of the same purchase "R-2"',
    ]
    assert [(p.purchase.amount_minor, p.lines) for p in purchases] == [(2000, (2, 3)), (1000, (4,))]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "purchase_id,phone,amount,at,price\n",
            'line 1: unknown column "price"; the columns are: purchase_id, '
            "phone, card, amount, at, sku, name, qty",
        ),
        ("purchase_id,phone,at\n", 'line 1: missing column "amount"'),
        ("purchase_id,amount,at,sku\n", 'line 1: missing column "phone" or "card" (at least one of them)'),
        ("purchase_id,card,card,amount,at\n", 'line 1: column "card" appears twice'),
        (
            "\n",
            "line 1: no header row: the first line must name the columns "
            "(purchase_id,phone,card,amount,at,sku,name,qty)",
        ),
    ],
)
def test_the_header_is_checked(config: Config, clock: ManualClock, header: str, message: str) -> None:
    purchases, errors = parse(header + "R-1,0501234567,125.50,2026-03-01,x\n", config, clock)
    assert purchases == []
    assert [str(e) for e in errors] == [message]


def test_semicolons_a_byte_order_mark_and_crlf_are_read(config: Config, clock: ManualClock) -> None:
    text = "Purchase_ID;Card;Amount;At;Name\r\nR-1;zerno-1;125,50;2026-03-01;Перець, чорний\r\n"
    purchases, errors = parse("\ufeff".encode() + text.encode("utf-8"), config, clock)
    assert errors == []
    (only,) = purchases
    assert (only.purchase.card, only.purchase.amount_minor, only.purchase.phone) == ("ZERNO-1", 12550, None)
    assert only.purchase.at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert only.purchase.items == (
        PurchaseItem(sku="", name="Перець, чорний", qty=Decimal(1), price_minor=12550),
    )


def test_line_numbers_count_line_breaks_inside_quoted_fields(config: Config, clock: ManualClock) -> None:
    text = (
        HEADER
        + 'R-1,0501234567,,10,2026-03-01,SKU-1,"Кориця\nмелена",1\n'
        + "R-2,0501234567,,x,2026-03-01,,,\n"
    )
    purchases, errors = parse(text, config, clock)
    assert [str(e) for e in errors] == ['line 4: amount: "x" is not an amount']
    assert purchases[0].purchase.items[0].name == "Кориця\nмелена"


def test_a_file_that_is_not_utf8_names_the_line(config: Config, clock: ManualClock) -> None:
    data = (HEADER + "R-1,0501234567,,10,2026-03-01,,Кориця,\n").encode("cp1251")
    assert [str(e) for e in parse(data, config, clock)[1]] == [
        "line 2: not UTF-8 text (byte 0xca); save the file as UTF-8"
    ]


def test_progress_is_reported_for_every_row(config: Config, clock: ManualClock) -> None:
    seen: list[int] = []
    rows = "".join(f"R-{n},0501234567,,1,2026-03-01,,,\n" for n in range(5000))
    purchases, errors = parse_purchases_csv(
        (HEADER + rows).encode(), config=config, now=clock.now(), progress=seen.append
    )
    assert (len(purchases), errors, sum(seen)) == (5000, [], 5000)


# -- the command ----------------------------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path: Path, no_bot_token: None) -> Callable[[], list[str]]:
    def make() -> list[str]:
        path = tmp_path / "config.toml"
        path.write_text(f'[database]\npath = "{tmp_path / "cli.sqlite3"}"\n', "utf-8")
        return ["--config", str(path)]

    return make


def test_the_cli_imports_and_exits_0(
    tmp_path: Path, cli_config: Callable[[], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = tmp_path / "good.csv"
    csv_path.write_text(GOOD, "utf-8")
    assert main([*cli_config(), "purchases", "import", str(csv_path), "--dry-run"]) == 0
    assert "dry run, nothing was changed" in capsys.readouterr().out
    assert main([*cli_config(), "purchases", "import", str(csv_path)]) == 0
    assert "imported:           3 new purchases" in capsys.readouterr().out
    assert main([*cli_config(), "purchases", "import", str(csv_path)]) == 0
    assert "nothing to import" in capsys.readouterr().out


def test_the_cli_exits_2_for_a_bad_file(
    tmp_path: Path, cli_config: Callable[[], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(GOOD.replace("19.99", "19.9.9"), "utf-8")
    assert main([*cli_config(), "purchases", "import", str(csv_path)]) == 2
    captured = capsys.readouterr()
    assert 'line 4: amount: "19.9.9" is not an amount' in captured.err
    assert captured.out == ""
    assert main([*cli_config(), "purchases", "import", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv: cannot read: No such file or directory" in capsys.readouterr().err


def test_times_up_to_a_day_ahead_of_the_clock_are_accepted(config: Config, clock: ManualClock) -> None:
    late = (clock.now() + timedelta(hours=23)).isoformat()
    assert parse(HEADER + f"R-1,0501234567,,1,{late},,,\n", config, clock)[1] == []
    far = HEADER + "R-1,0501234567,,1,0001-01-01T00:00:00+05:00,,,\n"
    assert [str(e) for e in parse(far, config, clock)[1]] == [
        'line 2: at: "0001-01-01T00:00:00+05:00" is out of range'
    ]


async def test_a_file_with_only_a_header_changes_nothing(app: WorkflowData, tmp_path: Path) -> None:
    code, out, err = await run_import(app, tmp_path, HEADER)
    assert (code, err) == (EXIT_OK, "")
    assert out == f"{tmp_path / 'purchases.csv'}: no purchases in the file; nothing changed\n"


# -- one implementation: a batch writes what the same purchases one at a time write ---------------------


async def _shop_with_history(app: WorkflowData, clock: ManualClock) -> int:
    """Records, links, referrals and purchases before the batch; the id the next new record will get."""
    db, loyalty = app["db"], app["loyalty"]
    now = clock.now()
    for user_id in (1001, 1002, 1003, 1004, 1005):
        await customers.upsert_profile(db, TelegramProfile(user_id, "Олена", None, None, "uk"), now)
    await accounts.create_linked(db, 1002, now, phone="+380502222222", name="Олена")  # invited by 1001
    invited = await accounts.create(db, now, card_code="L-3")  # 1003, invited by 1004 who has a record
    assert await accounts.link(db, invited.id, 1003, now)
    referrer = await accounts.create(db, now, card_code="R-4")
    assert await accounts.link(db, referrer.id, 1004, now)
    regular = await accounts.create(db, now, card_code="T-5")  # 1005: two purchases this year, one older
    assert await accounts.link(db, regular.id, 1005, now)
    for n, days in enumerate((400, 30, 2)):
        at = now - timedelta(days=days)
        await ledger.record_purchase(db, regular.id, f"T5-{n}", 10_000, "UAH", at, at)
    old = await accounts.create(db, now, card_code="OLD-CARD")
    await ledger.record_purchase(db, old.id, "OLD-P", 500, "UAH", now, now)
    await accounts.create(db, now, card_code="EMPTY-CARD")
    assert await loyalty.accept_referral(1002, await loyalty.referral_code(1001) or "") == "accepted"
    assert await loyalty.accept_referral(1003, await loyalty.referral_code(1004) or "") == "accepted"
    return int(await db.fetch_value("SELECT MAX(id) FROM loyalty_accounts")) + 1


def _batch(now: datetime, next_id: int) -> list[PurchaseInput]:
    def buy(purchase_id: str, amount_minor: int, at: datetime = now, **who: Any) -> PurchaseInput:
        return PurchaseInput(purchase_id, amount_minor, "UAH", at, **who)

    year_ago = now - timedelta(days=365)  # `now` has microseconds: the window starts mid-second
    return [
        buy(
            "A-1", 12_550, phone="0501234567", items=(PurchaseItem("S-1", "Кориця", Decimal("0.5"), 12_550),)
        ),
        buy("A-2", 9_999, card="OLD-CARD", note="from the till"),
        buy("A-3", 1_000, card="new-1", phone="+380509999999"),  # a new record holding both
        buy("A-4", 30_000, phone="0509999999"),  # found by phone
        buy("A-5", 4_100, account_id=next_id + 1),  # the record A-3 made, by its id
        buy("A-6", 20_000, phone="+380502222222"),  # 1002's first: pays 1001, who gets a record
        buy("A-7", 7_000, account_id=next_id + 2),  # that record of 1001's
        buy("A-8", 5_000, card="L-3"),  # 1003's first: pays 1004's existing record
        buy("A-9", 100, year_ago - timedelta(microseconds=200_000), card="T-5"),  # the same second
        buy("A-10", 100, card="T-5"),  # regular
        buy("A-11", 100, year_ago - timedelta(days=3), card="T-5"),  # too old to count for the tier
        buy("A-12", 100, card="T-5"),  # loyal
        buy("A-1", 12_550, phone="0501234567"),  # again in the same batch
        buy("OLD-P", 500, card="OLD-CARD"),  # recorded before
        buy("A-13", 0, card="EMPTY-CARD"),  # a record without purchases: the bonus, no points
        buy("A-14", 2_000, card="T-5", phone="+380501234567"),  # card and phone of different records…
    ]


@pytest.mark.parametrize("conflict", [False, True])
async def test_record_purchases_writes_what_record_purchase_writes_one_at_a_time(
    tmp_path: Path, no_bot_token: None, conflict: bool
) -> None:
    clock = ManualClock(datetime(2026, 3, 10, 9, 0, 0, 500_000, tzinfo=UTC))
    rules = {
        "first_purchase_bonus": 50,
        "referral_bonus": 30,
        "cashback_percent": "3.5",
        "rounding": "half_up",
        "tier_basis": "purchases",
        "regular_from": 4,
        "loyal_from": 5,
    }
    outcomes, befores = [], []
    for one_at_a_time in (False, True):
        folder = tmp_path / ("single" if one_at_a_time else "batch")
        config = parse_config({"database": {"path": str(folder / "db.sqlite3")}, "loyalty": rules})
        async with open_application(config, clock) as app:
            loyalty = app["loyalty"]
            batch = _batch(clock.now(), await _shop_with_history(app, clock))
            if not conflict:
                batch = batch[:-1]
            befores.append(await dump(app["db"]))
            results: list[Any] = []
            try:
                if one_at_a_time:
                    results = [
                        await loyalty.record_purchase(p, actor="import", source="import") for p in batch
                    ]
                else:
                    results = await loyalty.record_purchases(batch, actor="import", source="import")
            except LoyaltyError as exc:
                results = [exc.key]
            outcomes.append((results, await dump(app["db"])))
    assert befores[0] == befores[1]
    if conflict:  # the batch records none of its purchases; one at a time, those before the conflict
        assert outcomes[0] == (["error-card-phone-mismatch"], befores[0])
        assert outcomes[1][0] == ["error-card-phone-mismatch"]
        assert len(outcomes[1][1]["purchases"]) == len(befores[1]["purchases"]) + 13
        return
    assert outcomes[0] == outcomes[1]
    results, tables = outcomes[0]
    assert [r.status.value for r in results].count("duplicate") == 2
    assert [r.referrer_rewarded for r in results if r.referrer_rewarded] == [1001, 1004]
    assert [(r.tier_before.value, r.tier_after.value) for r in results[8:12]] == [
        ("new", "new"),  # 2 purchases this year; this one, in the window's first second, makes 3
        ("new", "regular"),
        ("regular", "regular"),
        ("regular", "loyal"),
    ]
    assert [n[1] for r in results for n in r.notices] == [
        "referral-paid-referrer",
        "referral-paid-invited",
        "referral-paid-referrer",
        "referral-paid-invited",
        "tier-up",
        "tier-up",
    ]
    assert len(tables["loyalty_accounts"]) == len(befores[0]["loyalty_accounts"]) + 3


async def test_a_preview_says_what_recording_does(app: WorkflowData, clock: ManualClock) -> None:
    loyalty = app["loyalty"]
    batch = [
        PurchaseInput("P-1", 10_000, "UAH", clock.now(), phone="+380501234567"),
        PurchaseInput("P-2", 2_000, "UAH", clock.now(), phone="+380501234567", card="C-1"),
        PurchaseInput("P-1", 10_000, "UAH", clock.now(), phone="+380501234567"),
    ]
    preview = await loyalty.preview_purchases(batch)
    assert preview == BatchSummary(
        purchases=3, new=2, duplicates=1, new_customers=1, new_amount_minor=12_000, points=6, bonus_points=0
    )
    assert await app["db"].fetch_value("SELECT COUNT(*) FROM purchases") == 0
    assert await loyalty.record_batch(batch, actor="import", source="import") == preview
    again = await loyalty.preview_purchases(batch)
    assert (again.new, again.duplicates, again.new_customers) == (0, 3, 0)


async def test_every_conflict_in_the_file_is_reported(
    app: WorkflowData, tmp_path: Path, clock: ManualClock
) -> None:
    await accounts.create(app["db"], clock.now(), card_code="ZERNO-1")
    await accounts.create(app["db"], clock.now(), phone=PHONE)
    text = (
        HEADER
        + "R-1,0501234567,zerno-1,10,2026-03-01,,,\n"
        + "R-2,0671112233,,10,2026-03-01,,,\n"
        + "R-3,0501234567,ZERNO-1,10,2026-03-01,,,\n"
    )
    code, out, err = await run_import(app, tmp_path, text)
    assert (code, out) == (EXIT_BAD_FILE, "")
    assert err.splitlines() == [
        'line 2: card "ZERNO-1" and phone "+380501234567" belong to different customers',
        'line 4: card "ZERNO-1" and phone "+380501234567" belong to different customers',
        f"{tmp_path / 'purchases.csv'}: 2 bad lines; nothing was imported",
    ]
    assert await app["db"].fetch_value("SELECT COUNT(*) FROM loyalty_accounts") == 2
