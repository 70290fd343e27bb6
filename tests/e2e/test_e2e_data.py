"""The customer's own data: /mydata sends all of it as JSON, /forget erases it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from tgemu import Emulator, User

from .conftest import BotEnv
from .support import SHOP_NAME, TEXT_VERSION, query, value
from .texts import seen, text

pytestmark = pytest.mark.e2e
LANGS = pytest.mark.parametrize("lang", ["ru", "en"])


async def join_with_card(user: User, lang: str, card: str) -> None:
    """/start with the card's deep link, then yes to offers."""
    await user.command(f"/start card_{card}")
    linked, question = await user.wait_messages(2)
    assert seen(linked) == text(lang, "link-linked", shop=SHOP_NAME)
    await user.press(question, text(lang, "consent-yes-button"))
    [thanks] = await user.wait_messages(1)
    assert seen(thanks) == text(lang, "consent-granted")


@LANGS
async def test_mydata_sends_everything_stored_as_json(
    lang: str, bot_env: BotEnv, emu: Emulator, people: Callable[..., User]
) -> None:
    card = bot_env.seeds.data_card[lang]
    user = people(lang, "Дарья" if lang == "ru" else "Dora")
    await join_with_card(user, lang, card)

    await user.command("/mydata")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(lang, "mydata-caption")
    assert answer.document is not None
    assert answer.document["file_name"].endswith(".json")
    document: dict[str, Any] = json.loads(await emu.file_bytes(answer.document["file_id"]))

    assert document["customer"]["user_id"] == user.id
    assert document["customer"]["first_name"] == user.first_name
    assert document["customer"]["telegram_language"] == lang
    assert document["customer"]["consent"] == "granted"
    history = [(e["action"], e["text_version"], e["source"]) for e in document["consent_history"]]
    assert history == [("granted", TEXT_VERSION, f"/start card_{card}")]
    assert document["loyalty_account"]["card_code"] == card
    assert document["loyalty_account"]["user_id"] == user.id
    assert [p["amount_minor"] for p in document["purchases"]] == [14000]
    assert [e["points"] for e in document["points_ledger"]] == [7]
    # Nothing about anyone else.
    assert str(bot_env.seeds.data_card["en" if lang == "ru" else "ru"]) not in json.dumps(document)


@LANGS
async def test_forget_erases_the_person_and_keeps_the_shops_books(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    card = bot_env.seeds.forget_card[lang]
    user = people(lang)
    await join_with_card(user, lang, card)
    last_erasure = value(bot_env.db_path, "SELECT COALESCE(MAX(id), 0) FROM erasures")

    await user.command("/forget")
    [question] = await user.wait_messages(1)
    await user.press(question, text(lang, "forget-yes-button"))
    [edited] = await user.wait_messages(1)
    assert edited.message_id == question.message_id
    assert seen(edited) == text(lang, "forget-done")

    db = bot_env.db_path
    assert query(db, "SELECT * FROM customers WHERE user_id = ?", (user.id,)) == []
    assert query(db, "SELECT * FROM consent_events WHERE user_id = ?", (user.id,)) == []
    erasures = query(db, "SELECT consent_events, had_account FROM erasures WHERE id > ?", (last_erasure,))
    assert [tuple(r) for r in erasures] == [(1, 1)]
    [account] = query(
        db, "SELECT id, user_id, name, phone FROM loyalty_accounts WHERE card_code = ?", (card,)
    )
    assert (account["user_id"], account["name"], account["phone"]) == (None, None, None)
    assert value(db, "SELECT SUM(points) FROM points_ledger WHERE account_id = ?", (account["id"],)) == 7

    await user.command("/mydata")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(lang, "mydata-none")
    assert answer.document is None
    # Asking what is stored stores nothing.
    assert query(db, "SELECT * FROM customers WHERE user_id = ?", (user.id,)) == []


@LANGS
async def test_forget_when_nothing_is_stored(lang: str, bot_env: BotEnv, people: Callable[..., User]) -> None:
    user = people(lang)
    await user.command("/mydata")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(lang, "mydata-none")
    await user.command("/forget")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(lang, "forget-nothing")
    assert query(bot_env.db_path, "SELECT * FROM customers WHERE user_id = ?", (user.id,)) == []
