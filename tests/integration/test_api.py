"""bot.api over real HTTP: a migrated SQLite file under tmp_path, aiohttp's test server and client.

Default rules: 5 % cashback rounded down, points expire after 12 months, currency UAH (2 decimals).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.api import build_api_app, start_api
from bot.app import open_application
from bot.clock import ManualClock
from bot.config import Config
from bot.telegram.deps import WorkflowData

TOKEN = "till-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PURCHASES = "/api/v1/purchases"
PHONE = "+380501234567"
AT = "2026-03-10T10:30:00+02:00"  # 08:30 UTC, half an hour before the test clock's now


def balance_url(ref: str) -> str:
    return f"/api/v1/customers/{ref}/balance"


def purchase(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purchase_id": "R-1",
        "customer": {"phone": PHONE},
        "amount": "125.50",
        "currency": "UAH",
        "at": AT,
    }
    body.update(changes)
    return body


@dataclass
class Api:
    client: TestClient[Any, Any]
    data: WorkflowData

    async def post(self, body: object, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        raw = body if isinstance(body, str | bytes) else json.dumps(body)
        async with self.client.post(PURCHASES, data=raw, headers=AUTH if headers is None else headers) as r:
            return r.status, await r.json()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.client.get(path, headers=AUTH if headers is None else headers) as r:
            return r.status, await r.json()

    async def count(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int(await self.data["db"].fetch_value(sql, params))


async def _api(config: Config, clock: ManualClock) -> AsyncIterator[Api]:
    async with open_application(config, clock) as data:
        app = build_api_app(data["loyalty"], data["config"], TOKEN, data["clock"])
        async with TestClient(TestServer(app)) as client:
            yield Api(client, data)


@pytest.fixture
async def api(config: Config, clock: ManualClock) -> AsyncIterator[Api]:
    async for value in _api(config, clock):
        yield value


# -- purchases --------------------------------------------------------------------------------------


async def test_purchase_created_then_duplicate_changes_nothing(api: Api) -> None:
    status, body = await api.post(purchase())
    assert status == 201
    assert body == {
        "status": "created",
        "purchase_id": "R-1",
        "points_earned": 6,  # 125.50 × 5 % = 6.275, rounded down
        "bonus_points": 0,
        "balance": 6,
        "tier": "new",
    }

    status, body = await api.post(purchase())
    assert status == 200
    assert body == {
        "status": "duplicate",
        "purchase_id": "R-1",
        "points_earned": 0,
        "bonus_points": 0,
        "balance": 6,
        "tier": "new",
    }
    assert await api.count("SELECT COUNT(*) FROM points_ledger WHERE kind = 'earn'") == 1
    assert await api.count("SELECT COUNT(*) FROM purchases") == 1
    assert await api.count("SELECT COUNT(*) FROM purchases WHERE source = 'api'") == 1


async def test_same_purchase_posted_concurrently_is_recorded_once(api: Api) -> None:
    answers = await asyncio.gather(*(api.post(purchase()) for _ in range(10)))
    assert sorted(status for status, _ in answers) == [200] * 9 + [201]
    assert {body["balance"] for _, body in answers} == {6}
    assert await api.count("SELECT COUNT(*) FROM points_ledger") == 1


async def test_integer_amount_and_items_are_stored_exactly(api: Api) -> None:
    items = [
        {"sku": "PEP-100", "name": "Black pepper", "qty": "0.250", "price": "80.00"},
        {"sku": "BAG", "name": "Bag", "qty": 2, "price": 5},
    ]
    status, body = await api.post(purchase(amount=125, items=items))
    assert status == 201
    assert body["points_earned"] == 6  # 125 × 5 % = 6.25
    assert await api.count("SELECT amount_minor FROM purchases") == 12500
    rows = await api.data["db"].fetch_all(
        "SELECT line, sku, name, qty, price_minor FROM purchase_items ORDER BY line"
    )
    assert [tuple(r) for r in rows] == [
        (1, "PEP-100", "Black pepper", "0.250", 8000),
        (2, "BAG", "Bag", "2", 500),
    ]


async def test_unknown_phone_creates_an_account_seen_by_the_balance_endpoint(api: Api) -> None:
    status, _ = await api.get(balance_url("%2B380501234567"))
    assert status == 404

    # A national number is read with the shop's region and stored in E.164.
    status, body = await api.post(purchase(customer={"phone": "050 123 45 67"}))
    assert (status, body["balance"]) == (201, 6)
    status, second = await api.post(purchase(purchase_id="R-2", amount="40"))
    assert (status, second["points_earned"], second["balance"]) == (201, 2, 8)
    assert await api.count("SELECT COUNT(*) FROM loyalty_accounts") == 1

    earned_at = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)
    expected = {
        "points": 8,
        "tier": "new",
        "next_expiry": {"points": 8, "at": earned_at.replace(year=2027).isoformat()},
        "purchases_12m": 2,
    }
    assert await api.get(balance_url("%2B380501234567")) == (200, expected)
    assert await api.get(balance_url("+380501234567")) == (200, expected)


async def test_card_purchase_and_balance_by_card(api: Api) -> None:
    status, body = await api.post(purchase(customer={"card": "abc-123"}, amount="1000"))
    assert (status, body["points_earned"]) == (201, 50)
    status, view = await api.get(balance_url("ABC-123"))
    assert (status, view["points"], view["purchases_12m"]) == (200, 50, 1)
    status, view = await api.get(balance_url("abc-123"))
    assert (status, view["points"]) == (200, 50)
    assert (await api.get(balance_url("XYZ-999")))[0] == 404


async def test_card_and_phone_of_different_customers_are_refused(api: Api) -> None:
    assert (await api.post(purchase(purchase_id="A", customer={"card": "CARD-1"})))[0] == 201
    assert (await api.post(purchase(purchase_id="B", customer={"phone": PHONE})))[0] == 201

    status, body = await api.post(purchase(purchase_id="C", customer={"card": "CARD-1", "phone": PHONE}))
    assert status == 422
    assert body["error"]["field"] == "customer"
    assert "different customers" in body["error"]["message"]
    assert await api.count("SELECT COUNT(*) FROM purchases") == 2


async def test_first_purchase_bonus_is_reported(
    make_config: Callable[..., Config], clock: ManualClock
) -> None:
    config = make_config(loyalty={"first_purchase_bonus": 10})
    async for api in _api(config, clock):
        status, body = await api.post(purchase())
        assert (status, body["points_earned"], body["bonus_points"], body["balance"]) == (201, 6, 10, 16)
        status, body = await api.post(purchase(purchase_id="R-2"))
        assert (status, body["bonus_points"], body["balance"]) == (201, 0, 22)


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({}, PURCHASES),
        ({"Authorization": "Bearer wrong-token-0123456789"}, PURCHASES),
        ({"Authorization": f"Basic {TOKEN}"}, PURCHASES),
        ({"Authorization": f"Bearer {TOKEN}x"}, PURCHASES),
        ({"Authorization": "Bearer"}, PURCHASES),
        ({}, balance_url("%2B380501234567")),
        ({"Authorization": "Bearer nope"}, balance_url("CARD-1")),
        ({}, "/api/v1/nowhere"),
    ],
)
async def test_missing_or_wrong_token_is_401(api: Api, headers: dict[str, str], path: str) -> None:
    method = api.client.post if path == PURCHASES else api.client.get
    async with method(path, data=json.dumps(purchase()), headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        body = await response.json()
    assert body == {"error": {"message": "missing or invalid bearer token"}}
    assert await api.count("SELECT COUNT(*) FROM purchases") == 0


def _without(key: str) -> dict[str, Any]:
    body = purchase()
    del body[key]
    return body


LINE = {"sku": "S", "name": "Thing", "qty": "1", "price": "10.00"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"purchase_id": "R-1", "customer": {"phone": "+380501234567"}, "amount": 125.5, '
            '"currency": "UAH", "at": "2026-03-10T10:30:00+02:00"}',
            "amount",
        ),
        (
            '{"purchase_id": "R-1", "customer": {"phone": "+380501234567"}, "amount": 125.0, '
            '"currency": "UAH", "at": "2026-03-10T10:30:00+02:00"}',
            "amount",
        ),
        (purchase(amount="-1.00"), "amount"),
        (purchase(amount=-1), "amount"),
        (purchase(amount="12.345"), "amount"),
        (purchase(amount="1e3"), "amount"),
        (purchase(amount="12,50"), "amount"),
        (purchase(amount="²"), "amount"),
        (purchase(amount=True), "amount"),
        (purchase(amount=None), "amount"),
        (purchase(amount="10000000000000000"), "amount"),
        (_without("amount"), "amount"),
        (purchase(currency="USD"), "currency"),
        (purchase(currency=980), "currency"),
        (purchase(at="2026-03-10T10:30:00"), "at"),
        (purchase(at="2026-03-10"), "at"),
        (purchase(at="yesterday"), "at"),
        (purchase(at="2026-03-12T10:30:00+02:00"), "at"),  # two days ahead of the clock
        (_without("customer"), "customer"),
        (purchase(customer={}), "customer"),
        (purchase(customer="+380501234567"), "customer"),
        (purchase(customer={"phone": "12"}), "customer.phone"),
        (purchase(customer={"phone": 380501234567}), "customer.phone"),
        (purchase(customer={"card": "no spaces allowed"}), "customer.card"),
        (purchase(customer={"phone": PHONE, "email": "a@b.c"}), "customer.email"),
        (purchase(purchase_id=""), "purchase_id"),
        (purchase(purchase_id="x" * 101), "purchase_id"),
        (purchase(purchase_id=17), "purchase_id"),
        (_without("purchase_id"), "purchase_id"),
        (purchase(items={"sku": "S"}), "items"),
        (purchase(items=[LINE, "S"]), "items[1]"),
        (purchase(items=[LINE, {**LINE, "qty": "0"}]), "items[1].qty"),
        (purchase(items=[LINE, {**LINE, "qty": "-1"}]), "items[1].qty"),
        (purchase(items=[LINE, {**LINE, "qty": "abc"}]), "items[1].qty"),
        (purchase(items=[{**LINE, "qty": 0}]), "items[0].qty"),
        (
            '{"purchase_id": "R-1", "customer": {"phone": "+380501234567"}, "amount": "10", '
            '"currency": "UAH", "at": "2026-03-10T10:30:00+02:00", '
            '"items": [{"sku": "S", "name": "T", "qty": 1.5, "price": "10"}]}',
            "items[0].qty",
        ),
        (purchase(items=[LINE, LINE, {**LINE, "price": "-1"}]), "items[2].price"),
        (purchase(items=[{**LINE, "price": "1.001"}]), "items[0].price"),
        (purchase(items=[{k: v for k, v in LINE.items() if k != "sku"}]), "items[0].sku"),
        (purchase(items=[{**LINE, "colour": "red"}]), "items[0].colour"),
        (purchase(note="hello"), "note"),
    ],
)
async def test_bad_field_is_422_naming_it(api: Api, body: object, field: str) -> None:
    status, answer = await api.post(body)
    assert status == 422, answer
    assert answer["error"]["field"] == field
    assert answer["error"]["message"]
    assert await api.count("SELECT COUNT(*) FROM purchases") == 0
    assert await api.count("SELECT COUNT(*) FROM loyalty_accounts") == 0


async def test_float_amount_message_says_why(api: Api) -> None:
    status, answer = await api.post(json.dumps(purchase()).replace('"125.50"', "125.5"))
    assert status == 422
    assert answer == {
        "error": {
            "field": "amount",
            "message": 'must be a decimal string like "125.50" or an integer, not a JSON float',
        }
    }
    status, answer = await api.post(purchase(currency="EUR"))
    assert answer["error"] == {"field": "currency", "message": "must be the shop currency, UAH"}


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"",
        b'["a", "list"]',
        b'"a string"',
        b'{"amount": NaN}',
        b'{"amount": "1", "amount": "2"}',
        b'{"purchase_id": "\xff"}',
        b"[" * 100_000,
    ],
)
async def test_body_that_is_not_a_json_object_is_400(api: Api, raw: bytes) -> None:
    status, answer = await api.post(raw)
    assert status == 400
    assert answer["error"]["message"]
    assert "field" not in answer["error"]


async def test_body_over_one_mebibyte_is_413(api: Api) -> None:
    big = json.dumps(purchase(purchase_id="x" * (1024 * 1024))).encode()
    async with api.client.post(PURCHASES, data=io.BytesIO(big), headers=AUTH) as response:
        assert response.status == 413
        assert await response.json() == {"error": {"message": "body larger than 1 MiB"}}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(20):
            yield b" " * 65536

    async with api.client.post(PURCHASES, data=chunks(), headers=AUTH) as response:
        assert response.status == 413
    assert await api.count("SELECT COUNT(*) FROM purchases") == 0


# -- balance, health, routes ------------------------------------------------------------------------


async def test_balance_of_unknown_customer_is_404(api: Api) -> None:
    assert await api.get(balance_url("%2B380671112233")) == (404, {"error": {"message": "unknown customer"}})
    assert (await api.get(balance_url("NO-SUCH-CARD")))[0] == 404


async def test_balance_ref_that_is_neither_phone_nor_card_is_422(api: Api) -> None:
    status, answer = await api.get(balance_url("%2B12"))
    assert (status, answer["error"]["field"]) == (422, "ref")
    status, answer = await api.get(balance_url("not%20a%20card"))
    assert (status, answer["error"]["field"]) == (422, "ref")


async def test_balance_by_card_ignores_telegram_ids_and_phones(api: Api) -> None:
    """resolve_account reads digits as a Telegram id first: the API must not answer with that account."""
    stamp = "2026-01-01T00:00:00+00:00"
    async with api.data["db"].transaction() as tx:
        await tx.execute(
            "INSERT INTO customers (user_id, created_at, updated_at) VALUES (12345678, ?, ?)", (stamp, stamp)
        )
        await tx.execute(
            "INSERT INTO loyalty_accounts (card_code, user_id, linked_at, created_at) "
            "VALUES ('OTHER', 12345678, ?, ?)",
            (stamp, stamp),
        )
    assert await api.data["loyalty"].resolve_account("12345678") is not None  # the trap is real
    assert (await api.get(balance_url("12345678")))[0] == 404


async def test_expiry_moves_with_the_clock(api: Api, clock: ManualClock) -> None:
    await api.post(purchase())
    clock.advance(timedelta(days=400))
    await api.data["loyalty"].expire_due_points()
    status, view = await api.get(balance_url("%2B380501234567"))
    assert (status, view["points"], view["next_expiry"], view["purchases_12m"]) == (200, 0, None, 0)


async def test_healthz_needs_no_token(api: Api) -> None:
    assert await api.get("/healthz", headers={}) == (200, {"status": "ok"})


async def test_unknown_route_and_wrong_method_answer_json(api: Api) -> None:
    assert await api.get("/api/v1/nowhere") == (404, {"error": {"message": "not found"}})
    async with api.client.get(PURCHASES, headers=AUTH) as response:
        assert response.status == 405
        assert "POST" in response.headers["Allow"]
        assert await response.json() == {"error": {"message": "method not allowed"}}


async def test_empty_token_is_refused(api: Api) -> None:
    data = api.data
    with pytest.raises(ValueError, match="token"):
        build_api_app(data["loyalty"], data["config"], "", data["clock"])


async def test_start_api_serves_on_a_free_port_and_stops(
    config: Config, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with open_application(config, clock) as data:
        app = build_api_app(data["loyalty"], data["config"], TOKEN, data["clock"])
        runner = await start_api(app, "127.0.0.1", 0)
        try:
            host, port = runner.addresses[0][:2]
            async with aiohttp.ClientSession(f"http://{host}:{port}") as session:
                async with session.get("/healthz") as response:
                    assert (response.status, await response.json()) == (200, {"status": "ok"})
                async with session.post(PURCHASES, json=purchase(), headers=AUTH) as response:
                    assert response.status == 201
                async with session.get(balance_url("%2B380501234567"), headers=AUTH) as response:
                    assert response.status == 200
        finally:
            await runner.cleanup()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/healthz"):
                pass
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert access[-1].startswith("GET /api/v1/customers/{ref}/balance 200 ")
    assert not any("380501234567" in line for line in access)  # no phone numbers in the logs
