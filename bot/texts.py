"""Customer and staff texts: one Fluent file per language (templates/<lang>/bot.ftl), keys in code.

Fluent carries CLDR plural rules (ru and uk have three forms). Texts are Telegram HTML written by the
shop; every value put into them is escaped here, so a customer named `<b>&` cannot break a message.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision
from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import FluentParser, ast

from bot import SUPPORTED_LANGUAGES
from bot.resources import resource_dir

TEXT_FILE = "bot.ftl"
ArgValue = str | int | Decimal


class TextsError(Exception):
    """A text file is missing, broken, or lacks a key another language has."""


class Texts:
    """All languages' bundles, loaded and cross-checked once at start."""

    def __init__(self, bundles: dict[str, FluentBundle], default_language: str) -> None:
        self._bundles = bundles
        self.default_language = default_language

    @classmethod
    def load(cls, default_language: str, folder: Path | None = None) -> Texts:
        folder = folder or resource_dir("templates")
        bundles: dict[str, FluentBundle] = {}
        keys: dict[str, set[str]] = {}
        for lang in SUPPORTED_LANGUAGES:
            path = folder / lang / TEXT_FILE
            try:
                source = path.read_text("utf-8")
            except OSError as exc:
                raise TextsError(f"{path}: cannot read: {exc.strerror}") from None
            keys[lang] = _check_syntax(path, source)
            bundle = FluentBundle([lang], use_isolating=False)
            bundle.add_resource(FluentResource(source))
            bundles[lang] = bundle
        # Every key any language has must be in all of them: a key only ru and uk have would fail
        # at run time for English speakers.
        reference = set().union(*keys.values())
        for lang, found in keys.items():
            missing = sorted(reference - found)
            if missing:
                raise TextsError(f"{folder / lang / TEXT_FILE}: missing keys: {', '.join(missing)}")
        return cls(bundles, default_language)

    def resolve_language(self, chosen: str | None, telegram_code: str | None) -> str:
        return resolve_language(chosen, telegram_code, self.default_language)

    def translator(self, language: str) -> Translator:
        return Translator(language, self._bundles[language])

    def all_translators(self) -> list[Translator]:
        return [self.translator(lang) for lang in SUPPORTED_LANGUAGES]


@dataclass(frozen=True)
class Translator:
    """Texts in one language: `tr("balance-title", points=120)`."""

    language: str
    _bundle: FluentBundle

    def __call__(self, key: str, **args: ArgValue) -> str:
        message = self._bundle.get_message(key) if self._bundle.has_message(key) else None
        if message is None or message.value is None:
            raise KeyError(f"no text {key!r} in {self.language}")
        safe = {name: html.escape(value) if isinstance(value, str) else value for name, value in args.items()}
        text, errors = self._bundle.format_pattern(message.value, safe)
        if errors:
            raise ValueError(f"text {key!r} in {self.language}: {errors[0]}")
        return str(text)

    def money(self, amount_minor: int, currency: str) -> str:
        return format_money(amount_minor, currency, self.language)

    def number(self, value: int | Decimal) -> str:
        return str(format_decimal(value, locale=self.language))

    def date(self, moment: datetime | date, zone: ZoneInfo) -> str:
        day = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
        return str(format_date(day, format="long", locale=self.language))


def resolve_language(chosen: str | None, telegram_code: str | None, default: str) -> str:
    """The customer's choice, else Telegram's language if we speak it, else the shop's default."""
    if chosen in SUPPORTED_LANGUAGES:
        return chosen
    if telegram_code:
        base = telegram_code.split("-")[0].lower()
        if base in SUPPORTED_LANGUAGES:
            return base
    return default


def _check_syntax(path: Path, source: str) -> set[str]:
    """Parse with the strict syntax parser, so a typo stops start-up with file and line."""
    resource = FluentParser(with_spans=True).parse(source)
    keys: set[str] = set()
    for entry in resource.body:
        if isinstance(entry, ast.Junk):
            span = entry.span
            line = source.count("\n", 0, span.start if span else 0) + 1
            detail = entry.annotations[0].message if entry.annotations else "cannot parse"
            raise TextsError(f"{path}:{line}: {detail}")
        if isinstance(entry, ast.Message):
            keys.add(entry.id.name)
    return keys


# CLDR's currency spacing, which babel leaves out: a currency written as letters (a code, where the
# language has no symbol for it, as English for the hryvnia) is kept apart from the digits by a
# no-break space, "UAH 250.50" and not "UAH250.50". Symbols ("€250.50", "250,50 ₴") are left as they are.
_LETTERS_THEN_DIGIT = re.compile(r"([^\W\d_])(?=\d)")
_DIGIT_THEN_LETTERS = re.compile(r"(?<=\d)([^\W\d_])")


def format_money(amount_minor: int, currency: str, language: str) -> str:
    """An amount in minor units (kopiykas, cents) as the language writes money: "250,50 ₴", "UAH 250.50"."""
    amount = Decimal(amount_minor).scaleb(-get_currency_precision(currency))
    text = str(format_currency(amount, currency, locale=language))
    return _DIGIT_THEN_LETTERS.sub("\u00a0\\1", _LETTERS_THEN_DIGIT.sub("\\1\u00a0", text))
