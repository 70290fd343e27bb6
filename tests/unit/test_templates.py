"""bot.templates: the shipped nudge templates, the sandbox, strict names, escaping, the filters, and
`retention-bot templates check`."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import SUPPORTED_LANGUAGES
from bot.cli import main
from bot.resources import resource_dir
from bot.services.nudges import sample_context
from bot.templates import SUFFIX, NudgeTemplates, Problem, TemplateProblem
from bot.texts import format_money

KYIV = ZoneInfo("Europe/Kyiv")
SHIPPED = resource_dir("templates")
SHIPPED_NAMES = sorted(p.name.removesuffix(SUFFIX) for p in (SHIPPED / "en").glob(f"*{SUFFIX}"))
# What Telegram's HTML parse mode accepts; anything else makes the send fail.
TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "span"}
TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")


def shipped() -> NudgeTemplates:
    return NudgeTemplates.load("UAH", KYIV, "uk")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped templates that a test may break."""
    copy = tmp_path / "templates"
    shutil.copytree(SHIPPED, copy)
    return copy


def write(folder: Path, language: str, name: str, text: str) -> Path:
    path = folder / language / f"{name}{SUFFIX}"
    path.write_text(text, encoding="utf-8")
    return path


def one_template(tmp_path: Path, text: str, currency: str = "UAH") -> NudgeTemplates:
    """The same template `t` in every language."""
    for lang in SUPPORTED_LANGUAGES:
        (tmp_path / lang).mkdir(parents=True, exist_ok=True)
        write(tmp_path, lang, "t", text)
    return NudgeTemplates(tmp_path, currency, KYIV, "uk")


# -- the shipped templates ------------------------------------------------------------------------------


def test_every_language_ships_the_same_templates() -> None:
    assert len(SHIPPED_NAMES) >= 8
    for lang in SUPPORTED_LANGUAGES:
        assert shipped().names(lang) == SHIPPED_NAMES


def test_every_rule_template_is_shipped() -> None:
    from bot.config import NudgesConfig

    for rule in NudgesConfig().rules:
        for step in rule.steps:
            assert step.template in SHIPPED_NAMES, (rule.name, step.template)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_shipped_template_renders_with_sample_data(name: str, language: str) -> None:
    html, used = shipped().render(name, language, sample_context())
    source = (SHIPPED / language / f"{name}{SUFFIX}").read_text("utf-8")
    assert used == language
    assert html == html.strip() and html
    assert "{{" not in html and "{%" not in html and "{#" not in html
    assert "None" not in html
    # The customer's name is in the text and stays text.
    assert "Олена &lt;b&gt;&amp;" in html
    assert "Олена <b>" not in html
    assert "Кав&#39;ярня «Зерно»" in html
    if "coupon.code" in source:
        assert "<code>AB2C-DE3F</code>" in html
    assert {tag.lower() for tag in TAG.findall(html)} <= TELEGRAM_TAGS


def test_welcome_in_ukrainian_exactly() -> None:
    html, _ = shipped().render("welcome", "uk", sample_context())
    assert html == (
        "Ласкаво просимо до <b>Кав&#39;ярня «Зерно»</b>, Олена &lt;b&gt;&amp;! Дякуємо, що ви з нами.\n"
        "\n"
        "Подарунок на подяку: <b>знижка 15%</b> на наступний візит.\n"
        "Покажіть цей код на касі: <code>AB2C-DE3F</code> (діє до 31 грудня 2026\u202fр.)."
    )


def test_a_missing_language_falls_back_to_the_shops_default(folder: Path) -> None:
    (folder / "en" / f"tip{SUFFIX}").unlink()
    templates = NudgeTemplates(folder, "UAH", KYIV, "uk")
    html, used = templates.render("tip", "en", sample_context())
    assert used == "uk"
    assert html.startswith("Олена &lt;b&gt;&amp;, дякуємо за першу покупку")


def test_an_amount_coupon_shows_money() -> None:
    context = sample_context()
    context["coupon"] = {**context["coupon"], "kind": "amount", "value": 50}
    html, _ = shipped().render("welcome", "uk", context)
    assert "<b>50,00\xa0₴</b>" in html
    html, _ = shipped().render("welcome", "en", context)
    assert "<b>50</b> off your next visit (UAH\xa050.00)." in html


def test_html_in_every_value_is_escaped(tmp_path: Path) -> None:
    templates = one_template(tmp_path, "{{ customer.first_name }}|{{ shop.name }}|{{ product }}")
    context = {
        "customer": {"first_name": "<b>&"},
        "shop": {"name": '<a href="x">'},
        "product": "<script>alert(1)</script>",
    }
    html, _ = templates.render("t", "en", context)
    assert html == "&lt;b&gt;&amp;|&lt;a href=&#34;x&#34;&gt;|&lt;script&gt;alert(1)&lt;/script&gt;"


# -- problems name the file and line --------------------------------------------------------------------


def test_an_unknown_variable_is_an_error_with_file_and_line(folder: Path) -> None:
    path = write(folder, "en", "broken", "Hello {{ customer.first_name }},\n\nyour {{ nope }} is ready\n")
    templates = NudgeTemplates(folder, "UAH", KYIV, "uk")
    with pytest.raises(TemplateProblem) as caught:
        templates.render("broken", "en", sample_context())
    assert str(caught.value) == f"{path}:3: 'nope' is undefined"
    assert caught.value.problem == Problem(str(path), 3, "'nope' is undefined")


def test_an_unknown_attribute_is_an_error_too(folder: Path) -> None:
    path = write(folder, "uk", "broken", "{{ customer.first_name }}\n{{ customer.nickname }}\n")
    with pytest.raises(TemplateProblem) as caught:
        NudgeTemplates(folder, "UAH", KYIV, "uk").render("broken", "uk", sample_context())
    assert str(caught.value) == f"{path}:2: 'dict object' has no attribute 'nickname'"


def test_a_syntax_error_names_file_and_line(folder: Path) -> None:
    path = write(folder, "ru", "broken", "Привет, {{ customer.first_name }}!\n{% if coupon %}\nкод\n")
    with pytest.raises(TemplateProblem) as caught:
        NudgeTemplates(folder, "UAH", KYIV, "uk").render("broken", "ru", sample_context())
    assert str(caught.value).startswith(f"{path}:3: Unexpected end of template.")
    assert caught.value.problem is not None and caught.value.problem.line == 3

    path = write(folder, "ru", "broken2", "ok\n{{ customer.first_name }\n")
    with pytest.raises(TemplateProblem) as caught:
        NudgeTemplates(folder, "UAH", KYIV, "uk").render("broken2", "ru", sample_context())
    assert str(caught.value).startswith(f"{path}:2: ")


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "().__class__.__base__.__subclasses__()",
        "customer.__class__",
        "lipsum.__globals__",
        "customer.first_name.__class__.__mro__[1].__subclasses__()",
        "customer.items.__self__",
    ],
)
def test_the_sandbox_refuses_attribute_tricks(folder: Path, expression: str) -> None:
    path = write(folder, "en", "evil", f"Hi\n{{{{ {expression} }}}}\n")
    with pytest.raises(TemplateProblem) as caught:
        NudgeTemplates(folder, "UAH", KYIV, "uk").render("evil", "en", sample_context())
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ")
    assert "unsafe" in message


def test_check_reports_every_problem_with_file_and_line(folder: Path) -> None:
    broken = write(folder, "uk", "welcome", "Вітаємо!\n{{ nope }}\n")
    (folder / "ru" / f"tip{SUFFIX}").unlink()
    templates = NudgeTemplates(folder, "UAH", KYIV, "uk")
    problems = templates.check(SHIPPED_NAMES, sample_context())
    assert problems == [
        Problem(str(folder / "ru" / f"tip{SUFFIX}"), None, "missing"),
        Problem(str(broken), 2, "'nope' is undefined"),
    ]
    assert [str(p) for p in problems] == [
        f"{folder}/ru/tip{SUFFIX}: missing",
        f"{broken}:2: 'nope' is undefined",
    ]


def test_check_is_clean_for_the_shipped_templates() -> None:
    assert shipped().check(SHIPPED_NAMES, sample_context()) == []


# -- filters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "form"),
    [
        (0, "c"),
        (1, "a"),
        (2, "b"),
        (4, "b"),
        (5, "c"),
        (11, "c"),
        (12, "c"),
        (21, "a"),
        (22, "b"),
        (111, "c"),
    ],
)
@pytest.mark.parametrize("language", ["ru", "uk"])
def test_plural_one_few_many_in_ru_and_uk(tmp_path: Path, language: str, count: int, form: str) -> None:
    templates = one_template(tmp_path, '{{ n }} {{ n | plural("a", "b", "c") }}')
    assert templates.render("t", language, {"n": count})[0] == f"{count} {form}"


@pytest.mark.parametrize(
    ("count", "form"), [(0, "points"), (1, "point"), (2, "points"), (5, "points"), (21, "points")]
)
def test_plural_one_other_in_en(tmp_path: Path, count: int, form: str) -> None:
    templates = one_template(tmp_path, '{{ n | plural("point", "points") }}')
    assert templates.render("t", "en", {"n": count})[0] == form


def test_shipped_plurals_read_naturally() -> None:
    context: dict[str, Any] = sample_context()
    for balance, words in [(1, "1 бал"), (3, "3 бали"), (25, "25 балів"), (21, "21 бал")]:
        context["customer"] = {**context["customer"], "balance": balance}
        assert f"<b>{words}</b>" in shipped().render("win_back_news", "uk", context)[0]
    context["customer"] = {**context["customer"], "balance": 1}
    assert "<b>1 point</b>" in shipped().render("win_back_news", "en", context)[0]


def test_plural_without_forms_is_a_template_problem(tmp_path: Path) -> None:
    templates = one_template(tmp_path, "{{ n | plural }}")
    with pytest.raises(TemplateProblem, match="plural needs the word forms"):
        templates.render("t", "en", {"n": 3})


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("uk", "123,45\xa0₴|0,01\xa0₴|1\xa0234\xa0567,89\xa0₴|500,00\xa0₴"),
        ("ru", "123,45\xa0₴|0,01\xa0₴|1\xa0234\xa0567,89\xa0₴|500,00\xa0₴"),
        # English has no symbol for the hryvnia: its code, kept apart from the digits (CLDR's spacing).
        ("en", "UAH\xa0123.45|UAH\xa00.01|UAH\xa01,234,567.89|UAH\xa0500.00"),
    ],
)
def test_money_is_exact_for_hryvnias(tmp_path: Path, language: str, expected: str) -> None:
    templates = one_template(tmp_path, "{{ a | money }}|{{ b | money }}|{{ c | money }}|{{ d | money }}")
    context = {"a": 12345, "b": 1, "c": 123456789, "d": 50000}
    assert templates.render("t", language, context)[0] == expected


@pytest.mark.parametrize(
    ("currency", "language", "minor", "expected"),
    [
        ("EUR", "en", 25050, "€250.50"),  # a symbol stays next to the digits
        ("USD", "en", -500, "-$5.00"),
        ("UAH", "en", -500, "-UAH\xa05.00"),
        ("PLN", "en", 100, "PLN\xa01.00"),
        ("EUR", "uk", 25050, "250,50\xa0EUR"),
        ("PLN", "ru", 100, "1,00\xa0PLN"),
    ],
)
def test_a_currency_written_in_letters_is_kept_apart_from_the_digits(
    currency: str, language: str, minor: int, expected: str
) -> None:
    assert format_money(minor, currency, language) == expected


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_win_back_offer_keeps_its_paragraphs(language: str) -> None:
    """Its first line ends in a block tag, whose newline the environment trims (`trim_blocks`): the tag
    says `+%}` so the blank line after it stays a paragraph break."""
    html = shipped().render("win_back_offer", language, sample_context())[0]
    first, rest = html.split("\n\n")
    assert "Flat white" not in first and "<code>AB2C-DE3F</code>" in rest


def test_money_follows_the_currencys_minor_units(tmp_path: Path) -> None:
    templates = one_template(tmp_path, "{{ a | money }}", currency="JPY")
    assert templates.render("t", "en", {"a": 500})[0] == "¥500"


def test_number_and_date_filters(tmp_path: Path) -> None:
    templates = one_template(tmp_path, "{{ n | number }}|{{ at | date }}|{{ day | date }}")
    # 23:30 UTC on New Year's Eve is already 1 January in Kyiv.
    context = {"n": 1234567, "at": datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "day": date(2026, 3, 8)}
    assert (
        templates.render("t", "uk", context)[0]
        == "1\xa0234\xa0567|1 січня 2027\u202fр.|8 березня 2026\u202fр."
    )
    assert templates.render("t", "en", context)[0] == "1,234,567|January 1, 2027|March 8, 2026"


# -- `retention-bot templates check` --------------------------------------------------------------------


def config_file(tmp_path: Path, rules: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "bot.sqlite3"}"\n\n[shop]\nname = "Test Shop"\n{rules}',
        encoding="utf-8",
    )
    return path


def test_cli_templates_check_passes_with_the_shipped_templates(
    tmp_path: Path, no_bot_token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config_file(tmp_path)), "templates", "check"]) == 0
    out = capsys.readouterr().out
    assert out == f"templates OK: {len(SHIPPED_NAMES)} templates × 3 languages\n"


def test_cli_templates_check_fails_naming_file_and_line(
    tmp_path: Path,
    folder: Path,
    no_bot_token: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The command has no option for another templates folder: point the resource lookup at the copy.
    monkeypatch.setattr("bot.templates.resource_dir", lambda name: folder)
    broken = write(folder, "uk", "welcome", "Вітаємо, {{ customer.first_name }}!\n{{ coupon.cod }}\n")
    assert main(["--config", str(config_file(tmp_path)), "templates", "check"]) == 1
    out = capsys.readouterr().out
    assert out == f"{broken}:2: 'dict object' has no attribute 'cod'\n1 problem(s) in the templates\n"


def test_cli_templates_check_fails_for_a_template_a_rule_names_but_nobody_wrote(
    tmp_path: Path, no_bot_token: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = '\n[[nudges.rules]]\nname = "gift"\ntrigger = "opted_in"\nsteps = [{ template = "giftcard" }]\n'
    assert main(["--config", str(config_file(tmp_path, rules)), "templates", "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        *(f"{SHIPPED}/{lang}/giftcard{SUFFIX}: missing" for lang in SUPPORTED_LANGUAGES),
        "3 problem(s) in the templates",
    ]


# -- what a template reads, and edits while running ------------------------------------------------------


def test_fields_used_names_every_attribute_read_and_whole_names(tmp_path: Path) -> None:
    templates = one_template(
        tmp_path,
        '{{ customer.first_name }} {{ coupon["code"] }} {{ expiring.points | number }} {{ product }}'
        "{% for k in customer %}{{ k }}{% endfor %}",
    )
    assert templates.fields_used("t") == {
        "customer.first_name",
        "coupon.code",
        "expiring.points",
        "product.*",
        "customer.*",
        "k.*",
    }


def test_fields_used_is_the_union_over_the_languages(folder: Path) -> None:
    write(folder, "en", "win_back_news", "{{ customer.tier }} at {{ shop.name }}")
    fields = NudgeTemplates(folder, "UAH", KYIV, "uk").fields_used("win_back_news")
    assert {"customer.tier", "customer.balance", "customer.first_name", "shop.name"} <= fields


def test_fields_used_by_a_campaigns_own_text() -> None:
    text = "Hi {{ customer.first_name }}, {{ customer.balance }} points"
    assert shipped().fields_used_by_string(text) == {"customer.first_name", "customer.balance"}


def test_an_edited_template_is_used_after_the_lookup_interval(folder: Path) -> None:
    templates = NudgeTemplates(folder, "UAH", KYIV, "uk")
    templates.LOOKUP_SECONDS = 0  # a second in production
    write(folder, "en", "nps", "Before {{ customer.first_name }}")
    assert templates.render("nps", "en", sample_context())[0].startswith("Before")
    write(folder, "en", "nps", "After {{ customer.balance }}")
    os.utime(folder / "en" / f"nps{SUFFIX}", (time.time() + 5, time.time() + 5))  # a later mtime
    assert templates.render("nps", "en", sample_context())[0] == "After 125"
    assert "customer.balance" in templates.fields_used("nps")


@pytest.mark.parametrize(
    "expression",
    [
        "customer.first_name",  # an item
        "customer.missing",  # neither: undefined (StrictUndefined raises)
        "customer.items",  # a dict method: Jinja's own answer
        "customer.__class__",  # blocked by the sandbox
        "customer.__class__.__mro__",
        "customer.keys()|list",
        "customer.get('first_name')",
        "shop.name.upper()",
        "shop.name.__class__",
    ],
)
def test_field_lookups_answer_as_jinjas_own_sandbox_does(expression: str) -> None:
    # The quick way to a dict's item must not change any answer, nor open anything the sandbox shuts.
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from bot.templates import _Sandbox

    context = {"customer": {"first_name": "Олена <b>&", "keys": "a key"}, "shop": {"name": "Зерно"}}

    def outcome(env: SandboxedEnvironment) -> str:
        try:
            return env.from_string("{{ " + expression + " }}").render(context)
        except Exception as exc:  # the same failure either way is what is compared
            return f"{type(exc).__name__}: {exc}"

    ours = outcome(_Sandbox(autoescape=True, undefined=StrictUndefined))
    jinjas = outcome(SandboxedEnvironment(autoescape=True, undefined=StrictUndefined))
    assert ours == jinjas


def test_rendering_gives_what_jinjas_render_gives_for_every_shipped_template() -> None:
    from bot.templates import _render

    templates = shipped()
    for language in SUPPORTED_LANGUAGES:
        for name in templates.names(language):
            template = templates._envs[language].get_template(f"{name}{SUFFIX}")
            context = sample_context()
            assert _render(template, context) == template.render(**context), (language, name)
            assert template.render(**context)  # something was rendered, not two empty strings
