"""The staff console end to end: the real `retention-bot run` process against the Telegram Bot API emulator.

One bot (its own token, config and database) serves this module. Its database is seeded before it starts,
relative to the real clock the process runs on: 50 lapsed customers (last purchase 60 days ago), 50 at risk
(28 days ago), a few who never agreed to offers, coupons, and three-week-old win-back messages (sent and
held out) with purchases around them for the uplift report. Delivery runs at 10 messages a second, so a
campaign of 50 takes about five seconds and can be paused half-way; quiet hours are off (the test may run
at any hour) and the planner is off (only campaigns are sent).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tgemu import BotMessage, Emulator, User

from bot.app import open_application
from bot.clock import ManualClock, from_db, to_db
from bot.config import Config, load_config
from bot.storage import accounts, coupons, ledger
from bot.texts import Texts, Translator

from .conftest import EmulatorProcess
from .support import OWNER_ID, STAFF_ID, BotProcess, query, start_bot, value, write_config
from .texts import seen, visible

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("node") is None, reason="the Telegram Bot API emulator needs node"),
]

TOKEN = "732001:e2e-console"
DAY = timedelta(days=1)
LAPSED = list(range(732_100_001, 732_100_051))
AT_RISK = list(range(732_200_001, 732_200_051))
NOT_OPTED_IN = [732_300_001, 732_300_002]
COUPON_HOLDER = 732_400_001
COUPON = "E2EC-2345"
# win_back sent 20 days ago to 40 (16 bought within 14 days), held out from 40 (6 bought).
NUDGED = list(range(732_500_001, 732_500_041))
HELD_OUT = list(range(732_600_001, 732_600_041))
TEXT = "Hi {{ customer.first_name }}, the new roast is in!"
STAFF_COMMANDS = [
    "/stats",
    "/customer 732100001",
    f"/redeem {COUPON}",
    "/redeem 732100001 5",
    "/purchase 732100001 100",
    "/adjust 732100001 +5 gift",
    "/survey",
    "/campaign",
    "/pause",
    "/resume",
    "/report",
    "/export customers",
    "/audit",
    "/staffhelp",
]
EN: Translator = Texts.load("uk").translator("en")


def first_name(user_id: int) -> str:
    return f"Guest{user_id % 1000}"


def campaign_text(user_id: int) -> str:
    return f"Hi {first_name(user_id)}, the new roast is in!"


# -- the module's bot ---------------------------------------------------------------------------------


@dataclass
class Shop:
    emulator: EmulatorProcess
    db_path: Path
    config: Config
    now: datetime  # when the database was seeded
    bot: BotProcess


@pytest.fixture(scope="module")
def shop(emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("console")
    db_path = folder / "bot.sqlite3"
    config_path = write_config(folder / "config.toml", api_base=emulator.api_base, db_path=db_path)
    with config_path.open("a", encoding="utf-8") as f:
        f.write(
            '\n[nudges]\nenabled = false\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
            "\n[delivery]\nmessages_per_second = 10\n"
        )
    config = load_config(config_path)
    now = datetime.now(UTC)
    asyncio.run(seed(config, now))
    bot = start_bot(config_path, TOKEN, emulator.api_base, folder / "bot.log")
    try:
        yield Shop(emulator, db_path, config, now, bot)
    finally:
        code = bot.stop()
        assert code == 0, f"the bot exited with {code}:\n{bot.tail()}"
        assert not bot.problems(), bot.log()


async def seed(config: Config, now: datetime) -> None:
    """Straight into the tables, in one transaction (a commit per customer would take too long)."""
    joined = to_db(now - 120 * DAY)
    async with open_application(config, ManualClock(now)) as data, data["db"].transaction() as tx:

        async def customers(ids: list[int], consent: str) -> None:
            await tx.executemany(
                "INSERT INTO customers (user_id, first_name, telegram_language, consent, consent_at, "
                "created_at, updated_at) VALUES (?, ?, 'en', ?, ?, ?, ?)",
                [(uid, first_name(uid), consent, joined, joined, joined) for uid in ids],
            )

        async def purchases(uid: int, *moments: datetime) -> int:
            account = await accounts.insert(tx, now - 200 * DAY, card_code=f"E2EC-{uid}", user_id=uid)
            for n, at in enumerate(moments):
                await ledger.insert_purchase(tx, account, f"e2ec-{uid}-{n}", 9_000, "UAH", at, now)
            return account

        await customers([*LAPSED, *AT_RISK, COUPON_HOLDER], "granted")
        await customers(NOT_OPTED_IN, "declined")
        # Declined offers, so that no campaign here reaches them.
        await customers([*NUDGED, *HELD_OUT], "declined")
        for uid in LAPSED:
            await purchases(uid, now - 100 * DAY, now - 60 * DAY)
        for uid in AT_RISK:
            await purchases(uid, now - 100 * DAY, now - 28 * DAY)
        for uid in NOT_OPTED_IN:
            await purchases(uid, now - 100 * DAY, now - 60 * DAY)
        await purchases(COUPON_HOLDER, now - 5 * DAY)
        assert await coupons.insert(
            tx, COUPON, COUPON_HOLDER, "win_back", None, "percent", 15, now - DAY, now + 13 * DAY
        )

        at = now - 20 * DAY
        for ids, state, buyers in ((NUDGED, "sent", 16), (HELD_OUT, "held_out", 6)):
            for n, uid in enumerate(ids):
                await tx.execute(
                    "INSERT INTO outbox (user_id, rule, step, period, template, state, due_at, "
                    "created_at, updated_at, sent_at) VALUES (?, 'win_back', 0, 'e2e', 'win_back_offer', "
                    "?, ?, ?, ?, ?)",
                    (
                        uid,
                        state,
                        *[to_db(at)] * 3,
                        to_db(at) if state == "sent" else None,
                    ),
                )
                # Buyers came back 3 days after; of the others some bought only before, some too late.
                when = at + 3 * DAY if n < buyers else (at - DAY if n % 2 else at + 15 * DAY)
                await purchases(uid, when)


# -- talking to the bot --------------------------------------------------------------------------------


@pytest.fixture
async def emu(shop: Shop) -> AsyncIterator[Emulator]:
    client = Emulator(shop.emulator.proc, shop.emulator.api_base, TOKEN)
    try:
        yield client
    finally:
        await client.close()


_user_ids = itertools.count(732_900_001)


class Chat:
    """Everything the bot shows one user, read as it comes: `log` in order (an edit comes back as the same
    message again), `latest` each message as it looks now."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.log: list[BotMessage] = []
        self.latest: dict[int, BotMessage] = {}

    async def read(self) -> None:
        for message in await self.user.messages():
            self.log.append(message)
            self.latest[message.message_id] = message

    def shows(self, message_id: int) -> str:
        return seen(self.latest[message_id]) if message_id in self.latest else ""

    async def wait_for(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        await self.read()
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"user {self.user.id}, not within {timeout} s: {what}; "
                    f"seen {[seen(m)[:90] for m in self.log]}"
                )
            await asyncio.sleep(0.05)
            await self.read()

    async def answer(self, command: str, expected: str, timeout: float = 10) -> None:
        """Sends a command and waits for its answer, whatever else arrives meanwhile."""
        mark = len(self.log)
        await self.user.command(command)
        await self.wait_for(lambda: any(seen(m) == expected for m in self.log[mark:]), expected, timeout)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def customer_sends(emu: Emulator, ids: list[int]) -> list[dict[str, Any]]:
    wanted = {str(uid) for uid in ids}
    calls, _ = await emu.call_log()
    return [c for c in calls if c["method"] == "sendMessage" and c["chat_id"] in wanted]


async def start_campaign(owner: User, segment: str, recipients: int) -> BotMessage:
    """Through the buttons, with the owner's own text; returns the progress message."""
    await owner.command("/campaign")
    [menu] = await owner.wait_messages(1)
    assert seen(menu) == visible(EN("campaign-choose-segment"))
    await owner.press(menu, EN(f"segment-{segment}"))
    [content] = await owner.wait_messages(1)
    assert content.edited and content.message_id == menu.message_id
    assert seen(content) == visible(EN("campaign-choose-content"))
    await owner.press(content, EN("campaign-own-text-button"))
    [ask] = await owner.wait_messages(1)
    assert ask.message_id == menu.message_id and seen(ask) == visible(EN("campaign-write-text"))
    await owner.send(TEXT)
    title, preview, summary = await owner.wait_messages(3)
    assert seen(title) == visible(EN("campaign-preview-title"))
    assert seen(preview) == f"Hi {owner.first_name}, the new roast is in!"
    assert seen(summary) == visible(
        EN(
            "campaign-recipients",
            segment=EN(f"segment-{segment}"),
            recipients=recipients,
            in_segment=recipients,
            excluded=0,
        )
    )
    await owner.press(summary, EN("campaign-send-button", recipients=recipients))
    [progress] = await owner.wait_messages(1)
    assert [b["text"] for row in progress.buttons for b in row] == [EN("campaign-stop-button")]
    return progress


def campaign_id_of(progress: BotMessage) -> int:
    return int(seen(progress).split("#", 1)[1].split(":", 1)[0])


def outbox_states(shop: Shop, campaign_id: int) -> dict[str, int]:
    rows = query(
        shop.db_path,
        "SELECT state, COUNT(*) FROM outbox WHERE campaign_id = ? GROUP BY state",
        (campaign_id,),
    )
    return {str(r[0]): int(r[1]) for r in rows}


def final_report(campaign_id: int, sent: int, total: int) -> str:
    return visible(
        EN(
            "campaign-report",
            id=campaign_id,
            state=EN("campaign-state-done"),
            sent=sent,
            total=total,
            skipped=0,
            failed=0,
        )
    )


async def each_got_the_campaign_once(emu: Emulator, ids: list[int]) -> None:
    delivered = Counter(int(c["chat_id"]) for c in await customer_sends(emu, ids) if c["status"] == 200)
    assert delivered == Counter(dict.fromkeys(ids, 1))
    for uid in ids:
        messages = await emu.user(uid, first_name(uid)).messages()
        assert [seen(m) for m in messages] == [campaign_text(uid)], uid


# -- tests ---------------------------------------------------------------------------------------------------


async def test_a_customer_gets_nothing_of_the_staff_commands(shop: Shop, emu: Emulator) -> None:
    user = emu.user(next(_user_ids), "Emma", language_code="en")
    for command in STAFF_COMMANDS:
        await user.command(command)
        [answer] = await user.wait_messages(1)
        assert seen(answer) == visible(EN("unknown-command")), command
    await user.expect_silence(0.5)
    for table in ("audit_log", "campaigns", "settings"):
        assert value(shop.db_path, f"SELECT COUNT(*) FROM {table}") == 0, table
    assert value(shop.db_path, "SELECT redeemed_at FROM coupons WHERE code = ?", (COUPON,)) is None
    calls, _ = await emu.call_log()
    assert {c["method"] for c in calls if c["chat_id"] == str(user.id)} == {"sendMessage"}


async def test_a_coupon_redeemed_twice_is_refused_the_second_time(shop: Shop, emu: Emulator) -> None:
    staff = emu.user(STAFF_ID, "Ivan", language_code="en")
    await staff.command(f"/redeem {COUPON.lower()}")
    [first] = await staff.wait_messages(1)
    assert seen(first) == visible(EN("coupon-redeemed", code=COUPON, value="15%", rule="win_back"))
    await staff.command(f"/redeem {COUPON}")
    [second] = await staff.wait_messages(1)
    assert seen(second) == visible(EN("coupon-used", code=COUPON, date=""))
    await staff.expect_silence(0.3)
    [row] = query(shop.db_path, "SELECT redeemed_at, redeemed_by FROM coupons WHERE code = ?", (COUPON,))
    assert row["redeemed_by"] == f"staff:{STAFF_ID}" and row["redeemed_at"] is not None
    # Staff who are not owners are told so for the owners' commands.
    await staff.command("/report")
    [answer] = await staff.wait_messages(1)
    assert seen(answer) == visible(EN("owners-only"))


def uplift_from_db(shop: Shop, rule: str, window_days: int = 14) -> dict[str, tuple[int, int]]:
    """Per group: (customers, bought within the window after the message), counted here from the tables."""
    matured = datetime.now(UTC) - timedelta(days=window_days)
    rows = query(
        shop.db_path,
        "SELECT user_id, state, COALESCE(sent_at, created_at) AS at FROM outbox "
        "WHERE rule = ? AND step = 0 AND campaign_id IS NULL AND state IN ('sent', 'held_out')",
        (rule,),
    )
    bought_at: dict[int, list[datetime]] = {}
    for r in query(
        shop.db_path, "SELECT a.user_id, p.at FROM purchases p JOIN loyalty_accounts a ON a.id = p.account_id"
    ):
        bought_at.setdefault(r[0], []).append(from_db(r[1]))
    groups: dict[str, tuple[int, int]] = {}
    for r in rows:
        at = from_db(r["at"])
        if at > matured:
            continue
        bought = any(at < p <= at + timedelta(days=window_days) for p in bought_at.get(r["user_id"], []))
        total, buyers = groups.get(r["state"], (0, 0))
        groups[r["state"]] = (total + 1, buyers + int(bought))
    return groups


async def test_the_report_shows_nudged_against_held_out_as_in_the_database(shop: Shop, emu: Emulator) -> None:
    groups = uplift_from_db(shop, "win_back")
    assert groups == {"sent": (40, 16), "held_out": (40, 6)}
    owner = emu.user(OWNER_ID, "Taras", language_code="en")
    await owner.command("/report")
    chart, report = await owner.wait_messages(2)
    assert chart.photo_id is not None
    assert (await emu.file_bytes(chart.photo_id)).startswith(b"\x89PNG")
    (nudged, nudged_bought), (held, held_bought) = groups["sent"], groups["held_out"]
    # 40 % vs 15 %: 25 points, se = sqrt(.4·.6/40 + .15·.85/40) = 0.0959, 95 % CI 6.2 … 43.8 points.
    assert seen(report) == visible(
        "\n\n".join(
            [
                EN("report-title", days=14),
                f"<b>win_back</b>: nudged {nudged} → {100 * nudged_bought / nudged:.1f}% bought; "
                f"held out {held} → {100 * held_bought / held:.1f}%\n"
                "Difference +25.0 points (95% CI +6.2 … +43.8): it works",
            ]
        )
    )
    assert "nudged 40 → 40.0% bought; held out 40 → 15.0%" in seen(report)


async def test_a_campaign_to_a_segment_of_fifty(shop: Shop, emu: Emulator) -> None:
    owner = emu.user(OWNER_ID, "Taras", language_code="en")
    progress = await start_campaign(owner, "lapsed", 50)
    campaign_id = campaign_id_of(progress)
    assert seen(progress) == visible(
        EN("campaign-progress", id=campaign_id, sent=0, total=50, waiting=50, skipped=0, failed=0)
    )
    chat = Chat(owner)
    final = final_report(campaign_id, 50, 50)
    await chat.wait_for(lambda: chat.shows(progress.message_id) == final, "the final report", 40)

    # One progress message, edited in place, ending in the report; nothing else sent to the owner.
    assert chat.log and {m.message_id for m in chat.log} == {progress.message_id}
    assert all(m.edited for m in chat.log)
    # (Telegram drops the Stop button with an edit that sends no keyboard; the emulator keeps the old one,
    # so that is checked in tests/inprocess/test_staff_console.py.)
    await owner.expect_silence(0.3)
    assert outbox_states(shop, campaign_id) == {"sent": 50}
    assert value(shop.db_path, "SELECT state FROM campaigns WHERE id = ?", (campaign_id,)) == "done"
    assert value(shop.db_path, "SELECT recipients FROM campaigns WHERE id = ?", (campaign_id,)) == 50
    recipients = {
        r[0] for r in query(shop.db_path, "SELECT user_id FROM outbox WHERE campaign_id = ?", (campaign_id,))
    }
    assert recipients == set(LAPSED)
    await each_got_the_campaign_once(emu, LAPSED)
    # The outbox holds Telegram's id of each message.
    for uid in LAPSED[:3]:
        message_id = value(
            shop.db_path,
            "SELECT message_id FROM outbox WHERE campaign_id = ? AND user_id = ?",
            (campaign_id, uid),
        )
        [call] = [m for m in await emu.sent_messages() if m.chat_id == uid]
        assert call.message_id == message_id
    assert await customer_sends(emu, [*AT_RISK, *NOT_OPTED_IN, *NUDGED, *HELD_OUT]) == []


async def test_pause_stops_a_running_campaign_within_a_second_and_resume_finishes_it(
    shop: Shop, emu: Emulator
) -> None:
    owner = emu.user(OWNER_ID, "Taras", language_code="en")
    progress = await start_campaign(owner, "at_risk", 50)
    campaign_id = campaign_id_of(progress)

    async def some_sent() -> bool:
        return len(await customer_sends(emu, AT_RISK)) >= 10

    await until(some_sent, "10 campaign messages", 15)
    chat = Chat(owner)
    await chat.answer("/pause", visible(EN("pause-done")))
    calls, _ = await emu.call_log()
    answered_at = max(c["t"] for c in calls if c["method"] == "sendMessage" and c["chat_id"] == str(OWNER_ID))
    await asyncio.sleep(2.5)

    sends = await customer_sends(emu, AT_RISK)
    late = [c for c in sends if c["t"] > answered_at + 1.0]
    assert late == [], f"{len(late)} sent more than a second after /pause was answered"
    sent_while_running = len(sends)
    assert 10 <= sent_while_running < 50, sent_while_running
    assert outbox_states(shop, campaign_id) == {
        "sent": sent_while_running,
        "planned": 50 - sent_while_running,
    }
    waiting = visible(
        EN(
            "campaign-progress",
            id=campaign_id,
            sent=sent_while_running,
            total=50,
            waiting=50 - sent_while_running,
            skipped=0,
            failed=0,
        )
    )
    await chat.wait_for(lambda: chat.shows(progress.message_id) == waiting, "progress while paused", 5)

    await chat.answer("/resume", visible(EN("resume-done")))
    final = final_report(campaign_id, 50, 50)
    await chat.wait_for(lambda: chat.shows(progress.message_id) == final, "the final report", 40)
    assert {m.message_id for m in chat.log if m.edited} == {progress.message_id}
    assert outbox_states(shop, campaign_id) == {"sent": 50}
    await each_got_the_campaign_once(emu, AT_RISK)
    assert value(shop.db_path, "SELECT value FROM settings WHERE key = 'marketing_paused'") == "0"
    actions = [
        r[0]
        for r in query(
            shop.db_path, "SELECT action FROM audit_log WHERE staff_id = ? ORDER BY id", (OWNER_ID,)
        )
    ]
    assert actions[-2:] == ["/pause", "/resume"]
