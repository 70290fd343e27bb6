"""`retention-bot demo`: a demo shop in a terminal chat, with no token and no network.

The real dispatcher, routers and services run against a `LocalSession` instead of Telegram's HTTP API,
on a real SQLite file seeded with sample customers and purchases.
"""

from __future__ import annotations

import html
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from aiogram import Bot

from bot.clock import ManualClock
from bot.config import Config, parse_config
from bot.models import LedgerKind
from bot.storage import accounts, ledger
from bot.storage.db import Database
from bot.telegram.deps import WorkflowData
from bot.telegram.dispatcher import build_bot, build_dispatcher
from bot.telegram.local_session import LocalChat, LocalSession, SentMessage

DEMO_TOKEN = "42:local-demo"
DEMO_SHOP = {
    "shop": {
        "name": "Кав'ярня «Зерно»",
        "timezone": "Europe/Kyiv",
        "currency": "UAH",
        "default_language": "uk",
        "phone_region": "UA",
    },
    "staff": {"owners": [1]},
    "loyalty": {"first_purchase_bonus": 20, "referral_bonus": 50, "birthday_bonus": 100},
}


@dataclass(frozen=True)
class Persona:
    user_id: int
    first_name: str
    language_code: str
    role: str
    hint: str


PERSONAS = (
    Persona(1001, "Олена", "uk", "customer", "has loyalty card ZERNO-1001: try /start card_ZERNO-1001"),
    Persona(1002, "Дмитрий", "ru", "customer", "the shop knows his phone: try /link, then :phone"),
    Persona(1003, "Emma", "en", "customer", "new here, no card yet: try /start, /balance, /language"),
    Persona(
        1,
        "Тарас",
        "uk",
        "owner (staff)",
        "try /stats, /customer ZERNO-1001, /purchase ZERNO-1001 250, /staffhelp",
    ),
)
PHONES = {1001: "+380501112233", 1002: "+380671234567", 1003: "+447700900123", 1: "+380931110000"}


async def seed_demo_shop(db: Database, now: datetime) -> None:
    """Three shop records with a year of purchases and points (5 % back, expiring after 12 months)."""
    histories = {
        ("ZERNO-1001", "Олена Коваль", PHONES[1001]): [(340, 95), (300, 60), (200, 33), (150, 12), (90, 3)],
        (None, "Дмитрий Орлов", PHONES[1002]): [(420, 200), (380, 40)],
        ("ZERNO-2002", "Ірина Мельник", "+380661230000"): [(1250, 20)],
    }
    for (card, name, phone), purchases in histories.items():
        account = await accounts.create(db, now - timedelta(days=400), card_code=card, phone=phone, name=name)
        for number, (amount_uah, days_ago) in enumerate(purchases, start=1):
            at = now - timedelta(days=days_ago)
            external = f"demo-{account.id}-{number}"
            await ledger.record_purchase(db, account.id, external, amount_uah * 100, "UAH", at, now)
            await ledger.append(
                db,
                account.id,
                LedgerKind.EARN,
                amount_uah // 20,
                reason="purchase",
                actor="import",
                at=at,
                expires_at=at + timedelta(days=365),
                external_id=f"earn-{external}",
            )


class Terminal:
    """Prints the bot's messages with numbered buttons and reads what the person types."""

    def __init__(self, out: TextIO, inp: TextIO) -> None:
        self.out = out
        self.inp = inp
        self.echo = not inp.isatty()
        self.buttons: dict[int, tuple[SentMessage, dict[str, object]]] = {}

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def show(self, messages: list[SentMessage]) -> None:
        self.buttons.clear()
        for message in messages:
            marker = "bot (edited) ›" if message.edited else "bot ›"
            body = _plain(message.text)
            if message.photo is not None:
                body += f"\n🖼 a picture ({len(message.photo)} bytes of PNG)"
            if message.document is not None:
                body += f"\n📎 {message.document_name} ({len(message.document)} bytes)\n"
                body += _indent(message.document.decode("utf-8", errors="replace")[:1500])
            self.say(f"{marker} " + body.replace("\n", "\n      "))
            labels = []
            for row in message.buttons:
                for button in row:
                    number = len(self.buttons) + 1
                    self.buttons[number] = (message, button)
                    labels.append(f"[{number}] {button.get('text')}")
            for row in message.reply_keyboard:
                labels += [f"[:phone] {button.get('text')}" for button in row]
            if labels:
                self.say("      " + "   ".join(labels))

    def read(self, prompt: str) -> str | None:
        if not self.echo:
            self.out.write(prompt)
            self.out.flush()
        line = self.inp.readline()
        if not line:
            return None
        line = line.rstrip("\n")
        if self.echo:
            self.say(f"{prompt}{line}")
        return line


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"</?(b|i|u|s|code|pre|a)( [^>]*)?>", "", text))


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


async def run_demo(
    db_path: Path | None,
    *,
    out: TextIO = sys.stdout,
    inp: TextIO = sys.stdin,
    clock: ManualClock | None = None,
) -> int:
    from bot.app import open_application

    # The demo's own clock: `:wait N` moves it N days on, so the scheduler's nudges can be seen at once.
    clock = clock or ManualClock(datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0))
    folder = None
    if db_path is None:
        folder = tempfile.TemporaryDirectory(prefix="retention-demo-")
        db_path = Path(folder.name) / "demo.sqlite3"
    fresh = not db_path.exists()
    config = parse_config({**DEMO_SHOP, "database": {"path": str(db_path)}}, "demo")
    session = LocalSession(bot_id=42)
    bot = build_bot(DEMO_TOKEN, session)
    try:
        async with open_application(config, clock, bot) as data:
            if fresh:
                await seed_demo_shop(data["db"], clock.now())
            return await _converse(config, data, Terminal(out, inp), bot, session)
    finally:
        if folder is not None:
            folder.cleanup()


async def _converse(
    config: Config, data: WorkflowData, term: Terminal, bot: Bot, session: LocalSession
) -> int:
    dispatcher = build_dispatcher(data)
    await dispatcher.emit_startup(bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data)
    chats = {
        p.user_id: LocalChat(
            dispatcher, bot, session, p.user_id, p.first_name, p.language_code, username=_username(p)
        )
        for p in PERSONAS
    }
    current = PERSONAS[0]
    term.say(
        f"=== retention-bot demo: {config.shop.name} — the real bot, a local Telegram, a fresh database ==="
    )
    term.say("Type a message or a /command as the customer would. A number presses a button.")
    term.say(":phone shares your phone number · :who lists people · :as N switches person · :quit ends")
    term.say(":wait N lets N days pass (the scheduler sends its nudges) — try it after agreeing to offers")
    _introduce(term, current)
    try:
        while True:
            line = term.read(f"{current.first_name} › ")
            if line is None or line.strip() in {":quit", ":q", "quit", "exit"}:
                term.say("bye")
                return 0
            line = line.strip()
            if not line:
                continue
            chat = chats[current.user_id]
            if line == ":who":
                for number, persona in enumerate(PERSONAS, start=1):
                    term.say(
                        f"  {number}. {persona.first_name} ({persona.role}, {persona.language_code}): "
                        f"{persona.hint}"
                    )
                continue
            if line.startswith(":as"):
                choice = line[3:].strip()
                if choice.isdigit() and 1 <= int(choice) <= len(PERSONAS):
                    current = PERSONAS[int(choice) - 1]
                    _introduce(term, current)
                    term.show(chats[current.user_id].unseen())
                else:
                    term.say(f"  :as takes a number from 1 to {len(PERSONAS)} (see :who)")
                continue
            if line.startswith(":wait"):
                days = line[5:].strip() or "1"
                if not days.isdigit() or not 1 <= int(days) <= 3650:
                    term.say("  :wait takes a number of days, e.g. :wait 40")
                    continue
                summary = await _let_time_pass(data, int(days))
                term.say(f"  ({summary})")
                term.show(chat.unseen())
                continue
            if line == ":phone":
                term.show(await chat.share_contact(PHONES[current.user_id]))
                continue
            if line.isdigit():
                pressed = term.buttons.get(int(line))
                if pressed is None:
                    term.say("  no button with that number on the last messages")
                    continue
                message, button = pressed
                term.show(await chat.press(message, str(button["callback_data"])))
                for _, alert in session.alerts:
                    term.say(f"  (pop-up) {alert}")
                session.alerts.clear()
                continue
            term.show(await chat.send(line))
    finally:
        await dispatcher.emit_shutdown(bot=bot, dispatcher=dispatcher, **dispatcher.workflow_data)


async def _let_time_pass(data: WorkflowData, days: int) -> str:
    """Move the demo clock on, as the scheduler would live through those days, and run its jobs."""
    clock = data["clock"]
    assert isinstance(clock, ManualClock)
    sent = 0
    for _ in range(days):
        clock.advance(timedelta(days=1))
        await data["loyalty"].expire_due_points()
        await data["loyalty"].pay_birthday_bonuses()
        await data["surveys"].close_abandoned()
        await data["planner"].plan()
        delivery = data["delivery"]
        if delivery is not None:
            report = await delivery.deliver_due()
            sent += report.outcomes.get("sent", 0)
    local = clock.now().astimezone(data["config"].shop.zone)
    return f"it is now {local:%Y-%m-%d %H:%M}; the scheduler sent {sent} nudge(s)"


def _username(persona: Persona) -> str:
    return {1001: "olena", 1002: "dmitry", 1003: "emma", 1: "taras"}[persona.user_id]


def _introduce(term: Terminal, persona: Persona) -> None:
    term.say(
        f"--- you are {persona.first_name}, {persona.role}, Telegram language {persona.language_code}: "
        f"{persona.hint}"
    )
