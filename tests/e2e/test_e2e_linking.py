"""Linking a Telegram chat to the shop's loyalty record (card deep link, shared phone) and /balance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from babel.dates import format_date
from tgemu import User

from .conftest import BotEnv
from .support import SHOP_NAME, SHOP_ZONE, query, value
from .texts import part, seen, text

pytestmark = pytest.mark.e2e
LANGS = pytest.mark.parametrize("lang", ["ru", "en"])


def owner_of(env: BotEnv, *, card: str | None = None, phone: str | None = None) -> int | None:
    column, key = ("card_code", card) if card else ("phone", phone)
    owner: int | None = value(env.db_path, f"SELECT user_id FROM loyalty_accounts WHERE {column} = ?", (key,))
    return owner


def accounts_of(env: BotEnv, user_id: int) -> int:
    count: int = value(env.db_path, "SELECT COUNT(*) FROM loyalty_accounts WHERE user_id = ?", (user_id,))
    return count


async def start(user: User, lang: str) -> None:
    await user.command("/start")
    [question] = await user.wait_messages(1)
    assert part(lang, "consent-question") in seen(question)


@LANGS
async def test_card_deep_link_links_and_balance_shows_the_ledger(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    seeded = bot_env.seeds.balance[lang]
    user = people(lang)

    await user.command(f"/start card_{seeded.card}")
    linked, question = await user.wait_messages(2)
    assert seen(linked) == text(lang, "link-linked", shop=SHOP_NAME)
    assert part(lang, "consent-question") in seen(question)
    assert owner_of(bot_env, card=seeded.card) == user.id

    await user.command("/balance")
    [balance] = await user.wait_messages(1)
    shown = seen(balance).splitlines()
    date = format_date(seeded.expiry_at.astimezone(SHOP_ZONE).date(), format="long", locale=lang)
    assert shown == [
        text(lang, "balance-points", points=seeded.points),
        text(lang, "balance-tier", tier=text(lang, f"tier-{seeded.tier}")),
        part(lang, "balance-expiry", points=seeded.expiry_points, date=date),
        text(lang, "balance-card", card=seeded.card),
    ]
    await user.expect_silence(0.3)


@LANGS
async def test_card_linked_to_someone_else_is_taken(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    card = bot_env.seeds.taken_card[lang]
    first, second = people(lang), people(lang)

    await first.command(f"/start card_{card}")
    linked, _ = await first.wait_messages(2)
    assert seen(linked) == text(lang, "link-linked", shop=SHOP_NAME)

    await second.command(f"/start card_{card}")
    taken, question = await second.wait_messages(2)
    assert seen(taken) == text(lang, "link-taken")
    assert part(lang, "consent-question") in seen(question)
    assert owner_of(bot_env, card=card) == first.id
    assert accounts_of(bot_env, second.id) == 0


@LANGS
async def test_unknown_card_is_not_found(lang: str, bot_env: BotEnv, people: Callable[..., User]) -> None:
    user = people(lang)
    await user.command("/start card_NO-SUCH-CARD-404")
    not_found, question = await user.wait_messages(2)
    assert seen(not_found) == text(lang, "link-not-found")
    assert part(lang, "consent-question") in seen(question)
    assert accounts_of(bot_env, user.id) == 0
    # the person still exists and can answer the consent question
    assert value(bot_env.db_path, "SELECT consent FROM customers WHERE user_id = ?", (user.id,)) == "unknown"


@LANGS
async def test_own_contact_links_the_shops_record_for_that_phone(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    phone = bot_env.seeds.own_phone[lang]
    user = people(lang)
    await start(user, lang)

    await user.share_contact(phone.removeprefix("+"), own=True)  # Telegram sends it without the '+'
    linked, hint = await user.wait_messages(2)
    assert seen(linked) == text(lang, "link-linked", shop=SHOP_NAME)
    assert seen(hint) == text(lang, "link-see-balance")
    assert owner_of(bot_env, phone=phone) == user.id

    await user.command("/balance")
    [balance] = await user.wait_messages(1)
    assert seen(balance).splitlines()[:2] == [
        text(lang, "balance-points", points=0),
        text(lang, "balance-tier", tier=text(lang, "tier-new")),
    ]


@LANGS
async def test_own_contact_with_a_foreign_number_links(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    """A customer of a Ukrainian shop with a Russian or Polish number: Telegram sends '79161234567'."""
    phone = bot_env.seeds.foreign_phone[lang]
    user = people(lang)
    await start(user, lang)

    await user.share_contact(phone.removeprefix("+"), own=True)
    linked, _ = await user.wait_messages(2)
    assert seen(linked) == text(lang, "link-linked", shop=SHOP_NAME)
    assert owner_of(bot_env, phone=phone) == user.id


@LANGS
async def test_someone_elses_contact_is_refused(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    phone = bot_env.seeds.other_phone[lang]
    user = people(lang)
    await start(user, lang)

    await user.share_contact(phone, own=False)
    [refused] = await user.wait_messages(1)
    assert seen(refused) == text(lang, "link-not-own-contact")
    assert owner_of(bot_env, phone=phone) is None
    assert accounts_of(bot_env, user.id) == 0
    rows = query(bot_env.db_path, "SELECT COUNT(*) FROM loyalty_accounts WHERE phone = ?", (phone,))
    assert rows[0][0] == 1  # no second record was made for the number either
    await user.expect_silence(0.3)


@LANGS
async def test_balance_unlinked_explains_and_offers_the_contact_button(
    lang: str, bot_env: BotEnv, people: Callable[..., User]
) -> None:
    user = people(lang)
    await start(user, lang)

    await user.command("/balance")
    [answer] = await user.wait_messages(1)
    assert seen(answer) == text(lang, "balance-unlinked")
    assert answer.reply_keyboard == [[{"text": text(lang, "share-phone-button"), "request_contact": True}]]
    assert accounts_of(bot_env, user.id) == 0
