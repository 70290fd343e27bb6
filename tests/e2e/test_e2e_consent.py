"""Consent: /start asks; the buttons record the answer, its wording version and source; /stop withdraws."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tgemu import BotMessage, User

from .conftest import BotEnv
from .support import SHOP_NAME, TEXT_VERSION, query, value
from .texts import part, seen, text

pytestmark = pytest.mark.e2e
LANGS = pytest.mark.parametrize("lang", ["ru", "en"])


async def ask_consent(user: User, lang: str, command: str = "/start") -> BotMessage:
    await user.command(command)
    [question] = await user.wait_messages(1)
    assert part(lang, "consent-greeting", name=user.first_name, shop=SHOP_NAME) in seen(question)
    assert part(lang, "consent-question") in seen(question)
    labels = [b["text"] for row in question.buttons for b in row]
    assert labels == [text(lang, "consent-yes-button"), text(lang, "consent-no-button")]
    return question


def consent_events(env: BotEnv, user_id: int) -> list[tuple[str, str, str]]:
    rows = query(
        env.db_path,
        "SELECT action, text_version, source FROM consent_events WHERE user_id = ? ORDER BY at, id",
        (user_id,),
    )
    return [(r["action"], r["text_version"], r["source"]) for r in rows]


def consent_state(env: BotEnv, user_id: int) -> str | None:
    state: str | None = value(env.db_path, "SELECT consent FROM customers WHERE user_id = ?", (user_id,))
    return state


@LANGS
async def test_yes_records_granted_consent(lang: str, bot_env: BotEnv, people: Callable[..., User]) -> None:
    user = people(lang, "Оля" if lang == "ru" else "Olivia")
    question = await ask_consent(user, lang)
    assert consent_state(bot_env, user.id) == "unknown"

    await user.press(question, text(lang, "consent-yes-button"))
    [edited] = await user.wait_messages(1)

    assert edited.edited and edited.message_id == question.message_id
    assert seen(edited) == text(lang, "consent-granted")
    assert consent_state(bot_env, user.id) == "granted"
    assert consent_events(bot_env, user.id) == [("granted", TEXT_VERSION, "/start")]
    await user.expect_silence(0.3)


@LANGS
async def test_yes_through_a_deep_link_records_where_it_came_from(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    user = people(lang)
    question = await ask_consent(user, lang, "/start poster_window")
    await user.press(question, text(lang, "consent-yes-button"))
    [edited] = await user.wait_messages(1)
    assert seen(edited) == text(lang, "consent-granted")
    assert consent_events(bot_env, user.id) == [("granted", TEXT_VERSION, "/start poster_window")]


@LANGS
async def test_no_records_declined(lang: str, bot_env: BotEnv, people: Callable[..., User]) -> None:
    user = people(lang)
    question = await ask_consent(user, lang)

    await user.press(question, text(lang, "consent-no-button"))
    [edited] = await user.wait_messages(1)

    assert edited.edited and edited.message_id == question.message_id
    assert seen(edited) == text(lang, "consent-declined")
    assert consent_state(bot_env, user.id) == "declined"
    assert consent_events(bot_env, user.id) == [("declined", TEXT_VERSION, "/start")]


@LANGS
async def test_stop_withdraws_and_start_opts_back_in(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    user = people(lang)
    question = await ask_consent(user, lang)
    await user.press(question, text(lang, "consent-yes-button"))
    await user.wait_messages(1)

    await user.command("/stop")
    [stopped] = await user.wait_messages(1)
    assert seen(stopped) == text(lang, "stop-done")
    assert consent_state(bot_env, user.id) == "withdrawn"

    again = await ask_consent(user, lang)
    await user.press(again, text(lang, "consent-yes-button"))
    [edited] = await user.wait_messages(1)
    assert seen(edited) == text(lang, "consent-granted")
    assert consent_state(bot_env, user.id) == "granted"
    assert consent_events(bot_env, user.id) == [
        ("granted", TEXT_VERSION, "/start"),
        ("withdrawn", TEXT_VERSION, "/stop"),
        ("granted", TEXT_VERSION, "/start"),
    ]
    await user.expect_silence(0.3)


@LANGS
async def test_a_name_with_markup_is_shown_as_written(lang: str, people: Callable[..., User]) -> None:
    user = people(lang, "<Tom & Jerry>")
    await ask_consent(user, lang)  # the greeting shows the name literally, in HTML Telegram accepts
