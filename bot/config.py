"""Typed configuration read once from TOML at the edge; the rest of the code trusts it.

Every problem is reported as one line naming the key, e.g. ``[shop] timezone: unknown time zone 'Mars/Base'``.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import phonenumbers
from babel.numbers import is_currency
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot import SUPPORTED_LANGUAGES
from bot.clock import zone_named

TELEGRAM_API_BASE = "https://api.telegram.org"
TOKEN_ENV = "BOT_TOKEN"

Language = Literal["ru", "uk", "en"]
TelegramId = Annotated[int, Field(gt=0)]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, key and problem."""


class _Section(BaseModel):
    # A misspelt key must not be silently ignored: it would leave a default the owner thinks they changed.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TelegramConfig(_Section):
    token: str = ""
    api_base: str = TELEGRAM_API_BASE
    polling_timeout: int = Field(default=30, ge=1, le=50)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class DatabaseConfig(_Section):
    path: str = "retention.sqlite3"
    busy_timeout_ms: int = Field(default=5000, ge=0)


class ShopConfig(_Section):
    name: str = "Our shop"
    timezone: str = "Europe/Kyiv"
    currency: str = "UAH"
    default_language: Language = "uk"
    # Region used to read phone numbers written without a country code (ISO 3166 alpha-2).
    phone_region: str = "UA"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if zone_named(value) is None:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/Kyiv')")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        # babel's get_currency_name() returns an unknown code unchanged instead of raising: ask the
        # list of ISO 4217 codes babel knows.
        if len(value) != 3 or not value.isupper() or not is_currency(value):
            raise ValueError(f"unknown currency {value!r} (use an ISO 4217 code like 'UAH')")
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        # Only regions the phone-number library knows can read numbers written without a country code.
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (use an ISO 3166 code like 'UA')")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class StaffConfig(_Section):
    # Numeric Telegram user ids only: usernames can be changed or taken over, ids cannot.
    owners: list[TelegramId] = Field(default_factory=list)
    staff: list[TelegramId] = Field(default_factory=list)

    def is_staff(self, user_id: int) -> bool:
        return user_id in self.owners or user_id in self.staff

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.owners

    @property
    def everyone(self) -> list[int]:
        return sorted(set(self.owners) | set(self.staff))


class ConsentConfig(_Section):
    # Recorded with every consent; bump it whenever the consent wording in templates/*/bot.ftl changes.
    text_version: str = Field(default="1", min_length=1)


class MarketingConfig(_Section):
    # Promised to customers in the consent text and enforced by the nudge engine.
    max_per_7_days: int = Field(default=1, ge=0)
    max_per_30_days: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _month_holds_week(self) -> MarketingConfig:
        if self.max_per_30_days < self.max_per_7_days:
            raise ValueError("max_per_30_days must be at least max_per_7_days")
        return self


def _exact_decimal(value: object) -> Decimal:
    # Money rules are exact: a TOML float (0.1 is not 0.1) is refused; write "2.5" or 5.
    if isinstance(value, bool | float):
        raise ValueError(f'write it as a string or a whole number, e.g. "2.5" (got {value!r})')
    if isinstance(value, int | str):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    if isinstance(value, Decimal):
        return value
    raise ValueError(f"not a number: {value!r}")


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]


class LoyaltyConfig(_Section):
    # Tiers are earned by activity over the last 12 months.
    tier_basis: Literal["purchases", "spend"] = "purchases"
    # Thresholds: a count of purchases, or spend in whole currency units, depending on tier_basis.
    regular_from: int = Field(default=3, ge=1)
    loyal_from: int = Field(default=10, ge=1)
    points_expire_months: int = Field(default=12, ge=1)
    # Points earned per purchase: this percent of the amount, one point per currency unit.
    cashback_percent: ExactDecimal = Decimal(5)
    # How a fractional number of points is rounded: "down", "half_up" or "up".
    rounding: Literal["down", "half_up", "up"] = "down"
    first_purchase_bonus: int = Field(default=0, ge=0)
    # Paid once to both sides when an invited friend makes their first purchase.
    referral_bonus: int = Field(default=0, ge=0)
    birthday_bonus: int = Field(default=0, ge=0)

    @field_validator("cashback_percent")
    @classmethod
    def _percent(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or not Decimal(0) <= value <= Decimal(100):
            raise ValueError("must be between 0 and 100")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LoyaltyConfig:
        if self.loyal_from <= self.regular_from:
            raise ValueError("loyal_from must be greater than regular_from")
        return self


class ApiConfig(_Section):
    """The HTTP API for the shop's till or web shop, served inside `run`; off unless enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Name of the environment variable holding the bearer token the till sends.
    token_env: str = Field(default="RETENTION_API_TOKEN", min_length=1)


TriggerKind = Literal[
    "opted_in",
    "days_after_first_purchase",
    "segment_entered",
    "late_by_rhythm",
    "birthday",
    "points_expiring",
    "restock",
    "days_after_purchase",
]
SegmentName = Literal["new", "active", "at_risk", "lapsed", "lost"]
_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class CouponConfig(_Section):
    kind: Literal["percent", "amount"]
    # percent: 1–100; amount: whole currency units.
    value: int = Field(gt=0)
    valid_days: int = Field(default=14, ge=1)

    @model_validator(mode="after")
    def _sane_percent(self) -> CouponConfig:
        if self.kind == "percent" and self.value > 100:
            raise ValueError("a percent coupon cannot exceed 100")
        return self


class StepConfig(_Section):
    template: str = Field(pattern=r"^[a-z0-9_]+$")
    # Days after the previous step was sent (the first step: after the trigger fired).
    delay_days: int = Field(default=0, ge=0)
    coupon: bool = False
    # A survey under the message: "leave" (why did you leave?) or "nps" (0–10 recommendation).
    survey: Literal["leave", "nps"] | None = None


class RuleConfig(_Section):
    name: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    enabled: bool = True
    trigger: TriggerKind
    # days_after_first_purchase: N days; points_expiring: within N days.
    days: int = Field(default=0, ge=0)
    segment: SegmentName | None = None
    steps: list[StepConfig] = Field(min_length=1)
    coupon: CouponConfig | None = None
    # No message of this rule to the same customer again for this long after its last step.
    cooldown_days: int = Field(default=30, ge=0)
    # Higher wins when several rules are due for one customer at once.
    priority: int = 0
    # Share of eligible customers held out (recorded, not sent) to measure what the rule changes.
    holdout_percent: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _trigger_needs(self) -> RuleConfig:
        if self.trigger == "segment_entered" and self.segment is None:
            raise ValueError("trigger 'segment_entered' needs segment = \"lapsed\" (or another segment)")
        if (
            self.trigger in ("days_after_first_purchase", "days_after_purchase", "points_expiring")
            and self.days <= 0
        ):
            raise ValueError(f"trigger {self.trigger!r} needs days = N (more than 0)")
        if any(step.coupon for step in self.steps) and self.coupon is None:
            raise ValueError("a step has coupon = true but the rule has no [coupon]")
        return self


class SegmentsConfig(_Section):
    """Days since the last purchase; set them for the business (cafés ~a month, clothes a season)."""

    new_days: int = Field(default=30, ge=1)
    at_risk_days: int = Field(default=21, ge=1)
    lapsed_days: int = Field(default=35, ge=1)
    lost_days: int = Field(default=180, ge=1)
    # With at least late_min_purchases purchases, a customer is late when the days since the last
    # purchase exceed late_multiple times their own median gap between purchases.
    late_multiple: ExactDecimal = Decimal(2)
    late_min_purchases: int = Field(default=3, ge=3)

    @model_validator(mode="after")
    def _ordered(self) -> SegmentsConfig:
        if not self.at_risk_days < self.lapsed_days < self.lost_days:
            raise ValueError("need at_risk_days < lapsed_days < lost_days")
        if self.late_multiple <= 1:
            raise ValueError("late_multiple must be more than 1")
        return self


def _default_rules() -> list[RuleConfig]:
    """The seed guidance: thanks and a coupon, then useful information, staged win-back, occasions."""
    raw: list[dict[str, Any]] = [
        {
            "name": "welcome",
            "trigger": "opted_in",
            "priority": 100,
            "cooldown_days": 36500,
            "coupon": {"kind": "percent", "value": 10, "valid_days": 14},
            "steps": [{"template": "welcome", "coupon": True}],
        },
        {
            "name": "first_purchase_tip",
            "trigger": "days_after_first_purchase",
            "days": 3,
            "priority": 40,
            "cooldown_days": 36500,
            "steps": [{"template": "tip"}],
        },
        {
            "name": "win_back",
            "trigger": "segment_entered",
            "segment": "lapsed",
            "priority": 80,
            "cooldown_days": 180,
            "coupon": {"kind": "percent", "value": 15, "valid_days": 14},
            "steps": [
                {"template": "win_back_offer", "coupon": True},
                {"template": "win_back_news", "delay_days": 14},
                {"template": "win_back_survey", "delay_days": 14, "survey": "leave"},
            ],
        },
        {
            "name": "birthday",
            "trigger": "birthday",
            "priority": 90,
            "cooldown_days": 300,
            "coupon": {"kind": "percent", "value": 20, "valid_days": 7},
            "steps": [{"template": "birthday", "coupon": True}],
        },
        {
            "name": "points_expiring",
            "trigger": "points_expiring",
            "days": 14,
            "priority": 70,
            "cooldown_days": 20,
            "steps": [{"template": "points_expiring"}],
        },
        {
            "name": "restock",
            "trigger": "restock",
            "priority": 60,
            "cooldown_days": 14,
            "steps": [{"template": "restock"}],
        },
        {
            "name": "late",
            "trigger": "late_by_rhythm",
            "priority": 50,
            "cooldown_days": 30,
            "steps": [{"template": "miss_you"}],
        },
        {
            "name": "nps",
            "trigger": "days_after_purchase",
            "days": 3,
            "priority": 30,
            "cooldown_days": 90,
            "steps": [{"template": "nps", "survey": "nps"}],
        },
    ]
    return [RuleConfig.model_validate(rule) for rule in raw]


class NudgesConfig(_Section):
    enabled: bool = True
    # Quiet hours in the customer's time zone (the shop's unless known): due messages wait for the end.
    quiet_start: str = Field(default="21:00", pattern=_CLOCK_TIME)
    quiet_end: str = Field(default="10:00", pattern=_CLOCK_TIME)
    holdout_percent: int = Field(default=10, ge=0, le=100)
    plan_every_minutes: int = Field(default=15, ge=1)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    rules: list[RuleConfig] = Field(default_factory=_default_rules)

    @model_validator(mode="after")
    def _unique_names(self) -> NudgesConfig:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique: {', '.join(duplicates)}")
        return self


# Telegram's free limit for a bot's messages in all; paid broadcasts go up to 1 000 a second.
FREE_MESSAGES_PER_SECOND = 30


class DeliveryConfig(_Section):
    # Telegram allows about 30 messages a second per bot (more with paid broadcasts) and 1 per chat.
    messages_per_second: int = Field(default=30, ge=1, le=1000)
    # Telegram's paid broadcasts: each nudge is sent with allow_paid_broadcast and costs Stars.
    paid_broadcast: bool = False
    per_chat_interval_seconds: int = Field(default=1, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    senders: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _within_telegram_limit(self) -> DeliveryConfig:
        if self.messages_per_second > FREE_MESSAGES_PER_SECOND and not self.paid_broadcast:
            raise ValueError(
                f"messages_per_second above {FREE_MESSAGES_PER_SECOND} needs paid_broadcast = true "
                "(Telegram's paid broadcasts, charged in Stars per message); without it Telegram "
                "refuses the excess"
            )
        return self


class SurveysConfig(_Section):
    # Free-text answers longer than this are cut (and everything shown is escaped).
    comment_max_length: int = Field(default=500, ge=20, le=4000)
    # How long after the answer buttons a typed message still counts as the comment.
    comment_window_hours: int = Field(default=24, ge=1)


class Config(_Section):
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    shop: ShopConfig = Field(default_factory=ShopConfig)
    staff: StaffConfig = Field(default_factory=StaffConfig)
    consent: ConsentConfig = Field(default_factory=ConsentConfig)
    marketing: MarketingConfig = Field(default_factory=MarketingConfig)
    loyalty: LoyaltyConfig = Field(default_factory=LoyaltyConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    nudges: NudgesConfig = Field(default_factory=NudgesConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    surveys: SurveysConfig = Field(default_factory=SurveysConfig)


assert set(SUPPORTED_LANGUAGES) == {"ru", "uk", "en"}


def _describe(error: Any) -> str:
    loc = list(error["loc"])
    if len(loc) == 1 and str(loc[0]) in Config.model_fields and error["type"] != "extra_forbidden":
        # A rule across keys of one section (e.g. loyal_from > regular_from): name the section.
        return f"[{loc[0]}]: {str(error['msg']).removeprefix('Value error, ')}"
    section = str(loc[0]) if len(loc) > 1 else ""
    key = ""
    for part in loc[1:] if section else loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    where = f"[{section}] {key}" if section and key else (f"[{section}]" if section else key or "(top level)")
    kind = error["type"]
    if kind == "extra_forbidden":
        problem = "unknown key (see config.example.toml for the keys there are)"
    elif kind == "missing":
        problem = "missing"
    elif kind.endswith("_type") or kind in {"int_parsing", "string_type"}:
        got = error.get("input")
        problem = f"{error['msg'].lower()}, got {got!r}"
    else:
        problem = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {problem}"


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Validate a TOML document; raise ConfigError with one line per problem."""
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(err)}" for err in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
    return apply_environment(config)


def apply_environment(config: Config) -> Config:
    """Secrets come from the environment: BOT_TOKEN wins over [telegram] token."""
    token = os.environ.get(TOKEN_ENV)
    if token:
        return config.model_copy(update={"telegram": config.telegram.model_copy(update={"token": token})})
    return config


def load_config(path: Path) -> Config:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (copy config.example.toml to start)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path))


def require_token(config: Config) -> str:
    token = config.telegram.token
    if not token:
        raise ConfigError(f"[telegram] token: missing (set the {TOKEN_ENV} environment variable)")
    head, _, tail = token.partition(":")
    if not head.isdigit() or not tail:
        raise ConfigError("[telegram] token: does not look like a bot token ('<digits>:<secret>')")
    return token


def require_api_token(config: Config) -> str:
    token = os.environ.get(config.api.token_env, "")
    if len(token) < 16:
        raise ConfigError(
            f"[api] token_env: set the {config.api.token_env} environment variable to a secret of at "
            "least 16 characters (the till sends it as 'Authorization: Bearer …')"
        )
    return token
