"""The staff console through the real dispatcher, routers and services, with Telegram replaced by LocalSession
(built as bot/demo.py builds it: `open_application(config, clock, bot)` → `build_dispatcher`).

Customers are written straight into the database; campaign messages reach their chats through the real
`NudgeDelivery` and `TelegramSender`. The campaign's progress message is followed by the handler's own
background task, with its interval patched down from 3 s.
"""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

import pytest

import handlers.campaign
from bot.clock import ManualClock, to_db
from bot.config import Config
from bot.services.nudges import NudgeDelivery
from bot.storage import accounts, coupons, ledger
from bot.storage import outbox as outbox_store
from bot.storage.db import Database
from bot.telegram.deps import WorkflowData
from bot.telegram.local_session import LocalChat, LocalSession, SentMessage
from bot.texts import Translator

OWNER_ID = 1  # as tests/inprocess/conftest.py configures [staff]
STAFF_ID = 2


class App(Protocol):
    """What tests/inprocess/conftest.py's `make_app` builds (a conftest cannot be imported by name)."""

    config: Config
    clock: ManualClock
    data: WorkflowData
    session: LocalSession

    def chat(
        self, user_id: int, first_name: str = ..., language_code: str | None = ..., username: str | None = ...
    ) -> LocalChat: ...

    def tr(self, language: str) -> Translator: ...


AppFactory = Callable[..., Awaitable[App]]

DAY = timedelta(days=1)
FAST = {"delivery": {"messages_per_second": 1000, "paid_broadcast": True, "per_chat_interval_seconds": 0}}
CUSTOMERS = list(range(50_001, 50_051))
NOT_OPTED_IN = [50_101, 50_102, 50_103]
TEXT = "Hi {{ customer.first_name }}, fresh saffron is in!"
STAFF_COMMANDS = [
    "/stats",
    "/customer 50001",
    "/redeem AB2C-DE3F",
    "/redeem 50001 10",
    "/purchase 50001 100",
    "/adjust 50001 +5 gift",
    "/survey",
    "/campaign",
    "/pause",
    "/resume",
    "/report",
    "/export customers",
    "/audit",
    "/staffhelp",
]
OWNER_COMMANDS = ["/campaign", "/pause", "/resume", "/report", "/export customers", "/audit"]


def only(messages: list[SentMessage]) -> SentMessage:
    assert len(messages) == 1, [m.text for m in messages]
    return messages[0]


def replies(messages: list[SentMessage], progress: SentMessage) -> list[SentMessage]:
    """The answers to a command, without the edits of a campaign's progress message made meanwhile."""
    return [m for m in messages if m.message_id != progress.message_id]


def first_name(user_id: int) -> str:
    return f"Guest{user_id}"


@pytest.fixture
async def app(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setattr(handlers.campaign, "PROGRESS_EVERY_S", 0.01)
    return await make_app(**FAST)


def delivery_of(app: App) -> NudgeDelivery:
    delivery = app.data["delivery"]
    assert delivery is not None
    return delivery


async def seed_customers(db: Database, now: datetime, ids: list[int], consent: str = "granted") -> None:
    stamp = to_db(now - 60 * DAY)
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO customers (user_id, first_name, telegram_language, consent, consent_at, created_at, "
            "updated_at) VALUES (?, ?, 'en', ?, ?, ?, ?)",
            [
                (uid, first_name(uid), consent, stamp if consent != "unknown" else None, stamp, stamp)
                for uid in ids
            ],
        )


def messages_to(app: App, chat_id: int) -> list[SentMessage]:
    return [m for m in app.session.sent if m.chat_id == chat_id]


def campaign_messages(app: App) -> dict[int, list[str]]:
    """What each seeded customer's chat holds."""
    return {uid: [m.text for m in messages_to(app, uid)] for uid in [*CUSTOMERS, *NOT_OPTED_IN]}


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


async def start_campaign(app: App, owner: LocalChat) -> SentMessage:
    """The owner's way through the buttons to a running campaign with their own text; its progress message."""
    en = app.tr("en")
    menu = only(await owner.send("/campaign"))
    assert menu.text == en("campaign-choose-segment")
    assert [b[0]["text"] for b in menu.buttons] == [
        *(en(f"segment-{s}") for s in ("all", "new", "active", "at_risk", "lapsed", "lost")),
        en("cancel-button"),
    ]
    content = only(await owner.press(menu, en("segment-all")))
    assert content.message_id == menu.message_id and content.text == en("campaign-choose-content")
    ask = only(await owner.press(content, en("campaign-own-text-button")))
    assert ask.message_id == menu.message_id and ask.text == en("campaign-write-text")
    title, preview, summary = await owner.send(TEXT)
    assert title.text == en("campaign-preview-title")
    assert preview.text == f"Hi {owner.first_name}, fresh saffron is in!"
    assert summary.text == en(
        "campaign-recipients", segment=en("segment-all"), recipients=50, in_segment=50, excluded=0
    )
    assert [b["text"] for row in summary.buttons for b in row] == [
        en("campaign-send-button", recipients=50),
        en("cancel-button"),
    ]
    assert await app.data["db"].fetch_value("SELECT COUNT(*) FROM outbox") == 0  # nothing before "Send"
    progress = only(await owner.press(summary, en("campaign-send-button", recipients=50)))
    assert progress.text == en("campaign-progress", id=1, sent=0, total=50, waiting=50, skipped=0, failed=0)
    assert [b["text"] for row in progress.buttons for b in row] == [en("campaign-stop-button")]
    return progress


async def outbox_states(app: App) -> dict[str, int]:
    rows = await app.data["db"].fetch_all(
        "SELECT state, COUNT(*) FROM outbox WHERE campaign_id = 1 GROUP BY state"
    )
    return {str(r[0]): int(r[1]) for r in rows}


# -- who may use the console ----------------------------------------------------------------------


async def test_a_customer_gets_only_the_unknown_command_answer(app: App) -> None:
    await seed_customers(app.data["db"], app.clock.now(), CUSTOMERS[:1])
    emma = app.chat(1003, "Emma", "en")
    await emma.send("/start")
    unknown = app.tr("en")("unknown-command")
    for command in STAFF_COMMANDS:
        assert only(await emma.send(command)).text == unknown, command
    # A forged campaign button does nothing either.
    forged = SentMessage(1003, 1, "?", buttons=[[{"text": "Go", "callback_data": "camp:go:"}]])
    assert await emma.press(forged, "Go") == []
    assert app.session.alerts == [(0, app.tr("en")("stale-button"))]
    db = app.data["db"]
    for table in ("audit_log", "campaigns", "outbox", "settings"):
        assert await db.fetch_value(f"SELECT COUNT(*) FROM {table}") == 0, table
    assert messages_to(app, CUSTOMERS[0]) == []


async def test_staff_who_are_not_owners_are_told_owners_only(app: App) -> None:
    en = app.tr("en")
    ivan = app.chat(STAFF_ID, "Ivan", "en")
    for command in OWNER_COMMANDS:
        assert only(await ivan.send(command)).text == en("owners-only"), command
    assert await app.data["db"].fetch_value("SELECT COUNT(*) FROM settings") == 0
    # What staff may do, they can: /stats is a chart and the figures.
    await seed_customers(app.data["db"], app.clock.now(), CUSTOMERS[:4])
    chart, figures = await ivan.send("/stats")
    assert chart.photo is not None and chart.photo.startswith(b"\x89PNG")
    assert "<b>Customers</b>: 4" in figures.text
    actions = [(e.staff_id, e.action) for e in await app.data["console"].audit_log()]
    assert actions == [(STAFF_ID, "/stats"), *((STAFF_ID, c.split()[0]) for c in reversed(OWNER_COMMANDS))]


# -- campaigns ---------------------------------------------------------------------------------------


async def test_a_campaign_to_fifty_customers_reaches_each_once_by_name(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    await seed_customers(db, app.clock.now(), CUSTOMERS)
    await seed_customers(db, app.clock.now(), NOT_OPTED_IN[:2], consent="declined")
    await seed_customers(db, app.clock.now(), NOT_OPTED_IN[2:], consent="unknown")
    owner = app.chat(OWNER_ID, "Taras", "en")
    progress = await start_campaign(app, owner)
    assert await outbox_states(app) == {"planned": 50}

    report = await delivery_of(app).deliver_due()
    assert report.outcomes == {"sent": 50}
    final = en(
        "campaign-report", id=1, state=en("campaign-state-done"), sent=50, total=50, skipped=0, failed=0
    )

    async def reported() -> bool:
        return progress.text == final

    await eventually(reported, "the final report")
    assert progress.edited and progress.buttons == []
    assert [m for m in messages_to(app, OWNER_ID) if m.seq > progress.seq] == []
    assert await outbox_states(app) == {"sent": 50}
    assert await db.fetch_value("SELECT state FROM campaigns WHERE id = 1") == "done"

    got = campaign_messages(app)
    for uid in CUSTOMERS:
        assert got[uid] == [f"Hi {first_name(uid)}, fresh saffron is in!"], uid
        [message] = messages_to(app, uid)
        assert [b["text"] for row in message.buttons for b in row] == [en("nudge-fewer-button")]
    for uid in NOT_OPTED_IN:
        assert got[uid] == [], uid
    # The outbox knows each message by the id Telegram gave it.
    sent_ids = {m.chat_id: m.message_id for uid in CUSTOMERS for m in messages_to(app, uid)}
    rows = await db.fetch_all("SELECT user_id, message_id FROM outbox WHERE campaign_id = 1")
    stored = {int(r[0]): int(r[1]) for r in rows}
    assert stored == sent_ids

    # Delivery run again (as the scheduler does every 5 s) sends no one anything twice.
    assert (await delivery_of(app).deliver_due()).attempted == 0
    assert campaign_messages(app) == got


async def test_cancel_at_the_segment_step_sends_nothing(app: App) -> None:
    en = app.tr("en")
    await seed_customers(app.data["db"], app.clock.now(), CUSTOMERS[:5])
    owner = app.chat(OWNER_ID, "Taras", "en")
    menu = only(await owner.send("/campaign"))
    as_shown = copy.deepcopy(menu)  # the session edits `menu` in place
    done = only(await owner.press(menu, en("cancel-button")))
    assert done.message_id == menu.message_id and done.text == en("campaign-cancelled") and done.buttons == []
    # The old buttons are dead now.
    assert await owner.press(as_shown, en("segment-all")) == []
    assert app.session.alerts == [(0, en("stale-button"))]
    await delivery_of(app).deliver_due()
    db = app.data["db"]
    assert await db.fetch_value("SELECT COUNT(*) FROM campaigns") == 0
    assert await db.fetch_value("SELECT COUNT(*) FROM outbox") == 0
    assert all(messages_to(app, uid) == [] for uid in CUSTOMERS[:5])


async def test_cancel_after_the_preview_sends_nothing(app: App) -> None:
    en = app.tr("en")
    await seed_customers(app.data["db"], app.clock.now(), CUSTOMERS[:5])
    owner = app.chat(OWNER_ID, "Taras", "en")
    menu = only(await owner.send("/campaign"))
    await owner.press(menu, en("segment-all"))
    await owner.press(menu, en("campaign-own-text-button"))
    *_, summary = await owner.send(TEXT)
    as_shown = copy.deepcopy(summary)
    assert only(await owner.press(summary, en("cancel-button"))).text == en("campaign-cancelled")
    assert await owner.press(as_shown, en("campaign-send-button", recipients=5)) == []  # stale now
    assert app.session.alerts == [(0, en("stale-button"))]
    assert await app.data["db"].fetch_value("SELECT COUNT(*) FROM outbox") == 0


async def test_pause_in_the_middle_of_a_campaign_and_resume(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    await seed_customers(db, app.clock.now(), CUSTOMERS)
    owner = app.chat(OWNER_ID, "Taras", "en")
    progress = await start_campaign(app, owner)
    delivery = delivery_of(app)

    # A few go out, then the owner pulls the switch.
    for row in await outbox_store.due(db, app.clock.now(), 7):
        assert await delivery.deliver(row) == "sent"
    assert only(replies(await owner.send("/pause"), progress)).text == en("pause-done")
    for _ in range(3):
        assert (await delivery.deliver_due()).attempted == 0
    assert sum(len(texts) for texts in campaign_messages(app).values()) == 7
    assert await outbox_states(app) == {"sent": 7, "planned": 43}
    waiting = en("campaign-progress", id=1, sent=7, total=50, waiting=43, skipped=0, failed=0)

    async def shows_waiting() -> bool:
        return progress.text == waiting

    await eventually(shows_waiting, "the progress message after 7 sends")
    assert progress.edited and [b["text"] for row in progress.buttons for b in row] == [
        en("campaign-stop-button")
    ]

    assert only(replies(await owner.send("/resume"), progress)).text == en("resume-done")
    assert (await delivery.deliver_due()).outcomes == {"sent": 43}
    got = campaign_messages(app)
    assert all(got[uid] == [f"Hi {first_name(uid)}, fresh saffron is in!"] for uid in CUSTOMERS), got
    final = en(
        "campaign-report", id=1, state=en("campaign-state-done"), sent=50, total=50, skipped=0, failed=0
    )

    async def reported() -> bool:
        return progress.text == final

    await eventually(reported, "the final report")
    assert await outbox_states(app) == {"sent": 50}


async def test_stop_the_campaign_while_it_runs(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    await seed_customers(db, app.clock.now(), CUSTOMERS[:10])
    owner = app.chat(OWNER_ID, "Taras", "en")
    menu = only(await owner.send("/campaign"))
    await owner.press(menu, en("segment-all"))
    await owner.press(menu, en("campaign-own-text-button"))
    *_, summary = await owner.send(TEXT)
    progress = only(await owner.press(summary, en("campaign-send-button", recipients=10)))
    for row in await outbox_store.due(db, app.clock.now(), 4):
        assert await delivery_of(app).deliver(row) == "sent"
    await owner.press(progress, en("campaign-stop-button"))
    assert app.session.alerts == [(0, en("campaign-stopping"))]
    assert (await delivery_of(app).deliver_due()).attempted == 0
    final = "\n".join(
        [
            en(
                "campaign-report",
                id=1,
                state=en("campaign-state-cancelled"),
                sent=4,
                total=10,
                skipped=6,
                failed=0,
            ),
            en("campaign-report-reason", reason="campaign cancelled", count=6),
        ]
    )

    async def reported() -> bool:
        return progress.text == final

    await eventually(reported, "the report of the stopped campaign")
    assert await outbox_states(app) == {"sent": 4, "skipped": 6}
    assert sum(len(messages_to(app, uid)) for uid in CUSTOMERS[:10]) == 4


# -- coupons, report, audit, export ---------------------------------------------------------------------


async def test_a_coupon_redeemed_twice_is_refused_the_second_time(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    now = app.clock.now()
    await seed_customers(db, now, CUSTOMERS[:2])
    async with db.transaction() as tx:
        await accounts.insert(tx, now, card_code="SPICE-1", user_id=CUSTOMERS[0])
        await accounts.insert(tx, now, card_code="SPICE-2", user_id=CUSTOMERS[1])
        assert await coupons.insert(
            tx, "AB2C-DE3F", CUSTOMERS[0], "win_back", None, "percent", 15, now, now + 14 * DAY
        )
        assert await coupons.insert(
            tx, "XY2Z-4567", CUSTOMERS[0], "birthday", None, "percent", 20, now, now + 7 * DAY
        )
    ivan = app.chat(STAFF_ID, "Ivan", "en")

    assert only(await ivan.send("/redeem ab2c-de3f")).text == en(
        "coupon-redeemed", code="AB2C-DE3F", value="15%", rule="win_back"
    )
    assert only(await ivan.send("/redeem AB2C-DE3F")).text == en("coupon-used", code="AB2C-DE3F", date="")
    assert only(await ivan.send("/redeem QQQQ-2222")).text == en("coupon-unknown", code="QQQQ-2222", date="")
    until = en.date(now + 7 * DAY, app.config.shop.zone)
    # Named for another customer (by Telegram id or card), or for no one we know: refused, still good.
    for other in (str(CUSTOMERS[1]), "spice-2"):
        assert only(await ivan.send(f"/redeem XY2Z-4567 {other}")).text == en(
            "coupon-wrong-customer", code="XY2Z-4567", date=until
        )
    assert only(await ivan.send("/redeem XY2Z-4567 NOBODY-9")).text == en(
        "customer-not-found", query="NOBODY-9"
    )
    assert only(await ivan.send("/redeem XY2Z-4567 SPICE-1")).text == en(
        "coupon-redeemed", code="XY2Z-4567", value="20%", rule="birthday"
    )
    app.clock.advance(8 * DAY)
    async with db.transaction() as tx:
        assert await coupons.insert(
            tx, "OLD2-3456", CUSTOMERS[0], "birthday", None, "percent", 20, now, now + 7 * DAY
        )
    assert only(await ivan.send("/redeem OLD2-3456")).text == en(
        "coupon-expired", code="OLD2-3456", date=until
    )
    redeemed = await db.fetch_all(
        "SELECT code, redeemed_by FROM coupons WHERE redeemed_at IS NOT NULL ORDER BY code"
    )
    assert [tuple(r) for r in redeemed] == [
        ("AB2C-DE3F", f"staff:{STAFF_ID}"),
        ("XY2Z-4567", f"staff:{STAFF_ID}"),
    ]
    assert (await app.data["console"].stats()).redemptions_30 == {"win_back": 1, "birthday": 1}


async def seed_uplift(db: Database, now: datetime) -> None:
    """win_back 20 days ago: 40 nudged (16 bought within 14 days), 40 held out (6 bought); birthday: 10
    nudged (5 bought), 5 held out (1 bought). Some purchases fall outside the window and do not count."""
    at = now - 20 * DAY
    groups = [
        ("win_back", "sent", range(60_001, 60_041), 16),
        ("win_back", "held_out", range(60_101, 60_141), 6),
        ("birthday", "sent", range(60_201, 60_211), 5),
        ("birthday", "held_out", range(60_301, 60_306), 1),
    ]
    await seed_customers(db, now, [uid for *_, ids, _ in groups for uid in ids])
    async with db.transaction() as tx:
        for rule, state, ids, buyers in groups:
            for n, uid in enumerate(ids):
                await tx.execute(
                    "INSERT INTO outbox (user_id, rule, step, period, template, state, due_at, "
                    "created_at, updated_at, sent_at) VALUES (?, ?, 0, 'p', 'tip', ?, ?, ?, ?, ?)",
                    (
                        uid,
                        rule,
                        state,
                        to_db(at),
                        to_db(at),
                        to_db(at),
                        to_db(at) if state == "sent" else None,
                    ),
                )
                account = await accounts.insert(tx, now - 300 * DAY, user_id=uid)
                # Buyers bought 3 days after; two others bought only before, or after the window.
                when = at + 3 * DAY if n < buyers else at - DAY if n % 2 else at + 16 * DAY
                await ledger.insert_purchase(tx, account, f"u-{uid}", 9_000, "UAH", when, now)


async def test_the_report_matches_the_database(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    await seed_uplift(db, app.clock.now())
    owner = app.chat(OWNER_ID, "Taras", "en")
    chart, text = await owner.send("/report")
    assert chart.photo is not None and chart.photo.startswith(b"\x89PNG")
    assert chart.text == en("report-chart-title")
    # Hand-computed: 16/40 = 40 %, 6/40 = 15 %, difference 25 points, se = sqrt(.4·.6/40 + .15·.85/40)
    # = 0.0959, so 25 ± 18.8 = 6.2 … 43.8 points; the birthday groups are too small to judge.
    assert text.text == "\n\n".join(
        [
            en("report-title", days=14),
            "<b>birthday</b>: nudged 10 → 50.0% bought; held out 5 → 20.0%\n"
            f"Difference +30.0 points (95% CI {_ci(10, 5, 5, 1)}): not enough data yet",
            "<b>win_back</b>: nudged 40 → 40.0% bought; held out 40 → 15.0%\n"
            "Difference +25.0 points (95% CI +6.2 … +43.8): it works",
        ]
    )
    # The same counts, straight from the tables.
    nudged = await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE rule = 'win_back' AND state = 'sent'")
    held = await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE rule = 'win_back' AND state = 'held_out'")
    assert (nudged, held) == (40, 40)


def _ci(n1: int, b1: int, n2: int, b2: int) -> str:
    p1, p2 = b1 / n1, b2 / n2
    se = (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) ** 0.5
    diff = p1 - p2
    return f"{100 * (diff - 1.959964 * se):+.1f} … {100 * (diff + 1.959964 * se):+.1f}"


async def test_the_report_without_history(app: App) -> None:
    owner = app.chat(OWNER_ID, "Taras", "en")
    assert only(await owner.send("/report")).text == app.tr("en")("report-empty", days=14)


async def test_the_audit_lists_the_owners_recent_actions(app: App) -> None:
    en = app.tr("en")
    owner = app.chat(OWNER_ID, "Taras", "en")
    assert only(await owner.send("/audit")).text == en("audit-empty")
    await owner.send("/pause")
    app.clock.advance(timedelta(minutes=3))
    await owner.send("/resume")
    await owner.send("/customer 123")
    menu = only(await owner.send("/campaign"))
    await owner.press(menu, en("cancel-button"))
    text = only(await owner.send("/audit")).text
    lines = text.splitlines()
    assert lines[0] == en("audit-title")
    zone = app.config.shop.zone
    later = app.clock.now().astimezone(zone)
    earlier = (app.clock.now() - timedelta(minutes=3)).astimezone(zone)

    def line(at: datetime, action: str, detail: str) -> str:
        when = en.date(at, zone) + at.strftime(" %H:%M")
        return en("audit-line", when=when, staff=str(OWNER_ID), action=action, detail=detail)

    actions = [(e.staff_id, e.action, e.detail) for e in await app.data["console"].audit_log()]
    assert actions == [
        (OWNER_ID, "/audit", ""),
        (OWNER_ID, "camp", "cancel:"),
        (OWNER_ID, "/campaign", ""),
        (OWNER_ID, "/customer", "123"),
        (OWNER_ID, "/resume", ""),
        (OWNER_ID, "/pause", ""),
        (OWNER_ID, "/audit", ""),
    ]
    assert lines[1:] == [
        line(later, "camp", "cancel:"),
        line(later, "/campaign", ""),
        line(later, "/customer", "123"),
        line(later, "/resume", ""),
        line(earlier, "/pause", ""),
        line(earlier, "/audit", ""),
    ]


async def test_export_customers_is_a_csv_document(app: App) -> None:
    db, en = app.data["db"], app.tr("en")
    await seed_customers(db, app.clock.now(), CUSTOMERS[:3])
    await seed_customers(db, app.clock.now(), NOT_OPTED_IN[:1], consent="declined")
    owner = app.chat(OWNER_ID, "Taras", "en")
    document = only(await owner.send("/export customers"))
    assert document.document_name == "customers.csv"
    assert document.text == en("export-done", what="customers", rows=4)
    assert document.document is not None and document.document.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(document.document.decode("utf-8-sig"))))
    assert rows[0][:2] == ["user_id", "first_name"]
    assert [(r[0], r[1], r[5]) for r in rows[1:]] == [
        *((str(uid), first_name(uid), "granted") for uid in CUSTOMERS[:3]),
        (str(NOT_OPTED_IN[0]), first_name(NOT_OPTED_IN[0]), "declined"),
    ]
    for what in ("ledger", "messages", "surveys"):
        exported = only(await owner.send(f"/export {what}"))
        assert exported.document_name == f"{what}.csv" and exported.document is not None
        assert re.fullmatch(rf"{what}\.csv: \d+ rows", exported.text)
    assert only(await owner.send("/export passwords")).text == en("export-usage")
