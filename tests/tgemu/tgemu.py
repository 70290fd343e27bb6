"""Act as Telegram users against the `telegram-test-api` emulator started by emulator.js.

    async with Emulator.start(blocked=[777]) as emu:
        # point the bot at emu.api_base, token emu.token
        alice = emu.user(1001, "Alice", language_code="ru")
        await alice.command("/start")
        [msg] = await alice.wait_messages(1)
        await alice.press(msg, "Yes")            # by button text or callback_data
        calls = await emu.call_log()              # every bot-side call, with timestamps

An emulator process can also outlive one event loop (a session-wide pytest fixture):
`proc, api_base = launch()`, then per test `emu = Emulator(proc, api_base, token)` … `await emu.close()`,
and at the end `stop_process(proc)`.

Needs `node` and npm; telegram-test-api is pinned in package.json beside this file and installed
there with `npm ci` on first use (or by .ci/run). Only aiohttp beyond the standard library.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import select
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0
# Every call to the emulator gives up after this long, so a hung emulator fails a test instead of hanging it.
HTTP_TIMEOUT_S = 15.0


def npm_dir() -> Path:
    """This folder, with node_modules/telegram-test-api installed from the lock file if missing."""
    if not (HERE / "node_modules" / "telegram-test-api" / "package.json").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, stdout=subprocess.DEVNULL
        )
    return HERE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(
    port: int | None = None,
    blocked: Sequence[int] = (),
    flood: Sequence[int] = (),
    enforce_limits: bool = False,
) -> tuple[subprocess.Popen[str], str]:
    """Start emulator.js and wait for its READY line; returns the process and the API base URL."""
    args = [
        "node",
        str(HERE / "emulator.js"),
        "--module-dir",
        str(npm_dir()),
        "--port",
        str(port or free_port()),
    ]
    for c in blocked:
        args += ["--blocked-chat", str(c)]
    for c in flood:
        args += ["--flood-chat", str(c)]
    if enforce_limits:
        args.append("--enforce-limits")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
    line = proc.stdout.readline() if readable else ""
    if not line.startswith("READY"):
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"emulator did not start: {line!r} {err}")
    return proc, line.split()[1]


def stop_process(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 5 s; the pipes are closed so nothing is left for the garbage collector."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@dataclass
class BotMessage:
    """One message the bot sent to a chat, as the emulator stored it (re-read after an edit)."""

    message_id: int
    chat_id: int
    text: str | None
    caption: str | None
    buttons: list[list[dict[str, Any]]]  # inline keyboard rows: {"text", "callback_data"|"url"}
    reply_keyboard: list[list[dict[str, Any]]]
    photo_id: str | None
    document: dict[str, Any] | None
    parse_mode: str | None
    edited: bool
    raw: dict[str, Any] = field(repr=False)

    @property
    def body(self) -> str:
        return self.text or self.caption or ""

    def button(self, label_or_data: str) -> dict[str, Any]:
        for row in self.buttons:
            for b in row:
                if label_or_data in (b.get("text"), b.get("callback_data")):
                    return b
        for row in self.buttons:
            for b in row:
                if label_or_data.lower() in str(b.get("text", "")).lower():
                    return b
        raise LookupError(f"no button {label_or_data!r} in {self.buttons}")


def _parse(update: dict[str, Any]) -> BotMessage:
    m = update["message"]
    markup = m.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    photo = m.get("photo")
    return BotMessage(
        message_id=int(update["messageId"]),
        chat_id=int(m["chat_id"]),
        text=m.get("text"),
        caption=m.get("caption"),
        buttons=markup.get("inline_keyboard", []),
        reply_keyboard=markup.get("keyboard", []),
        photo_id=photo[-1]["file_id"] if photo else None,
        document=m.get("document"),
        parse_mode=m.get("parse_mode"),
        edited=bool(update.get("edited")),
        raw=update,
    )


def _is_bot_message(item: dict[str, Any]) -> bool:
    return "callbackQuery" not in item and "from" not in item["message"]


class User:
    """A Telegram user in a private chat with the bot (chat id == user id)."""

    def __init__(
        self,
        emu: Emulator,
        user_id: int,
        first_name: str,
        username: str | None,
        language_code: str | None,
        last_name: str | None,
    ) -> None:
        self.emu = emu
        self.id = user_id
        self.first_name = first_name
        self.username = username
        self.language_code = language_code
        self.last_name = last_name

    def _from(self) -> dict[str, Any]:
        f: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            f["last_name"] = self.last_name
        if self.username:
            f["username"] = self.username
        if self.language_code:
            f["language_code"] = self.language_code
        return f

    def _chat(self) -> dict[str, Any]:
        c: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            c["username"] = self.username
        return c

    def _message(self, **extra: Any) -> dict[str, Any]:
        return {
            "botToken": self.emu.token,
            "date": int(time.time()),
            "from": self._from(),
            "chat": self._chat(),
            **extra,
        }

    async def send(self, text: str) -> None:
        await self.emu._post("/sendMessage", self._message(text=text))

    async def command(self, text: str) -> None:
        """'/start payload' -> a message with a bot_command entity."""
        name = text.split(" ", 1)[0]
        entities = [{"offset": 0, "length": len(name), "type": "bot_command"}]
        await self.emu._post("/sendCommand", self._message(text=text, entities=entities))

    async def share_contact(self, phone: str, own: bool = True) -> None:
        contact: dict[str, Any] = {"phone_number": phone, "first_name": self.first_name}
        if own:
            contact["user_id"] = self.id
        await self.emu._post("/sendMessage", self._message(contact=contact))

    async def send_location(self, latitude: float, longitude: float) -> None:
        """Something that is neither text nor a contact."""
        await self.emu._post(
            "/sendMessage", self._message(location={"latitude": latitude, "longitude": longitude})
        )

    async def press(self, message: BotMessage, label_or_data: str) -> None:
        """Press an inline button of a bot message (matched by callback_data or text)."""
        b = message.button(label_or_data)
        if "callback_data" not in b:
            raise LookupError(f"button {b} has no callback_data")
        msg = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self._chat(),
            "text": message.body,
            "reply_markup": {"inline_keyboard": message.buttons},
        }
        await self.emu._post(
            "/sendCallback",
            {"botToken": self.emu.token, "from": self._from(), "message": msg, "data": b["callback_data"]},
        )

    async def messages(self) -> list[BotMessage]:
        """Bot messages to this chat not read yet (edited messages come back once more)."""
        data = await self.emu._post("/getUpdates", {"token": self.emu.token, "chatId": self.id})
        return [_parse(u) for u in data.get("result", [])]

    async def wait_messages(self, n: int = 1, timeout: float = 10.0) -> list[BotMessage]:
        got: list[BotMessage] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            got += await self.messages()
            if len(got) >= n:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"user {self.id}: {len(got)} of {n} bot messages in {timeout}s: "
                    f"{[m.body[:80] for m in got]}"
                )
            await asyncio.sleep(0.05)
        return got

    async def expect_silence(self, seconds: float = 1.0) -> None:
        await asyncio.sleep(seconds)
        extra = await self.messages()
        if extra:
            raise AssertionError(f"user {self.id} got unexpected messages: {[m.body[:80] for m in extra]}")

    async def block_bot(self) -> None:
        await self.emu._post("/control", {"blockChat": self.id})

    async def unblock_bot(self) -> None:
        await self.emu._post("/control", {"unblockChat": self.id})


class Emulator:
    """A client of one running emulator process, acting for one bot token."""

    def __init__(self, proc: subprocess.Popen[str], api_base: str, token: str) -> None:
        self.proc = proc
        self.api_base = api_base
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        token: str = "123456:TEST-token",
        port: int | None = None,
        blocked: Sequence[int] = (),
        flood: Sequence[int] = (),
        enforce_limits: bool = False,
    ) -> AsyncIterator[Emulator]:
        proc, api_base = await asyncio.to_thread(launch, port, blocked, flood, enforce_limits)
        emu = cls(proc, api_base, token)
        try:
            yield emu
        finally:
            await emu.close()
            await asyncio.to_thread(stop_process, proc)

    async def close(self) -> None:
        """Close this client's HTTP session (the emulator process keeps running)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        last_name: str | None = None,
    ) -> User:
        return User(self, user_id, first_name, username, language_code, last_name)

    async def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        async with self._session.post(self.api_base + route, json=body) as r:
            data: dict[str, Any] = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"emulator {route}: {r.status} {data}")
            return data

    async def call_log(self) -> tuple[list[dict[str, Any]], int]:
        """Every bot-side call [{t, method, chat_id, status}] and the flood-control violations."""
        data = await self._post("/getCallLog", {"token": self.token})
        return data["result"], int(data.get("violations", 0))

    async def bot_settings(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = (
            await self._post("/getBotSettings", {"token": self.token})
        )["result"]
        return result

    async def file_bytes(self, file_id: str) -> bytes:
        data = await self._post("/getBotFile", {"file_id": file_id})
        return base64.b64decode(data["result"]["base64"])

    async def sent_messages(self) -> list[BotMessage]:
        """Every message the bot has sent so far (read or not), oldest first, as edited since."""
        return [_parse(item) for item in await self.history() if _is_bot_message(item)]

    async def user_updates(self) -> list[dict[str, Any]]:
        """Every update people sent to the bot, oldest first; `isRead` means the bot's getUpdates took it."""
        return [item for item in await self.history() if not _is_bot_message(item)]

    async def history(self) -> list[dict[str, Any]]:
        """Everything stored for this token, users' updates and bot messages, oldest first.

        A user's update has `updateId`, `isRead` (taken by the bot's getUpdates) and `message` (with
        `from`) or `callbackQuery`; a bot message has `message.chat_id` and no `from`.
        """
        result: list[dict[str, Any]] = (await self._post("/getUpdatesHistory", {"token": self.token}))[
            "result"
        ]
        return result
