"""CustomerService on a real database: first contact, consent, linking, export and erasure."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.clock import ManualClock, to_db
from bot.config import Config
from bot.models import ConsentAction, ConsentState, LedgerKind, TelegramProfile
from bot.services.customers import CustomerService, LinkResult, consent_source
from bot.storage import accounts, audit, customers, ledger
from bot.storage.db import Database

OLENA = TelegramProfile(1001, "Олена", "Коваль", "olena", "uk")
DMYTRO = TelegramProfile(1002, "Дмитро", None, None, "ru")


@pytest.fixture
def service(db: Database, clock: ManualClock, config: Config) -> CustomerService:
    return CustomerService(db, clock, config)


# -- first contact -----------------------------------------------------------------------------------


async def test_start_creates_the_customer(service: CustomerService, clock: ManualClock) -> None:
    outcome = await service.start(OLENA, None)
    assert outcome.payload == ""
    assert outcome.link is None
    c = outcome.customer
    assert (c.user_id, c.first_name, c.last_name, c.username, c.telegram_language) == (
        1001,
        "Олена",
        "Коваль",
        "olena",
        "uk",
    )
    assert c.consent is ConsentState.UNKNOWN
    assert c.consent_at is None
    assert c.language is None
    assert c.reachable is True
    assert c.created_at == clock.now()


async def test_start_again_refreshes_the_profile_but_keeps_the_rest(
    service: CustomerService, clock: ManualClock
) -> None:
    first = (await service.start(OLENA, None)).customer
    await service.grant_consent(1001, "/start")
    await service.set_language(1001, "en")
    await service.mark_unreachable(1001)
    assert (await service.get(1001)).reachable is False  # type: ignore[union-attr]
    clock.advance(timedelta(days=3))
    renamed = TelegramProfile(1001, "Олена", "Мельник", "olena_m", "ru")
    again = (await service.start(renamed, "promo")).customer
    assert (again.last_name, again.username, again.telegram_language) == ("Мельник", "olena_m", "ru")
    assert again.created_at == first.created_at
    assert again.consent is ConsentState.GRANTED
    assert again.language == "en"
    assert again.reachable is True  # writing to the bot again means they can be reached


async def test_start_with_a_source_tag(service: CustomerService) -> None:
    outcome = await service.start(OLENA, "instagram")
    assert outcome.payload == "instagram"
    assert outcome.link is None
    assert consent_source(outcome.payload) == "/start instagram"
    assert consent_source("") == "/start"


async def test_start_with_a_card_links_it(service: CustomerService, db: Database, clock: ManualClock) -> None:
    account = await accounts.create(db, clock.now(), card_code="ZERNO-1001", name="Олена")
    outcome = await service.start(OLENA, "card_zerno-1001")
    assert outcome.link is LinkResult.LINKED
    assert outcome.payload == "card_zerno-1001"
    linked = await accounts.get(db, account.id)
    assert linked is not None
    assert linked.user_id == 1001
    assert linked.linked_at == clock.now()
    # Scanning the same card again
    assert (await service.start(OLENA, "card_ZERNO-1001")).link is LinkResult.ALREADY_YOURS


async def test_start_with_an_unknown_card(service: CustomerService) -> None:
    outcome = await service.start(OLENA, "card_NOPE-1")
    assert outcome.link is LinkResult.NOT_FOUND
    assert await service.get(1001) is not None  # the customer is remembered all the same


# -- consent -----------------------------------------------------------------------------------------


async def test_consent_decisions_are_recorded_with_their_events(
    service: CustomerService, db: Database, clock: ManualClock, make_config
) -> None:  # type: ignore[no-untyped-def]
    service = CustomerService(db, clock, make_config(consent={"text_version": "2026-03"}))
    await service.start(OLENA, None)
    await service.decline_consent(1001, "/start")
    declined_at = clock.now()
    customer = await service.get(1001)
    assert customer is not None
    assert (customer.consent, customer.consent_at) == (ConsentState.DECLINED, declined_at)

    clock.advance(timedelta(hours=1))
    await service.grant_consent(1001, "/start card_X")
    assert (await service.get(1001)).consent is ConsentState.GRANTED  # type: ignore[union-attr]

    clock.advance(timedelta(hours=1))
    assert await service.withdraw_consent(1001) is True
    customer = await service.get(1001)
    assert customer is not None
    assert (customer.consent, customer.consent_at) == (ConsentState.WITHDRAWN, clock.now())

    history = await customers.consent_history(db, 1001)
    assert [(e.action, e.source, e.text_version) for e in history] == [
        (ConsentAction.DECLINED, "/start", "2026-03"),
        (ConsentAction.GRANTED, "/start card_X", "2026-03"),
        (ConsentAction.WITHDRAWN, "/stop", "2026-03"),
    ]
    assert [e.at for e in history] == [declined_at, declined_at + timedelta(hours=1), clock.now()]


async def test_withdrawing_without_an_opt_in_says_so_but_is_recorded(
    service: CustomerService, db: Database
) -> None:
    await service.start(OLENA, None)
    assert await service.withdraw_consent(1001) is False
    assert (await service.get(1001)).consent is ConsentState.WITHDRAWN  # type: ignore[union-attr]
    assert len(await customers.consent_history(db, 1001)) == 1


async def test_a_long_source_is_cut(service: CustomerService, db: Database) -> None:
    await service.start(OLENA, None)
    await service.grant_consent(1001, "/start " + "x" * 300)
    (event,) = await customers.consent_history(db, 1001)
    assert len(event.source) == 100


async def test_language_choice(service: CustomerService, db: Database) -> None:
    await service.start(OLENA, None)
    assert await customers.get_language(db, 1001) is None
    await service.set_language(1001, "en")
    assert await customers.get_language(db, 1001) == "en"


# -- linking a card ----------------------------------------------------------------------------------


@pytest.fixture
async def shop(db: Database, clock: ManualClock) -> dict[str, int]:
    """Three shop records nobody has linked yet."""
    a = await accounts.create(db, clock.now(), card_code="CARD-A", phone="+380501112233", name="Олена")
    b = await accounts.create(db, clock.now(), card_code="CARD-B", name="Ірина")
    c = await accounts.create(db, clock.now(), phone="+380671234567", name="Дмитро")
    return {"a": a.id, "b": b.id, "c": c.id}


async def test_link_card_cases(service: CustomerService, db: Database, shop: dict[str, int]) -> None:
    await service.start(OLENA, None)
    await service.start(DMYTRO, None)
    assert await service.link_card(1001, "CARD-NONE") is LinkResult.NOT_FOUND
    assert await service.link_card(1001, "CARD-A") is LinkResult.LINKED
    assert await service.link_card(1001, "CARD-A") is LinkResult.ALREADY_YOURS
    assert await service.link_card(1002, "CARD-A") is LinkResult.TAKEN
    assert await service.link_card(1001, "CARD-B") is LinkResult.HAS_OTHER_ACCOUNT
    # Nothing moved on the refusals.
    assert (await accounts.by_card(db, "CARD-A")).user_id == 1001  # type: ignore[union-attr]
    assert (await accounts.by_card(db, "CARD-B")).user_id is None  # type: ignore[union-attr]
    assert await service.link_card(1002, "CARD-B") is LinkResult.LINKED


# -- linking a phone ---------------------------------------------------------------------------------


async def test_someone_elses_contact_is_refused(service: CustomerService, shop: dict[str, int]) -> None:
    await service.start(OLENA, None)
    assert await service.link_phone(1001, "+380501112233", 2002, "Олена") is LinkResult.NOT_OWN_CONTACT
    assert await service.link_phone(1001, "+380501112233", None, "Олена") is LinkResult.NOT_OWN_CONTACT
    assert await service.link_phone(1001, "+380501112233", 1001, "Олена") is LinkResult.LINKED


async def test_an_invalid_phone_is_refused(service: CustomerService, db: Database) -> None:
    await service.start(OLENA, None)
    assert await service.link_phone(1001, "12", 1001, "Олена") is LinkResult.INVALID_PHONE
    assert await accounts.by_user(db, 1001) is None


@pytest.mark.parametrize("shared", ["+380501112233", "380501112233", "+38 (050) 111-22-33"])
async def test_a_phone_the_shop_knows_links_that_record(
    service: CustomerService, db: Database, shop: dict[str, int], shared: str
) -> None:
    await service.start(OLENA, None)
    assert await service.link_phone(1001, shared, 1001, "Олена Коваль") is LinkResult.LINKED
    account = await accounts.by_user(db, 1001)
    assert account is not None
    assert account.id == shop["a"]
    assert account.name == "Олена"  # the shop's record keeps its own name
    assert await service.link_phone(1001, shared, 1001, "Олена") is LinkResult.ALREADY_YOURS


async def test_a_phone_linked_to_someone_else_is_taken(
    service: CustomerService, shop: dict[str, int]
) -> None:
    await service.start(OLENA, None)
    await service.start(DMYTRO, None)
    assert await service.link_phone(1002, "+380671234567", 1002, "Дмитро") is LinkResult.LINKED
    # Olena's contact cannot carry Dmytro's number (Telegram vouches for the number of the sender),
    # but the same number arriving for another user is refused, not re-linked.
    assert await service.link_phone(1001, "+380671234567", 1001, "Олена") is LinkResult.TAKEN


async def test_a_new_phone_creates_a_linked_account(
    service: CustomerService, db: Database, clock: ManualClock
) -> None:
    await service.start(OLENA, None)
    assert await service.link_phone(1001, "+380931234567", 1001, "Олена Коваль") is LinkResult.LINKED
    account = await accounts.by_user(db, 1001)
    assert account is not None
    assert (account.phone, account.name, account.card_code) == ("+380931234567", "Олена Коваль", None)
    assert account.linked_at == clock.now()


async def test_a_card_linked_customer_gains_a_phone(
    service: CustomerService, db: Database, shop: dict[str, int]
) -> None:
    await service.start(OLENA, None)
    assert await service.link_card(1001, "CARD-B") is LinkResult.LINKED
    assert await service.link_phone(1001, "+380931234567", 1001, "Олена") is LinkResult.LINKED
    account = await accounts.by_user(db, 1001)
    assert account is not None
    assert (account.id, account.card_code, account.phone) == (shop["b"], "CARD-B", "+380931234567")
    # A second, different phone does not replace the first, nor create another account.
    assert await service.link_phone(1001, "+380961234567", 1001, "Олена") is LinkResult.HAS_OTHER_ACCOUNT
    assert (await accounts.by_user(db, 1001)).phone == "+380931234567"  # type: ignore[union-attr]


async def test_a_linked_customer_sharing_another_records_phone(
    service: CustomerService, db: Database, shop: dict[str, int]
) -> None:
    await service.start(OLENA, None)
    assert await service.link_card(1001, "CARD-B") is LinkResult.LINKED
    # The phone belongs to record C, nobody's yet: the two records are not merged silently.
    assert await service.link_phone(1001, "+380671234567", 1001, "Олена") is LinkResult.HAS_OTHER_ACCOUNT
    assert (await accounts.get(db, shop["c"])).user_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("shared", "expected"),
    [
        ("447700900123", "+447700900123"),  # Telegram sends the contact's own number without '+'
        ("+447700900123", "+447700900123"),
        ("79123456789", "+79123456789"),
        ("0931234567", "+380931234567"),  # written the shop's (UA) way
    ],
)
async def test_a_contact_number_is_read_as_international(
    service: CustomerService, db: Database, shared: str, expected: str
) -> None:
    await service.start(OLENA, None)
    assert await service.link_phone(1001, shared, 1001, "Emma") is LinkResult.LINKED
    assert (await accounts.by_user(db, 1001)).phone == expected  # type: ignore[union-attr]


# -- export and erasure ------------------------------------------------------------------------------


async def test_export_of_a_stranger_is_none(service: CustomerService) -> None:
    assert await service.export_data(999) is None


async def test_export_contains_everything_stored(
    service: CustomerService, db: Database, clock: ManualClock, shop: dict[str, int]
) -> None:
    await service.start(OLENA, "card_CARD-A")
    await service.grant_consent(1001, "/start card_CARD-A")
    await ledger.record_purchase(db, shop["a"], "till-1", 12_550, "UAH", clock.now(), clock.now())
    await ledger.append(
        db,
        shop["a"],
        LedgerKind.EARN,
        6,
        reason="purchase",
        actor="api",
        at=clock.now(),
        expires_at=clock.now() + timedelta(days=365),
        external_id="earn-till-1",
    )
    document = await service.export_data(1001)
    assert document is not None
    json.dumps(document)  # JSON-ready as it is
    assert document["shop"] == "Test Shop"
    assert document["exported_at"] == to_db(clock.now())
    assert document["customer"]["user_id"] == 1001
    assert document["customer"]["first_name"] == "Олена"
    assert document["customer"]["consent"] == "granted"
    assert document["customer"]["created_at"] == to_db(clock.now())
    assert [(e["action"], e["source"]) for e in document["consent_history"]] == [
        ("granted", "/start card_CARD-A")
    ]
    assert document["loyalty_account"]["card_code"] == "CARD-A"
    assert document["loyalty_account"]["phone"] == "+380501112233"
    assert [(p["external_id"], p["amount_minor"]) for p in document["purchases"]] == [("till-1", 12_550)]
    assert [(e["kind"], e["points"]) for e in document["points_ledger"]] == [("earn", 6)]


async def test_export_without_an_account(service: CustomerService) -> None:
    await service.start(OLENA, None)
    document = await service.export_data(1001)
    assert document is not None
    assert document["loyalty_account"] is None
    assert document["purchases"] == [] and document["points_ledger"] == []
    assert document["consent_history"] == []


async def test_erase_removes_the_person_and_keeps_the_books(
    service: CustomerService, db: Database, clock: ManualClock, shop: dict[str, int]
) -> None:
    await service.start(OLENA, "card_CARD-A")
    await service.grant_consent(1001, "/start")
    await service.withdraw_consent(1001)
    await ledger.append(db, shop["a"], LedgerKind.BONUS, 50, reason="welcome", actor="system", at=clock.now())
    await service.start(DMYTRO, None)  # someone else, untouched

    assert await service.erase(1001) is True

    assert await service.get(1001) is None
    assert await db.fetch_value("SELECT COUNT(*) FROM consent_events WHERE user_id = 1001") == 0
    account = await accounts.get(db, shop["a"])
    assert account is not None
    assert (account.user_id, account.linked_at, account.phone, account.name) == (None, None, None, None)
    assert account.card_code == "CARD-A"
    assert [e.points for e in await ledger.entries(db, shop["a"])] == [50]
    row = await db.fetch_one("SELECT at, consent_events, had_account FROM erasures")
    assert row is not None
    assert (row["at"], row["consent_events"], row["had_account"]) == (to_db(clock.now()), 2, 1)
    assert await service.get(1002) is not None
    assert await service.export_data(1001) is None
    # The card can be linked again, by whoever holds it now.
    await service.start(OLENA, None)
    assert await service.link_card(1001, "CARD-A") is LinkResult.LINKED


async def test_erase_takes_the_person_out_of_staff_commands_recorded_before(
    service: CustomerService, db: Database, clock: ManualClock, shop: dict[str, int]
) -> None:
    await service.start(OLENA, "card_CARD-A")  # the card's account has phone +380501112233
    await service.start(DMYTRO, None)
    for detail in [
        "1001",  # /customer 1001
        "0501112233",  # the phone as written locally
        "+380501112233 50",  # /points +380501112233 50
        "380501112233",  # without its "+"
        "10012 and 51001",  # other people's ids that contain theirs
        "@olena",
        "Олена Коваль",
        "1002",  # someone else: kept
        "Олена",  # a first name alone: other people's too
    ]:
        await audit.record(db, 7, "/customer", detail, clock.now())

    assert await service.erase(1001) is True

    details = [e.detail for e in await audit.latest(db, 20)][::-1]
    assert details == [
        "[erased]",
        "[erased]",
        "[erased] 50",
        "[erased]",
        "10012 and 51001",
        "@[erased]",
        "[erased]",
        "1002",
        "Олена",
    ]


def test_what_identifies_a_person_as_staff_would_type_it() -> None:
    texts = customers.identifying_texts(1001, "olena", "Олена", "Коваль", "+380501112233", "Олена К.")
    assert texts == [
        "+380501112233",
        "380501112233",
        "Олена Коваль",
        "0501112233",
        "Олена К.",
        "olena",
        "1001",
    ]
    # Nothing but the id when nothing else is known; no short username, no single name.
    assert customers.identifying_texts(5, "ab", "Li", None, None, "Li") == ["5"]


async def test_erase_without_an_account(service: CustomerService, db: Database) -> None:
    await service.start(OLENA, None)
    assert await service.erase(1001) is True
    row = await db.fetch_one("SELECT consent_events, had_account FROM erasures")
    assert row is not None
    assert (row["consent_events"], row["had_account"]) == (0, 0)


async def test_erasing_a_stranger_records_nothing(service: CustomerService, db: Database) -> None:
    assert await service.erase(4242) is False
    assert await db.fetch_value("SELECT COUNT(*) FROM erasures") == 0
    counts = await customers.counts(db)
    assert counts == {"customers": 0, "opted_in": 0, "reachable": 0, "linked": 0, "erased": 0}


async def test_counts(service: CustomerService, db: Database, shop: dict[str, int]) -> None:
    await service.start(OLENA, "card_CARD-A")
    await service.grant_consent(1001, "/start")
    await service.start(DMYTRO, None)
    await service.mark_unreachable(1002)
    await service.start(TelegramProfile(1003, "Emma", None, None, "en"), None)
    await service.erase(1003)
    assert await customers.counts(db) == {
        "customers": 2,
        "opted_in": 1,
        "reachable": 1,
        "linked": 1,
        "erased": 1,
    }
