"""Loyalty end to end: the till's HTTP API, the CSV import, referrals and expiry, seen in the bot's chats.

One `retention-bot run` process (its own token, config and database) serves this module, with the
purchases API on a free loopback port ([api] enabled, the bearer token from RETENTION_API_TOKEN) and the
loyalty rules spelt out: 5 % cash back rounded down, a referral bonus of 50 points to both sides, no
first-purchase bonus, points expiring after 12 months. The database is seeded before the bot starts, on
the real clock: loyalty cards for the customers to link, and for the expiry test lots of points that
expire seconds after seeding, one before and others after the expiry job the bot runs 5 s after its
start. Customers act through the emulator, the till posts to the API over real HTTP, `retention-bot
purchases import` runs as a subprocess on the same database while the bot runs, and the SQLite file is
read to check the ledger.

Every expected text is rendered from the bot's own templates (bot.texts), in Russian and in English.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tgemu import Emulator, User, free_port

from bot.models import LedgerKind
from bot.rules.earning import add_months
from bot.storage import accounts, ledger
from bot.storage.db import Database
from bot.texts import Texts, Translator

from .conftest import EmulatorProcess
from .support import (
    SHOP_NAME,
    SHOP_ZONE,
    BotProcess,
    bot_command,
    bot_environment,
    query,
    start_bot,
    value,
    write_config,
)
from .texts import part, seen, visible

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("node") is None, reason="the Telegram Bot API emulator needs node"),
]

TOKEN = "733001:e2e-loyalty"
API_TOKEN = "e2e-loyalty-api-token-0123456789"
REFERRAL_BONUS = 50
LANGS = ("ru", "en")
BY_LANG = pytest.mark.parametrize("lang", LANGS)
TEXTS = Texts.load("uk")
TR: dict[str, Translator] = {lang: TEXTS.translator(lang) for lang in LANGS}

API_CARD = {lang: f"LOY-API-{lang.upper()}" for lang in LANGS}
CSV_CARD = {lang: f"LOY-CSV-{lang.upper()}" for lang in LANGS}
EXPIRY_CARD = {lang: f"LOY-EXPIRY-{lang.upper()}" for lang in LANGS}
JOB_CARD = "LOY-EXPIRY-JOB"
EXACT_CARD = {lang: f"LOY-EXACT-{lang.upper()}" for lang in LANGS}  # not seeded: the API creates them
FRIEND_PHONE = {"ru": "+380507330001", "en": "+380507330002"}  # not seeded: linking creates them

# Expiry, on the real clock. Each expiry card holds EXPIRING points earned a year ago and KEPT points
# earned 10 days ago (expiring in about a year). JOB_CARD's old lot expires JOB_DELAY_S after seeding:
# before the expiry job the bot runs 5 s after its own start, which therefore writes it off. The cards
# of EXPIRY_CARD expire READ_DELAY_S after seeding: after that job, so that only the read-time rule of
# /balance can leave them out (the next run of the job is the nightly one). The bot must start, and run
# that job, within READ_DELAY_S - 5 s of seeding (it takes about 3 s here).
JOB_DELAY_S = 3
READ_DELAY_S = 14
EXPIRING, KEPT = 30, 20
EXPIRE_JOB_WAIT_S = 15  # from the first answer to the job's expire entry


@dataclass
class Shop:
    emulator: EmulatorProcess
    db_path: Path
    config_path: Path
    api_url: str
    read_expires_at: datetime  # when the EXPIRY_CARD lots expire (both languages)
    job_expires_at: datetime  # when the JOB_CARD lot expires
    kept_expires_at: datetime
    bot: BotProcess


@pytest.fixture(scope="module")
def shop(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("loyalty")
    db_path = folder / "bot.sqlite3"
    config_path = write_config(folder / "config.toml", api_base=emulator.api_base, db_path=db_path)
    port = free_port()
    text = config_path.read_text("utf-8")
    assert text.count("[loyalty]\n") == 1, "support.write_config changed: the [loyalty] keys go there"
    text = text.replace(
        "[loyalty]\n",
        "[loyalty]\n"
        'cashback_percent = "5"\n'
        'rounding = "down"\n'
        f"referral_bonus = {REFERRAL_BONUS}\n"
        "first_purchase_bonus = 0\n",
        1,
    )
    # The planner is off: no welcome offers in the customers' chats, only what the tests cause.
    text += f'\n[api]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n\n[nudges]\nenabled = false\n'
    config_path.write_text(text, "utf-8")

    # Whole seconds, as the database keeps times. The job's lot expires before seeding + 5 s: the bot's
    # own "5 s after start" comes later than that, whatever its start-up takes.
    now = datetime.now(UTC).replace(microsecond=0)
    read_expires_at = now + timedelta(seconds=READ_DELAY_S)
    job_expires_at = now + timedelta(seconds=JOB_DELAY_S)
    kept_expires_at = add_months(now - timedelta(days=10), 12)
    asyncio.run(seed(db_path, now, read_expires_at, job_expires_at))

    with pytest.MonkeyPatch.context() as env:
        env.setenv("RETENTION_API_TOKEN", API_TOKEN)
        bot = start_bot(config_path, TOKEN, emulator.api_base, folder / "bot.log")
    try:
        yield Shop(
            emulator,
            db_path,
            config_path,
            f"http://127.0.0.1:{port}",
            read_expires_at,
            job_expires_at,
            kept_expires_at,
            bot,
        )
    finally:
        code = bot.stop()
        assert code == 0, f"the bot exited with {code}:\n{bot.tail()}"
        assert not bot.problems(), bot.log()


async def seed(db_path: Path, now: datetime, read_expires_at: datetime, job_expires_at: datetime) -> None:
    db = await Database.open(db_path)
    try:
        await db.migrate()
        created = now - timedelta(days=400)
        for card in [*API_CARD.values(), *CSV_CARD.values()]:
            await accounts.create(db, created, card_code=card, name=f"Card {card}")
        expiring = [(card, read_expires_at) for card in EXPIRY_CARD.values()] + [(JOB_CARD, job_expires_at)]
        for card, expires_at in expiring:
            account = await accounts.create(db, created, card_code=card, name="Expiry")
            for points, at, until, key in (
                (EXPIRING, now - timedelta(days=365), expires_at, "old"),
                (KEPT, now - timedelta(days=10), add_months(now - timedelta(days=10), 12), "recent"),
            ):
                assert await ledger.append(
                    db,
                    account.id,
                    LedgerKind.EARN,
                    points,
                    reason="purchase",
                    actor="import",
                    at=at,
                    expires_at=until,
                    external_id=f"seed-{card}-{key}",
                )
    finally:
        await db.close()


# -- talking to the bot and to its API ---------------------------------------------------------------


@pytest.fixture
async def emu(shop: Shop) -> AsyncIterator[Emulator]:
    client = Emulator(shop.emulator.proc, shop.emulator.api_base, TOKEN)
    try:
        yield client
    finally:
        await client.close()


class Till:
    """The shop's till: posts purchases to the bot's API with the bearer token."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def post(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.session.post("/api/v1/purchases", json=body, headers=headers) as response:
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.session.get(path, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def till(shop: Shop) -> AsyncIterator[Till]:
    async with aiohttp.ClientSession(shop.api_url, timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield Till(session)


def purchase(
    purchase_id: str, customer: dict[str, str], amount: str, at: datetime | None = None
) -> dict[str, Any]:
    moment = at or datetime.now(UTC) - timedelta(hours=1)
    return {
        "purchase_id": purchase_id,
        "customer": customer,
        "amount": amount,
        "currency": "UAH",
        "at": moment.isoformat(timespec="seconds"),
    }


_user_ids = itertools.count(733_900_001)


def person(emu: Emulator, lang: str, name: str) -> User:
    return emu.user(next(_user_ids), name, language_code=lang)


async def link_card(user: User, lang: str, card: str) -> None:
    await user.command(f"/start card_{card}")
    linked, question = await user.wait_messages(2)
    assert seen(linked) == visible(TR[lang]("link-linked", shop=SHOP_NAME))
    assert part(lang, "consent-question") in seen(question)


def balance_lines(
    lang: str, points: int, tier: str, expiry: tuple[int, datetime] | None, card: str | None
) -> list[str]:
    """/balance as the customer reads it, line by line."""
    tr = TR[lang]
    lines = [tr("balance-points", points=points), tr("balance-tier", tier=tr(f"tier-{tier}"))]
    if expiry is None:
        lines.append(tr("balance-no-expiry"))
    else:
        lines.append(tr("balance-expiry", points=expiry[0], date=tr.date(expiry[1], SHOP_ZONE)))
    if card:
        lines.append(tr("balance-card", card=card))
    return [visible(line) for line in lines]


async def balance(user: User) -> list[str]:
    await user.command("/balance")
    [answer] = await user.wait_messages(1)
    return seen(answer).splitlines()


def account_of(shop: Shop, *, card: str | None = None, user_id: int | None = None) -> int:
    column, key = ("card_code", card) if card else ("user_id", user_id)
    account: int = value(shop.db_path, f"SELECT id FROM loyalty_accounts WHERE {column} = ?", (key,))
    assert account is not None, (column, key)
    return account


def ledger_of(shop: Shop, account_id: int) -> list[tuple[str, int, str | None]]:
    rows = query(
        shop.db_path,
        "SELECT kind, points, external_id FROM points_ledger WHERE account_id = ? ORDER BY id",
        (account_id,),
    )
    return [(r["kind"], r["points"], r["external_id"]) for r in rows]


def purchase_count(shop: Shop) -> int:
    count: int = value(shop.db_path, "SELECT COUNT(*) FROM purchases")
    return count


# -- tests ---------------------------------------------------------------------------------------------
# The expiry test comes first: it has to read the balance in the seconds before the seeded lot expires.


async def test_points_stop_counting_the_moment_they_expire_and_the_job_writes_them_off(
    shop: Shop, emu: Emulator, till: Till
) -> None:
    users = {lang: person(emu, lang, "Olena") for lang in LANGS}
    for lang, user in users.items():
        await link_card(user, lang, EXPIRY_CARD[lang])
        shown = await balance(user)
        assert datetime.now(UTC) < shop.read_expires_at, "the bot took too long to start"
        # The points are there, and the customer is told they expire today.
        assert shown == balance_lines(
            lang, EXPIRING + KEPT, "new", (EXPIRING, shop.read_expires_at), EXPIRY_CARD[lang]
        )

    # The expiry job, 5 s after the bot started, writes off the lot that had expired by then: one entry,
    # dated at the expiry, keyed by the lot.
    job_account = account_of(shop, card=JOB_CARD)
    deadline = time.monotonic() + EXPIRE_JOB_WAIT_S
    while not (written := expire_entries(shop, job_account)):
        assert time.monotonic() < deadline, (
            f"no expire entry within {EXPIRE_JOB_WAIT_S} s:\n{shop.bot.tail()}"
        )
        await asyncio.sleep(0.1)
    assert written == [(-EXPIRING, iso(shop.job_expires_at), f"expire:{seeded_lot(shop, JOB_CARD)}")]
    assert ledger_sum(shop, job_account) == KEPT
    kept = {"points": KEPT, "at": iso(shop.kept_expires_at)}
    assert await till.get(f"/api/v1/customers/{JOB_CARD}/balance") == (
        200,
        {"points": KEPT, "tier": "new", "next_expiry": kept, "purchases_12m": 0},
    )
    assert datetime.now(UTC) < shop.read_expires_at, (
        "the bot's expiry job ran after the EXPIRY_CARD lots expired: the bot took too long to start"
    )

    # Past their moment, /balance leaves the other lots out at once, though nothing wrote them off
    # (the job's next run is the nightly one): the ledger still holds them.
    await asyncio.sleep((shop.read_expires_at - datetime.now(UTC)).total_seconds() + 0.2)
    for lang, user in users.items():
        after = balance_lines(lang, KEPT, "new", (KEPT, shop.kept_expires_at), EXPIRY_CARD[lang])
        assert await balance(user) == after
        account = account_of(shop, card=EXPIRY_CARD[lang])
        assert expire_entries(shop, account) == []
        assert ledger_sum(shop, account) == EXPIRING + KEPT
        status, answer = await till.get(f"/api/v1/customers/{EXPIRY_CARD[lang]}/balance")
        assert (status, answer["points"], answer["next_expiry"]) == (200, KEPT, kept)
        await user.expect_silence(0.2)


def iso(moment: datetime) -> str:
    """As the database and the API write a moment."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def expire_entries(shop: Shop, account_id: int) -> list[tuple[int, str, str]]:
    rows = query(
        shop.db_path,
        "SELECT points, at, external_id FROM points_ledger WHERE account_id = ? AND kind = 'expire'",
        (account_id,),
    )
    return [(r["points"], r["at"], r["external_id"]) for r in rows]


def seeded_lot(shop: Shop, card: str) -> int:
    entry: int = value(
        shop.db_path, "SELECT id FROM points_ledger WHERE external_id = ?", (f"seed-{card}-old",)
    )
    return entry


def ledger_sum(shop: Shop, account_id: int) -> int:
    total: int = value(
        shop.db_path, "SELECT SUM(points) FROM points_ledger WHERE account_id = ?", (account_id,)
    )
    return total


@BY_LANG
async def test_a_purchase_posted_by_the_till_shows_in_balance_and_a_retry_changes_nothing(
    lang: str, shop: Shop, emu: Emulator, till: Till
) -> None:
    card = API_CARD[lang]
    user = person(emu, lang, "Maria")
    await link_card(user, lang, card)
    assert await balance(user) == balance_lines(lang, 0, "new", None, card)

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    body = purchase(f"e2e-api-{lang}-1", {"card": card.lower()}, "125.50", at)
    status, answer = await till.post(body)
    assert (status, answer) == (
        201,
        {
            "status": "created",
            "purchase_id": body["purchase_id"],
            "points_earned": 6,  # 5 % of 125.50 is 6.275, rounded down
            "bonus_points": 0,
            "balance": 6,
            "tier": "new",
        },
    )
    expected = balance_lines(lang, 6, "new", (6, add_months(at, 12)), card)
    assert await balance(user) == expected

    # The till did not get the answer and sends the same purchase again.
    status, answer = await till.post(body)
    assert (status, answer) == (
        200,
        {
            "status": "duplicate",
            "purchase_id": body["purchase_id"],
            "points_earned": 0,
            "bonus_points": 0,
            "balance": 6,
            "tier": "new",
        },
    )
    assert await balance(user) == expected
    account = account_of(shop, card=card)
    assert ledger_of(shop, account) == [("earn", 6, f"purchase:{body['purchase_id']}")]
    assert value(shop.db_path, "SELECT COUNT(*) FROM purchases WHERE account_id = ?", (account,)) == 1
    assert await till.get(f"/api/v1/customers/{card}/balance") == (
        200,
        {
            "points": 6,
            "tier": "new",
            "next_expiry": {"points": 6, "at": add_months(at, 12).isoformat(timespec="seconds")},
            "purchases_12m": 1,
        },
    )
    await user.expect_silence(0.3)


def run_import(shop: Shop, csv_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bot_command(shop.config_path, "purchases", "import", str(csv_path)),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=bot_environment(None),
        timeout=60,
        check=False,
    )


def kyiv_noon(day: date) -> datetime:
    """A date alone in the CSV file means noon in the shop's time zone."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=SHOP_ZONE).astimezone(UTC)


async def test_a_csv_with_a_bad_line_imports_nothing_and_the_fixed_file_imports_once(
    shop: Shop, emu: Emulator, tmp_path: Path
) -> None:
    """One file for both customers (each run of the command takes seconds: it loads the whole bot)."""
    users = {lang: person(emu, lang, "Taras") for lang in LANGS}
    for lang, user in users.items():
        await link_card(user, lang, CSV_CARD[lang])
        assert await balance(user) == balance_lines(lang, 0, "new", None, CSV_CARD[lang])

    today = datetime.now(SHOP_ZONE).date()
    first_day, second_day = today - timedelta(days=20), today - timedelta(days=2)
    ids = {lang: [f"e2e-csv-{lang}-{n}" for n in (1, 2, 3)] for lang in LANGS}
    header = "purchase_id;card;amount;at\n"
    good: list[str] = []
    for lang in LANGS:
        card = CSV_CARD[lang]
        good += [
            f"{ids[lang][0]};{card};200,00;{first_day.isoformat()}\n",  # 10 points
            f"{ids[lang][1]};{card};45.00;{second_day.isoformat()}\n",  # 2.25 → 2
            f"{ids[lang][2]};{card.lower()};99.99;{second_day.isoformat()}\n",  # 4.9995 → 4
        ]
    bad = list(good)
    bad[4] = bad[4].replace("45.00", "12.3.4")  # line 6 of the file, the header being line 1
    bad_file = tmp_path / "purchases-bad.csv"
    bad_file.write_text(header + "".join(bad), "utf-8")
    purchases_before = purchase_count(shop)

    refused = await asyncio.to_thread(run_import, shop, bad_file)
    assert refused.returncode == 2, refused
    errors = refused.stderr.splitlines()
    assert errors[-2:] == [
        'line 6: amount: "12.3.4" is not an amount',
        f"{bad_file}: 1 bad line; nothing was imported",
    ], refused.stderr
    assert purchase_count(shop) == purchases_before
    for lang, user in users.items():
        assert await balance(user) == balance_lines(lang, 0, "new", None, CSV_CARD[lang])

    fixed_file = tmp_path / "purchases.csv"
    fixed_file.write_text(header + "".join(good), "utf-8")
    imported = await asyncio.to_thread(run_import, shop, fixed_file)
    assert imported.returncode == 0, imported
    assert imported.stdout.splitlines() == [
        f"{fixed_file}: 6 purchases in 6 lines, 689.98 UAH",
        "  imported:           6 new purchases, 689.98 UAH",
        "  already imported:   0 (skipped)",
        "  new customers:      0",
        "  points earned:      32",
    ]
    assert purchase_count(shop) == purchases_before + 6
    # Three purchases in 12 months make a regular (regular_from = 3); the oldest lot expires first.
    after = {
        lang: balance_lines(lang, 16, "regular", (10, add_months(kyiv_noon(first_day), 12)), CSV_CARD[lang])
        for lang in LANGS
    }
    for lang, user in users.items():
        assert await balance(user) == after[lang]
        assert ledger_of(shop, account_of(shop, card=CSV_CARD[lang])) == [
            ("earn", 10, f"purchase:{ids[lang][0]}"),
            ("earn", 2, f"purchase:{ids[lang][1]}"),
            ("earn", 4, f"purchase:{ids[lang][2]}"),
        ]

    again = await asyncio.to_thread(run_import, shop, fixed_file)
    assert again.returncode == 0, again
    assert again.stdout.splitlines()[1:] == [
        "  nothing to import: all 6 purchases were imported before; nothing changed"
    ]
    assert purchase_count(shop) == purchases_before + 6
    for lang, user in users.items():
        assert len(ledger_of(shop, account_of(shop, card=CSV_CARD[lang]))) == 3
        assert await balance(user) == after[lang]
        await user.expect_silence(0.2)  # an import sends no messages (no tier-up either)


@BY_LANG
async def test_an_invited_friends_first_purchase_pays_both_once(
    lang: str, shop: Shop, emu: Emulator, till: Till
) -> None:
    tr = TR[lang]
    inviter, friend = person(emu, lang, "Andriy"), person(emu, lang, "Bohdan")
    await inviter.command("/start")
    [question] = await inviter.wait_messages(1)
    assert part(lang, "consent-question") in seen(question)

    await inviter.command("/invite")
    [invitation] = await inviter.wait_messages(1)
    found = re.search(r"https://t\.me/[^\s?]+\?start=ref_([A-Za-z0-9]+)", seen(invitation))
    assert found, seen(invitation)
    link, code = found.group(0), found.group(1)
    assert seen(invitation) == visible(tr("invite", link=link, points=REFERRAL_BONUS, invited=0, bought=0))
    stored = value(shop.db_path, "SELECT referral_code FROM customers WHERE user_id = ?", (inviter.id,))
    assert code == stored

    await friend.command(f"/start ref_{code}")
    accepted, question = await friend.wait_messages(2)
    assert seen(accepted) == visible(tr("referral-accepted", points=REFERRAL_BONUS))
    assert part(lang, "consent-question") in seen(question)

    phone = FRIEND_PHONE[lang]
    await friend.share_contact(phone.removeprefix("+"), own=True)  # as Telegram sends it
    linked, hint = await friend.wait_messages(2)
    assert seen(linked) == visible(tr("link-linked", shop=SHOP_NAME))
    assert seen(hint) == visible(tr("link-see-balance"))
    await inviter.expect_silence(0.2)  # linking before any purchase pays nothing yet

    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    status, answer = await till.post(purchase(f"e2e-ref-{lang}-1", {"phone": phone}, "100.00", at))
    assert (status, answer["status"], answer["points_earned"], answer["bonus_points"], answer["balance"]) == (
        201,
        "created",
        5,
        REFERRAL_BONUS,
        5 + REFERRAL_BONUS,
    )
    [paid_inviter] = await inviter.wait_messages(1)
    assert seen(paid_inviter) == visible(tr("referral-paid-referrer", points=REFERRAL_BONUS))
    [paid_friend] = await friend.wait_messages(1)
    assert seen(paid_friend) == visible(tr("referral-paid-invited", points=REFERRAL_BONUS))

    # The bonuses are dated when paid and expire 12 months after; the purchase's points an hour sooner.
    bonus_expiry = {
        side: datetime.fromisoformat(
            value(
                shop.db_path,
                "SELECT expires_at FROM points_ledger WHERE external_id = ?",
                (f"referral:{friend.id}:{side}",),
            )
        )
        for side in ("referrer", "invited")
    }
    inviter_balance = balance_lines(
        lang, REFERRAL_BONUS, "new", (REFERRAL_BONUS, bonus_expiry["referrer"]), None
    )
    assert await balance(inviter) == inviter_balance
    assert await balance(friend) == balance_lines(
        lang, 5 + REFERRAL_BONUS, "new", (5, add_months(at, 12)), None
    )

    # A second purchase earns its own points and pays no referral again.
    status, answer = await till.post(purchase(f"e2e-ref-{lang}-2", {"phone": phone}, "40.00", at))
    assert (status, answer["points_earned"], answer["bonus_points"], answer["balance"]) == (
        201,
        2,
        0,
        5 + REFERRAL_BONUS + 2,
    )
    await inviter.expect_silence(0.3)
    await friend.expect_silence(0.1)
    assert await balance(inviter) == inviter_balance
    assert await balance(friend) == balance_lines(
        lang, 5 + REFERRAL_BONUS + 2, "new", (5 + 2, add_months(at, 12)), None
    )
    bonuses = query(
        shop.db_path,
        "SELECT account_id, points, reason FROM points_ledger WHERE kind = 'bonus' AND external_id LIKE ? "
        "ORDER BY id",
        (f"referral:{friend.id}:%",),
    )
    assert [(r["account_id"], r["points"], r["reason"]) for r in bonuses] == [
        (account_of(shop, user_id=friend.id), REFERRAL_BONUS, "referral-invited"),
        (account_of(shop, user_id=inviter.id), REFERRAL_BONUS, "referral-referrer"),
    ]
    await inviter.command("/invite")
    [counts] = await inviter.wait_messages(1)
    assert seen(counts) == visible(tr("invite", link=link, points=REFERRAL_BONUS, invited=1, bought=1))


@BY_LANG
async def test_amounts_are_exact_to_the_last_kopeck(lang: str, shop: Shop, emu: Emulator, till: Till) -> None:
    card = EXACT_CARD[lang]
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    expected = [("0.01", 0, 0), ("19.99", 0, 0), ("1000000.00", 50_000, 50_000)]  # 5 %, rounded down
    for n, (amount, points, total) in enumerate(expected):
        status, answer = await till.post(purchase(f"e2e-exact-{lang}-{n}", {"card": card}, amount, at))
        assert (status, answer["points_earned"], answer["bonus_points"], answer["balance"]) == (
            201,
            points,
            0,
            total,
        ), amount

    # Money that is not exact is refused, naming the field, and nothing is recorded.
    for amount, message in (
        ("0.001", "at most 2 decimal places"),
        ("1e3", 'must be a decimal string like "125.50" or an integer'),
    ):
        status, answer = await till.post(purchase(f"e2e-exact-{lang}-bad", {"card": card}, amount, at))
        assert (status, answer) == (422, {"error": {"field": "amount", "message": message}}), amount
    headers = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    raw = (
        f'{{"purchase_id": "e2e-exact-{lang}-float", "customer": {{"card": "{card}"}}, "amount": 125.5, '
        f'"currency": "UAH", "at": "{at.isoformat()}"}}'
    )
    async with till.session.post("/api/v1/purchases", data=raw, headers=headers) as response:
        assert response.status == 422
        assert (await response.json())["error"]["field"] == "amount"

    account = account_of(shop, card=card)
    amounts = query(
        shop.db_path, "SELECT amount_minor FROM purchases WHERE account_id = ? ORDER BY id", (account,)
    )
    assert [r[0] for r in amounts] == [1, 19_99, 1_000_000_00]
    # Purchases that earn nothing leave no ledger entry.
    assert ledger_of(shop, account) == [("earn", 50_000, f"purchase:e2e-exact-{lang}-2")]

    user = person(emu, lang, "Iryna")
    await link_card(user, lang, card)
    assert await balance(user) == balance_lines(lang, 50_000, "regular", (50_000, add_months(at, 12)), card)
