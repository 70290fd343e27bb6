"""Nothing goes unanswered: unknown commands, free text, other content; staff commands only for staff."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tgemu import Emulator, User

from .conftest import BotEnv
from .support import OWNER_ID, STAFF_ID, value
from .texts import part, seen, text

pytestmark = pytest.mark.e2e
LANGS = pytest.mark.parametrize("lang", ["ru", "en"])


async def one_answer(user: User) -> str:
    [answer] = await user.wait_messages(1)
    await user.expect_silence(0.2)
    return seen(answer)


@LANGS
async def test_unknown_command_free_text_and_other_content_get_help(
    lang: str, people: Callable[..., User]
) -> None:
    user = people(lang)
    await user.command("/frobnicate")
    assert await one_answer(user) == text(lang, "unknown-command")
    await user.send("когда вы открываетесь?" if lang == "ru" else "when do you open?")
    assert await one_answer(user) == text(lang, "free-text")
    await user.send_location(50.45, 30.52)
    assert await one_answer(user) == text(lang, "other-content")


@LANGS
async def test_staff_commands_from_a_customer_look_like_any_unknown_command(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    user = people(lang)
    for command in ("/stats", "/customer 100001", "/staffhelp"):
        await user.command(command)
        assert await one_answer(user) == text(lang, "unknown-command"), command
    # The customer did not become one by trying.
    assert value(bot_env.db_path, "SELECT COUNT(*) FROM customers WHERE user_id = ?", (user.id,)) == 0


@pytest.mark.parametrize(("lang", "staff_id"), [("en", OWNER_ID), ("ru", STAFF_ID)])
async def test_staff_get_the_numbers(
    lang: str, staff_id: int, bot_env: BotEnv, emu: Emulator, people: Callable[..., User]
) -> None:
    db = bot_env.db_path
    expected = {
        "customers": value(db, "SELECT COUNT(*) FROM customers"),
        "opted_in": value(db, "SELECT COUNT(*) FROM customers WHERE consent = 'granted'"),
        "linked": value(db, "SELECT COUNT(*) FROM loyalty_accounts WHERE user_id IS NOT NULL"),
        "erased": value(db, "SELECT COUNT(*) FROM erasures"),
    }
    staff = people(lang, "Staff", user_id=staff_id)
    await staff.command("/stats")
    chart, numbers = await staff.wait_messages(2)
    await staff.expect_silence(0.2)

    assert chart.photo_id is not None and seen(chart) == part(lang, "stats-chart-caption")
    assert (await emu.file_bytes(chart.photo_id)).startswith(b"\x89PNG\r\n\x1a\n")
    shown = seen(numbers)
    assert part(lang, "stats-customers", customers=expected["customers"]) in shown
    assert part(lang, "stats-opted-in", opted_in=expected["opted_in"]) in shown
    assert part(lang, "stats-linked", linked=expected["linked"]) in shown
    assert part(lang, "stats-erased", erased=expected["erased"]) in shown
