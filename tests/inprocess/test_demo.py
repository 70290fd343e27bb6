"""`retention-bot demo`: the terminal chat over the real bot, driven by a script on stdin."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from bot.clock import ManualClock
from bot.demo import run_demo
from bot.storage import accounts, ledger
from bot.storage.db import Database

SCRIPT = "/start card_ZERNO-1001\n1\n/balance\n:as 4\n/stats\n"


def lines_of(transcript: str) -> list[str]:
    return [line.rstrip() for line in transcript.splitlines()]


async def test_demo_transcript(clock: ManualClock) -> None:
    out = io.StringIO()
    assert await run_demo(None, out=out, inp=io.StringIO(SCRIPT), clock=clock) == 0
    transcript = out.getvalue()
    lines = lines_of(transcript)
    assert lines[0].startswith("=== retention-bot demo: Кав'ярня «Зерно»")
    # Every scripted line is echoed after the prompt of the person typing it.
    assert "Олена › /start card_ZERNO-1001" in lines
    assert "bot › Ваш бонусний рахунок у Кав'ярня «Зерно» прив'язано до цього чату." in lines
    assert "bot › Вітаємо, Олена! Це бот Кав'ярня «Зерно»." in lines  # HTML tags stripped for the terminal
    assert any(line.strip() == "[1] ✅ Так, надсилайте   [2] Ні, дякую" for line in lines)
    granted = "Дякуємо! Ви отримуватимете наші пропозиції. Відписатися — /stop, переглянути бали — /balance."
    assert f"bot (edited) › {granted}" in lines
    balance = transcript.split("Олена › /balance\n", 1)[1]
    assert re.search(r"^bot › Ваші бали: \d+$", balance, re.M)
    assert re.search(r"^ +Рівень: (Новий|Постійний|Лояльний)$", balance, re.M)
    assert re.search(r"^ +Найближче згоряння: .+ — \d+ бал(и|ів)?\.$", balance, re.M)
    assert re.search(r"^ +Картка: ZERNO-1001$", balance, re.M)
    assert any(line.startswith("--- you are Тарас, owner (staff)") for line in lines)
    stats = transcript.split("Тарас › /stats\n", 1)[1]
    assert re.search(r"^(bot ›| ) +Клієнти: 1$", stats, re.M)
    assert re.search(r"^ +Підписані на пропозиції: 1\b", stats, re.M)
    assert re.search(r"^ +Прив'язали бонусний рахунок: 1\b", stats, re.M)
    assert re.search(r"^ +Видалені на запит: 0$", stats, re.M)
    assert lines[-1] == "bye"


async def test_demo_balance_matches_the_seeded_ledger(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "demo.sqlite3"
    out = io.StringIO()
    script = "/start card_ZERNO-1001\n/balance\n:quit\n"
    assert await run_demo(path, out=out, inp=io.StringIO(script), clock=clock) == 0
    found = re.search(r"Ваші бали: (\d+)", out.getvalue())
    assert found is not None
    db = await Database.open(path)
    try:
        account = await accounts.by_card(db, "ZERNO-1001")
        assert account is not None and account.user_id == 1001
        assert int(found[1]) == sum(e.points for e in await ledger.entries(db, account.id))
        assert int(found[1]) > 0
    finally:
        await db.close()
    # The database is kept: a second run does not seed the shop again.
    out = io.StringIO()
    assert await run_demo(path, out=out, inp=io.StringIO("/balance\n"), clock=clock) == 0
    again = re.search(r"Ваші бали: (\d+)", out.getvalue())
    assert again is not None and again[1] == found[1]


async def test_demo_meta_commands(clock: ManualClock) -> None:
    out = io.StringIO()
    script = ":who\n:as 9\n:as 3\n7\n\n/start\n2\n:quit\nnot read\n"
    assert await run_demo(None, out=out, inp=io.StringIO(script), clock=clock) == 0
    lines = lines_of(out.getvalue())
    assert any(line.startswith("  3. Emma (customer, en)") for line in lines)
    assert "  :as takes a number from 1 to 4 (see :who)" in lines
    assert any(line.startswith("--- you are Emma") for line in lines)
    assert "  no button with that number on the last messages" in lines
    declined = (
        "Understood: we will not send you any offers. You can still check your points with /balance. "
        "If you change your mind, send /start."
    )
    assert f"bot (edited) › {declined}" in lines
    assert lines[-1] == "bye"
    assert "not read" not in out.getvalue()


def test_demo_command_line() -> None:
    exe = Path(sys.executable).with_name("retention-bot")
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    done = subprocess.run(
        [str(exe), "demo"],
        input="/start card_ZERNO-1001\n1\n/balance\n:quit\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("=== retention-bot demo: Кав'ярня «Зерно»")
    assert "bot › Ваш бонусний рахунок у Кав'ярня «Зерно» прив'язано до цього чату." in out
    assert "bot (edited) › Дякуємо!" in out
    assert re.search(r"bot › Ваші бали: \d+", out)
    assert "Картка: ZERNO-1001" in out
    assert out.rstrip().endswith("bye")
    assert "Traceback" not in done.stderr
