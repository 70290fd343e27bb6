"""Nudge templates: templates/<lang>/<name>.html.j2, rendered in Jinja's sandbox for Telegram HTML.

Shop staff edit these files, so they run sandboxed (no attribute tricks), undefined names are errors
(a typo never sends "Hello, !"), and every value is HTML-escaped (a customer named `<b>&` stays text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, get_currency_precision
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from bot import SUPPORTED_LANGUAGES
from bot.resources import resource_dir

SUFFIX = ".html.j2"


class TemplateProblem(Exception):
    """A template cannot be rendered; the message names the file and line."""

    def __init__(self, message: str, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


class NudgeTemplates:
    """One sandboxed environment per language, built once at start."""

    def __init__(self, folder: Path, currency: str, zone: ZoneInfo, default_language: str) -> None:
        self.folder = folder
        self.default_language = default_language
        self._envs = {lang: _environment(folder / lang, lang, currency, zone) for lang in SUPPORTED_LANGUAGES}

    @classmethod
    def load(
        cls, currency: str, zone: ZoneInfo, default_language: str, folder: Path | None = None
    ) -> NudgeTemplates:
        return cls(folder or resource_dir("templates"), currency, zone, default_language)

    def names(self, language: str) -> list[str]:
        folder = self.folder / language
        return sorted(p.name.removesuffix(SUFFIX) for p in folder.glob(f"*{SUFFIX}"))

    def exists(self, name: str, language: str) -> bool:
        return (self.folder / language / f"{name}{SUFFIX}").is_file()

    def render(self, name: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
        """(text, language used): the customer's language, falling back to the shop's default."""
        used = language if self.exists(name, language) else self.default_language
        path = self.folder / used / f"{name}{SUFFIX}"
        try:
            template = self._envs[used].get_template(f"{name}{SUFFIX}")
            return template.render(**context).strip(), used
        except TemplateSyntaxError as exc:
            problem = Problem(str(path), exc.lineno, exc.message or "syntax error")
            raise TemplateProblem(str(problem), problem) from exc
        except TemplateError as exc:
            problem = Problem(str(path), _line_of(exc, path), str(exc))
            raise TemplateProblem(str(problem), problem) from exc

    def render_string(self, source: str, language: str, context: dict[str, Any]) -> str:
        """An owner's own campaign text: the same sandbox, escaping and filters as the files."""
        env = self._envs.get(language, self._envs[self.default_language])
        try:
            return env.from_string(source).render(**context).strip()
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"line {exc.lineno}: {exc.message or 'syntax error'}") from exc
        except TemplateError as exc:
            raise TemplateProblem(str(exc)) from exc

    def check(self, names: list[str], sample: dict[str, Any]) -> list[Problem]:
        """Render every named template in every language with sample data; every problem found."""
        problems: list[Problem] = []
        for lang in SUPPORTED_LANGUAGES:
            for name in names:
                path = self.folder / lang / f"{name}{SUFFIX}"
                if not path.is_file():
                    problems.append(Problem(str(path), None, "missing"))
                    continue
                try:
                    self.render(name, lang, sample)
                except TemplateProblem as exc:
                    problems.append(exc.problem or Problem(str(path), None, str(exc)))
        return problems


def _line_of(exc: BaseException, path: Path) -> int | None:
    """The template line from the traceback of a runtime error (Jinja maps frames to template lines)."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _environment(folder: Path, language: str, currency: str, zone: ZoneInfo) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    locale = Locale.parse(language)
    digits = get_currency_precision(currency)

    def money(amount_minor: int) -> str:
        return str(format_currency(Decimal(amount_minor).scaleb(-digits), currency, locale=language))

    def number(value: int | Decimal) -> str:
        return str(format_decimal(value, locale=language))

    def day(moment: datetime | date) -> str:
        value = moment.astimezone(zone).date() if isinstance(moment, datetime) else moment
        return str(format_date(value, format="long", locale=language))

    @pass_context
    def plural(_context: Context, count: int, *forms: str) -> str:
        """`{{ n | plural("бал", "бали", "балів") }}`: one, few, many (ru, uk); one, other (en)."""
        if not forms:
            raise TemplateError("plural needs the word forms: one, few, many (or one, other)")
        category = locale.plural_form(abs(int(count)))
        index = {"one": 0, "few": 1, "many": 2, "other": 2}.get(category, len(forms) - 1)
        return forms[min(index, len(forms) - 1)]

    env.filters.update(money=money, number=number, date=day, plural=plural)
    return env
