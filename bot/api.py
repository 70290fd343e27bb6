"""The HTTP API for the shop's till or web shop: report purchases, read a customer's balance.

JSON in, JSON out, served inside `run` next to long polling when `[api] enabled = true`.

* Money is exact: `amount` and `price` are decimal strings ("125.50") or integers (125) in currency units,
  never JSON floats, converted to minor units with the shop currency's number of decimals.
* Every refused field is named with a dotted path, list indexes from 0: `customer.phone`, `items[2].price`.
* Reporting the same `purchase_id` again changes nothing and answers 200 "duplicate", so a till may retry
  a request whose answer it did not get.
* Every route except `/healthz` needs `Authorization: Bearer <token>`.

Handlers only read the request, call `LoyaltyService` and shape the answer; the rules live in the service.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

from aiohttp import hdrs, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from bot.clock import Clock
from bot.config import Config
from bot.models import LoyaltyAccount
from bot.rules.earning import parse_amount
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.services.loyalty import (
    BalanceView,
    LoyaltyError,
    LoyaltyService,
    PurchaseInput,
    PurchaseItem,
    PurchaseResult,
    PurchaseStatus,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_ITEMS = 1000
# 10^15 minor units is far beyond any till receipt and far inside SQLite's 64-bit integers.
MAX_AMOUNT_MINOR = 10**15
# How long stopping the API waits for requests under way (each is one short transaction).
SHUTDOWN_TIMEOUT_S = 10.0
ACTOR = "api"
SOURCE = "api"

LOYALTY_KEY = web.AppKey("loyalty", LoyaltyService)
CONFIG_KEY = web.AppKey("config", Config)
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock")
TOKEN_KEY = web.AppKey("token", bytes)

_PUBLIC_PATHS = frozenset({"/healthz"})
_PURCHASE_KEYS = ("purchase_id", "customer", "amount", "currency", "at", "items")
_CUSTOMER_KEYS = ("phone", "card")
_ITEM_KEYS = ("sku", "name", "qty", "price")
# ASCII digits only: str.isdigit() also accepts "²" and other digits Decimal cannot read.
_DECIMAL_TEXT = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")
_MONEY_FORM = 'must be a decimal string like "125.50" or an integer'

# English texts for the keys LoyaltyError carries (those are the bot's Fluent keys, for people).
_LOYALTY_MESSAGES = {
    "error-purchase-id": "must be 1 to 100 characters, not blank",
    "error-currency": "must be the shop currency, {expected}",
    "error-amount": "must not be negative",
    "error-time": "needs a time zone",
    "error-time-future": "is more than a day in the future",
    "error-customer-missing": "needs a phone or a card",
    "error-customer-unknown": "unknown customer",
    "error-card": "not a card code (3 to 40 letters, digits or dashes)",
    "error-phone": "not a phone number",
    "error-card-phone-mismatch": "the card and the phone belong to different customers",
}


class ApiError(Exception):
    """An answer other than success: turned into `{"error": {"field"?, "message"}}` by the middleware."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {field or ''}: {message}")
        self.status = status
        self.message = message
        self.field = field


def _invalid(field: str, message: str) -> NoReturn:
    raise ApiError(422, message, field)


# -- the application --------------------------------------------------------------------------------


def build_api_app(loyalty: LoyaltyService, config: Config, token: str, clock: Clock) -> web.Application:
    """The aiohttp application; `token` is the bearer secret (see `bot.config.require_api_token`)."""
    if not token:
        raise ValueError("the API needs a non-empty bearer token")
    app = web.Application(middlewares=[_errors, _bearer_auth], client_max_size=MAX_BODY_BYTES)
    app[LOYALTY_KEY] = loyalty
    app[CONFIG_KEY] = config
    app[CLOCK_KEY] = clock
    app[TOKEN_KEY] = token.encode("utf-8")
    app.router.add_post("/api/v1/purchases", post_purchase)
    app.router.add_get("/api/v1/customers/{ref}/balance", get_balance)
    app.router.add_get("/healthz", healthz)
    return app


async def start_api(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port (port 0: any free port, see `runner.addresses`); `await runner.cleanup()`
    stops it, letting requests under way finish."""
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log_class=_AccessLogger
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("API listening on %s", ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses))
    return runner


class _AccessLogger(AbstractAccessLogger):
    """One line a request naming the route, not the path: a balance path carries a phone number."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        resource = request.match_info.route.resource if isinstance(request, web.Request) else None
        route = resource.canonical if resource is not None else "(no route)"
        self.logger.info("%s %s %d %.1f ms", request.method, route, response.status, time * 1000)


def _error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    error: dict[str, str] = {"field": field, "message": message} if field else {"message": message}
    return web.json_response({"error": error}, status=status, headers=headers)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal as JSON, aiohttp's own (404 no such route, 405, 413) included."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error_response(exc.status, exc.message, exc.field, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = {"Allow": exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else None
        return _error_response(exc.status, (exc.reason or "error").lower(), headers=allow)
    except Exception:
        log.exception("API %s %s failed", request.method, request.path)
        return _error_response(500, "internal error")


@web.middleware
async def _bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything but the public paths needs the token, unknown paths too (no probing for routes)."""
    resource = request.match_info.route.resource
    if resource is None or resource.canonical not in _PUBLIC_PATHS:
        scheme, _, given = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        # surrogatepass: a header aiohttp could not decode still compares (and never matches).
        presented = given.strip().encode("utf-8", "surrogatepass")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented, request.app[TOKEN_KEY]):
            raise ApiError(401, "missing or invalid bearer token")
    return await handler(request)


# -- handlers ---------------------------------------------------------------------------------------


async def post_purchase(request: web.Request) -> web.Response:
    loyalty = request.app[LOYALTY_KEY]
    purchase = parse_purchase(await _json_object(request), loyalty.currency_digits)
    try:
        result = await loyalty.record_purchase(purchase, actor=ACTOR, source=SOURCE)
    except LoyaltyError as exc:
        _invalid(exc.field, _loyalty_message(exc))
    region = request.app[CONFIG_KEY].shop.phone_region
    view = await _view_after(loyalty, result, purchase, region)
    created = result.status is PurchaseStatus.CREATED
    return web.json_response(
        {
            "status": result.status.value,
            "purchase_id": purchase.purchase_id,
            "points_earned": result.points_earned,
            "bonus_points": result.bonus_points,
            "balance": view.points if view else None,
            # For a new purchase the tier comes from its own transaction, exact whatever else happens.
            "tier": result.tier_after.value if created else (view.tier.value if view else None),
        },
        status=201 if created else 200,
    )


async def get_balance(request: web.Request) -> web.Response:
    loyalty = request.app[LOYALTY_KEY]
    region = request.app[CONFIG_KEY].shop.phone_region
    account = await _find_customer(loyalty, request.match_info["ref"], region)
    if account is None:
        raise ApiError(404, "unknown customer")
    view = await loyalty.balance_for_account(account)
    expiry = view.next_expiry
    return web.json_response(
        {
            "points": view.points,
            "tier": view.tier.value,
            "next_expiry": {"points": expiry.points, "at": _iso(expiry.at)} if expiry else None,
            "purchases_12m": view.purchases_12m,
        }
    )


async def healthz(request: web.Request) -> web.Response:
    """A real read from the database: user 0 never exists (Telegram ids are positive)."""
    try:
        await request.app[LOYALTY_KEY].balance_for_user(0)
    except Exception:
        log.exception("API health check: the database cannot be read")
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


# -- reading the request ----------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object. JSON floats arrive as Decimal so that money fields can refuse them."""
    too_large = ApiError(413, "body larger than 1 MiB")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise too_large
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    try:
        data = json.loads(
            body.decode("utf-8"),
            parse_float=Decimal,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
    except _DuplicateKey as exc:
        raise ApiError(400, f"duplicate key {exc.key!r} in the JSON body") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "body is not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def parse_purchase(body: dict[str, Any], currency_digits: int) -> PurchaseInput:
    """A purchase report checked field by field; raises ApiError(422) naming the first bad field."""
    _known_keys(body, _PURCHASE_KEYS, "")
    purchase_id = _text(body.get("purchase_id"), "purchase_id", max_length=100)
    phone, card = _customer(body.get("customer"))
    amount = _money(body.get("amount"), "amount", currency_digits)
    currency = _text(body.get("currency"), "currency", max_length=16)
    at = _moment(body.get("at"), "at")
    items = _items(body.get("items"), currency_digits)
    return PurchaseInput(
        purchase_id=purchase_id,
        amount_minor=amount,
        currency=currency,
        at=at,
        phone=phone,
        card=card,
        items=items,
    )


def _known_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in obj:
        if key not in allowed:
            _invalid(f"{where}.{key}" if where else key, f"unknown key (expected {', '.join(allowed)})")


def _text(value: object, field: str, *, max_length: int) -> str:
    if value is None:
        _invalid(field, "required")
    if not isinstance(value, str):
        _invalid(field, "must be a string")
    if not value.strip():
        _invalid(field, "must not be blank")
    if len(value) > max_length:
        _invalid(field, f"longer than {max_length} characters")
    return value


def _customer(value: object) -> tuple[str | None, str | None]:
    if value is None:
        _invalid("customer", "required: an object with phone and/or card")
    if not isinstance(value, dict):
        _invalid("customer", "must be an object with phone and/or card")
    _known_keys(value, _CUSTOMER_KEYS, "customer")
    phone = value.get("phone")
    card = value.get("card")
    if phone is None and card is None:
        _invalid("customer", "needs a phone or a card")
    return (
        None if phone is None else _text(phone, "customer.phone", max_length=40),
        None if card is None else _text(card, "customer.card", max_length=40),
    )


def _money(value: object, field: str, currency_digits: int) -> int:
    """Currency units as text or an integer → minor units."""
    if value is None:
        _invalid(field, "required")
    if isinstance(value, Decimal):
        _invalid(field, f"{_MONEY_FORM}, not a JSON float")
    if isinstance(value, bool) or not isinstance(value, int | str):
        _invalid(field, _MONEY_FORM)
    if isinstance(value, int):
        minor = int(value * 10**currency_digits)
    else:
        text = value.strip()
        if text.startswith("-") and _DECIMAL_TEXT.fullmatch(text[1:]):
            _invalid(field, "must not be negative")
        if not _DECIMAL_TEXT.fullmatch(text):
            _invalid(field, _MONEY_FORM)
        parsed = parse_amount(text, currency_digits)
        if parsed is None:
            _invalid(field, f"at most {currency_digits} decimal places")
        minor = parsed
    if minor < 0:
        _invalid(field, "must not be negative")
    if minor > MAX_AMOUNT_MINOR:
        _invalid(field, "too large")
    return minor


def _quantity(value: object, field: str) -> Decimal:
    if value is None:
        _invalid(field, "required")
    if isinstance(value, Decimal):
        _invalid(field, 'must be a decimal string like "1.5" or an integer, not a JSON float')
    if isinstance(value, bool) or not isinstance(value, int | str):
        _invalid(field, 'must be a decimal string like "1.5" or an integer')
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value.strip()):
        _invalid(field, 'must be a positive decimal like "1.5"')
    qty = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    if qty <= 0:
        _invalid(field, "must be positive")
    return qty


def _moment(value: object, field: str) -> datetime:
    if value is None:
        _invalid(field, "required")
    if not isinstance(value, str):
        _invalid(field, "must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _invalid(field, "not an ISO-8601 date and time")
    if parsed.utcoffset() is None:
        _invalid(field, "needs a time zone, e.g. 2026-03-10T11:00:00+02:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        _invalid(field, "out of range")


def _items(value: object, currency_digits: int) -> tuple[PurchaseItem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _invalid("items", "must be a list")
    if len(value) > MAX_ITEMS:
        _invalid("items", f"at most {MAX_ITEMS} lines")
    items: list[PurchaseItem] = []
    for index, raw in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(raw, dict):
            _invalid(where, "must be an object with sku, name, qty, price")
        _known_keys(raw, _ITEM_KEYS, where)
        items.append(
            PurchaseItem(
                sku=_text(raw.get("sku"), f"{where}.sku", max_length=100),
                name=_text(raw.get("name"), f"{where}.name", max_length=200),
                qty=_quantity(raw.get("qty"), f"{where}.qty"),
                price_minor=_money(raw.get("price"), f"{where}.price", currency_digits),
            )
        )
    return tuple(items)


def _loyalty_message(exc: LoyaltyError) -> str:
    template = _LOYALTY_MESSAGES.get(exc.key)
    if template is None:
        return exc.key
    return template.format(**exc.args_for_text)


# -- finding the customer ---------------------------------------------------------------------------


async def _find_customer(loyalty: LoyaltyService, ref: str, region: str) -> LoyaltyAccount | None:
    """`ref` is a phone in E.164 (`+380…`) or a card code, nothing else (no Telegram ids, no @names)."""
    ref = ref.strip()
    if ref.startswith("+"):
        phone = normalize_phone(ref, region)
        if phone is None:
            _invalid("ref", "not a phone number in E.164 form (+380501234567) or a card code")
        account = await loyalty.resolve_account(phone)
        return account if account is not None and account.phone == phone else None
    code = normalize_card_code(ref)
    if code is None:
        _invalid("ref", "not a phone number in E.164 form (+380501234567) or a card code")
    # resolve_account also reads digits as a Telegram id or a phone: accept only a card match.
    account = await loyalty.resolve_account(code)
    return account if account is not None and account.card_code == code else None


async def _view_after(
    loyalty: LoyaltyService, result: PurchaseResult, purchase: PurchaseInput, region: str
) -> BalanceView | None:
    """The balance of the account the purchase went to (for a duplicate: the first report's account).

    The service looks accounts up by user, phone or card, not by id, so each is tried and checked.
    """
    if result.user_id is not None:
        view = await loyalty.balance_for_user(result.user_id)
        if view is not None and view.account.id == result.account_id:
            return view
    queries = [
        normalize_phone(purchase.phone, region) if purchase.phone else None,
        normalize_card_code(purchase.card) if purchase.card else None,
    ]
    for query in queries:
        account = await loyalty.resolve_account(query) if query else None
        if account is not None and account.id == result.account_id:
            return await loyalty.balance_for_account(account)
    log.warning("API: no balance for account %d after purchase %r", result.account_id, purchase.purchase_id)
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
