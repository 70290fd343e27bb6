"""Nudge templates: templates/<lang>/<name>.html.j2, rendered in Jinja's sandbox for Telegram HTML.

Shop staff edit these files, so they run sandboxed (no attribute tricks), undefined names are errors
(a typo never sends "Hello, !"), and every value is HTML-escaped (a customer named `<b>&` stays text).
"""

from __future__ import annotations

import functools
import time
import weakref
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    nodes,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from bot import SUPPORTED_LANGUAGES
from bot.resources import resource_dir
from bot.texts import format_money

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

    LOOKUP_SECONDS = 1.0

    def __init__(self, folder: Path, currency: str, zone: ZoneInfo, default_language: str) -> None:
        self.folder = folder
        self.default_language = default_language
        self._envs = {lang: _environment(folder / lang, lang, currency, zone) for lang in SUPPORTED_LANGUAGES}
        self._found: dict[tuple[str, str], tuple[float, str, Template]] = {}
        self._strings: dict[tuple[str, str], Template] = {}
        self._fields: dict[tuple[str, tuple[int, ...]], frozenset[str]] = {}

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
        try:
            used, template = self._template(name, language)
            return _render(template, context).strip(), used
        except TemplateSyntaxError as exc:
            path = self._path(name, language)
            problem = Problem(str(path), exc.lineno, exc.message or "syntax error")
            raise TemplateProblem(str(problem), problem) from exc
        except TemplateError as exc:
            path = self._path(name, language)
            problem = Problem(str(path), _line_of(exc, path), str(exc))
            raise TemplateProblem(str(problem), problem) from exc

    def fields_used(self, name: str) -> frozenset[str]:
        """What template `name` reads from its context in any language: `customer.balance`, `coupon.code`,
        …; a name used whole (passed to a filter, looped over) is `name.*`. A campaign's delivery reads
        only what its messages say."""
        templates = tuple(self._template(name, lang)[1] for lang in SUPPORTED_LANGUAGES)
        key = (name, tuple(id(t) for t in templates))
        if (found := self._fields.get(key)) is None:
            found = frozenset().union(*(self._fields_in(t.filename) for t in templates))
            self._fields = {k: v for k, v in self._fields.items() if k[0] != name}  # edited: forget the old
            self._fields[key] = found
        return found

    def fields_used_by_string(self, source: str) -> frozenset[str]:
        """`fields_used` of a campaign's own text."""
        return _fields(self._envs[self.default_language].parse(source))

    def _fields_in(self, filename: str | None) -> frozenset[str]:
        if filename is None:
            return frozenset()
        return _fields(self._envs[self.default_language].parse(Path(filename).read_text(encoding="utf-8")))

    def _compiled(self, source: str, language: str) -> Template:
        """A campaign's own text, compiled once for all its messages (the last few texts are kept)."""
        key = (source, language)
        if (template := self._strings.get(key)) is None:
            env = self._envs.get(language, self._envs[self.default_language])
            template = env.from_string(source)
            if len(self._strings) >= 32:
                self._strings.clear()
            self._strings[key] = template
        return template

    def _path(self, name: str, language: str) -> Path:
        used = language if self.exists(name, language) else self.default_language
        return self.folder / used / f"{name}{SUFFIX}"

    def _template(self, name: str, language: str) -> tuple[str, Template]:
        """(language used, compiled template), looked up on disk at most once a second: a campaign renders
        thousands a second, and an edited file is still picked up at once as far as a person can tell."""
        key = (name, language)
        now = time.monotonic()
        found = self._found.get(key)
        if found is None or found[0] <= now:
            used = language if self.exists(name, language) else self.default_language
            found = (now + self.LOOKUP_SECONDS, used, self._envs[used].get_template(f"{name}{SUFFIX}"))
            self._found[key] = found
        return found[1], found[2]

    def render_string(self, source: str, language: str, context: dict[str, Any]) -> str:
        """An owner's own campaign text: the same sandbox, escaping and filters as the files."""
        try:
            return _render(self._compiled(source, language), context).strip()
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


def _fields(tree: nodes.Template) -> frozenset[str]:
    """`name.attribute` for every attribute a template reads of a context name, `name.*` for a name it
    uses whole."""
    found: set[str] = set()
    bases: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        base = node.node  # type: ignore[attr-defined]  # both kinds have it; find_all is typed loosely
        if not isinstance(base, nodes.Name):
            continue
        if isinstance(node, nodes.Getattr):
            key: object = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            key = node.arg.value
        else:
            continue  # customer[some_variable]: the whole of it
        found.add(f"{base.name}.{key}")
        bases.add(id(base))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in bases:
            found.add(f"{name.name}.*")
    return frozenset(found)


def _line_of(exc: BaseException, path: Path) -> int | None:
    """The template line from the traceback of a runtime error (Jinja maps frames to template lines)."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# What `getattr` finds on any dict: for other names, `{{ customer.first_name }}` on a dict is its item.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with a quicker way to the same answer for `name.field` on a plain dict.

    The sandbox asks for an attribute first and takes the item when that raises AttributeError; for a
    dict and a name no dict has as an attribute, that is always the item, and the raise cost more than
    the rest of the look-up (a template reads about ten such fields, every message of a campaign).
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


# Each template's globals (Jinja's own and the environment's) as one dict, made once.
_GLOBALS: weakref.WeakKeyDictionary[Template, dict[str, Any]] = weakref.WeakKeyDictionary()


def _render(template: Template, context: dict[str, Any]) -> str:
    """`template.render(context)`, less a cost paid on every message of a campaign.

    Jinja's `render` copies the template's globals (a ChainMap of two dicts) into a new dict each time,
    a quarter of what rendering a short message costs. The globals never change once the environment
    is built, so the copy is made once; the rest is `render`'s own: a context shared with the dict given,
    the compiled template run, and Jinja's exception handling (which points at the template's line).
    """
    if (globals_ := _GLOBALS.get(template)) is None:
        globals_ = _GLOBALS[template] = dict(template.globals)
    context_ = template.new_context({**globals_, **context}, shared=True)
    try:
        return template.environment.concat(template.root_render_func(context_))
    except Exception:
        template.environment.handle_exception()


def _environment(folder: Path, language: str, currency: str, zone: ZoneInfo) -> SandboxedEnvironment:
    env = _Sandbox(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    locale = Locale.parse(language)

    @functools.lru_cache(maxsize=1024)  # a campaign formats the same few amounts and dates thousands of times
    def money(amount_minor: int) -> str:
        return format_money(amount_minor, currency, language)

    def number(value: int | Decimal) -> str:
        return str(format_decimal(value, locale=language))

    def day(moment: datetime | date) -> str:
        return long_date(moment.astimezone(zone).date() if isinstance(moment, datetime) else moment)

    @functools.lru_cache(maxsize=1024)
    def long_date(value: date) -> str:
        return str(format_date(value, format="long", locale=language))

    plural_category = functools.lru_cache(maxsize=1024)(locale.plural_form)

    @pass_context
    def plural(_context: Context, count: int, *forms: str) -> str:
        """`{{ n | plural("бал", "бали", "балів") }}`: one, few, many (ru, uk); one, other (en)."""
        if not forms:
            raise TemplateError("plural needs the word forms: one, few, many (or one, other)")
        category = plural_category(abs(int(count)))
        index = {"one": 0, "few": 1, "many": 2, "other": 2}.get(category, len(forms) - 1)
        return forms[min(index, len(forms) - 1)]

    env.filters.update(money=money, number=number, date=day, plural=plural)
    return env
