"""bot.texts: the three languages agree on keys, plurals, escaping, and broken files stop start-up."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fluent.syntax import FluentParser, ast

from bot import SUPPORTED_LANGUAGES
from bot.models import ConsentState, Tier
from bot.resources import resource_dir
from bot.services.customers import LinkResult
from bot.telegram.commands import CUSTOMER_COMMANDS, STAFF_COMMANDS
from bot.texts import Texts, TextsError

TEMPLATES = resource_dir("templates")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts.load("uk")


def keys_of(lang: str) -> set[str]:
    resource = FluentParser().parse((TEMPLATES / lang / "bot.ftl").read_text("utf-8"))
    return {entry.id.name for entry in resource.body if isinstance(entry, ast.Message)}


def test_every_language_has_the_same_keys() -> None:
    en = keys_of("en")
    assert len(en) > 50
    for lang in SUPPORTED_LANGUAGES:
        assert keys_of(lang) == en, lang


def test_every_key_the_code_names_exists(texts: Texts) -> None:
    used: set[str] = set()
    for folder in ("bot", "handlers"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "texts.py":  # its docstring shows a made-up key
                continue
            used |= set(re.findall(r"\btr\(\s*\"([a-z0-9-]+)\"", path.read_text("utf-8")))
    # Keys built at run time from enums and command lists.
    used |= {f"link-{r.value}" for r in LinkResult}
    used |= {f"tier-{t.value}" for t in Tier}
    used |= {f"consent-state-{s.value}" for s in ConsentState}
    used |= {f"cmd-{name}" for name in CUSTOMER_COMMANDS + STAFF_COMMANDS}
    used |= {f"language-name-{lang}" for lang in SUPPORTED_LANGUAGES}
    assert "balance-points" in used and "consent-question" in used
    for lang in SUPPORTED_LANGUAGES:
        missing = sorted(used - keys_of(lang))
        assert not missing, f"{lang}: {missing}"


@pytest.mark.parametrize(
    ("lang", "points", "word"),
    [
        ("ru", 1, "1 балл."),
        ("ru", 2, "2 балла."),
        ("ru", 5, "5 баллов."),
        ("ru", 11, "11 баллов."),
        ("ru", 21, "21 балл."),
        ("ru", 22, "22 балла."),
        ("ru", 25, "25 баллов."),
        ("uk", 1, "1 бал."),
        ("uk", 2, "2 бали."),
        ("uk", 5, "5 балів."),
        ("uk", 11, "11 балів."),
        ("uk", 21, "21 бал."),
        ("uk", 22, "22 бали."),
        ("uk", 25, "25 балів."),
        ("en", 1, "1 point expires on"),
        ("en", 2, "2 points expire on"),
        ("en", 21, "21 points expire on"),
    ],
)
def test_balance_expiry_plurals(texts: Texts, lang: str, points: int, word: str) -> None:
    text = texts.translator(lang)("balance-expiry", points=points, date="D")
    assert word in text


@pytest.mark.parametrize(
    ("lang", "n", "recorded", "adjusted", "days"),
    [
        ("uk", 1, "+1 бал.", "на -1 бал.", "через 1 день після"),
        ("uk", 3, "+3 бали.", "на -3 бали.", "через 3 дні після"),
        ("uk", 14, "+14 балів.", "на -14 балів.", "через 14 днів після"),
        ("uk", 21, "+21 бал.", "на -21 бал.", "через 21 день після"),
        ("ru", 1, "+1 балл.", "на -1 балл.", "через 1 день после"),
        ("ru", 3, "+3 балла.", "на -3 балла.", "через 3 дня после"),
        ("ru", 14, "+14 баллов.", "на -14 баллов.", "через 14 дней после"),
        ("en", 1, "+1 point.", "by -1 point.", "measured 1 day after"),
        ("en", 14, "+14 points.", "by -14 points.", "measured 14 days after"),
    ],
)
def test_staff_texts_agree_with_their_numbers(
    texts: Texts, lang: str, n: int, recorded: str, adjusted: str, days: str
) -> None:
    tr = texts.translator(lang)
    assert tr("purchase-recorded", amount="A", points=n).endswith(recorded)
    assert adjusted in tr("adjust-done", points=-n, shown=f"{-n:+d}", balance=0)
    assert days in tr("report-empty", days=n)


def test_consent_question_plurals_follow_the_caps(texts: Texts) -> None:
    en = texts.translator("en")
    assert "one message a week and 3 a month" in en(
        "consent-question", name="A", shop="S", per_week=1, per_month=3
    )
    assert "2 messages a week and 5 a month" in en(
        "consent-question", name="A", shop="S", per_week=2, per_month=5
    )
    ru = texts.translator("ru")
    assert "Не чаще 1 сообщения в неделю" in ru(
        "consent-question", name="A", shop="S", per_week=1, per_month=3
    )
    assert "Не чаще 5 сообщений в неделю" in ru(
        "consent-question", name="A", shop="S", per_week=5, per_month=9
    )


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_values_are_html_escaped(texts: Texts, lang: str) -> None:
    tr = texts.translator(lang)
    text = tr("consent-question", name="<b>&", shop="Spice & <i>Co</i>", per_week=1, per_month=3)
    assert "&lt;b&gt;&amp;" in text
    assert "Spice &amp; &lt;i&gt;Co&lt;/i&gt;" in text
    assert "<b>&" not in text
    # The shop's own markup in the text stays markup.
    assert "<b>Spice &amp;" in text


def test_numbers_are_not_escaped_but_formatted(texts: Texts) -> None:
    assert texts.translator("en")("balance-points", points=1500) == "<b>Your points: 1,500</b>"


def test_an_unknown_key_is_a_key_error(texts: Texts) -> None:
    with pytest.raises(KeyError, match="no-such-text"):
        texts.translator("en")("no-such-text")


def test_a_missing_argument_is_an_error_not_a_silent_gap(texts: Texts) -> None:
    with pytest.raises(ValueError, match="balance-points"):
        texts.translator("en")("balance-points")


def test_money_numbers_and_dates_follow_the_language(texts: Texts) -> None:
    assert "123.45" in texts.translator("en").money(12345, "UAH")
    assert "123,45" in texts.translator("uk").money(12345, "UAH")
    assert texts.translator("en").number(1234567) == "1,234,567"
    kyiv = ZoneInfo("Europe/Kyiv")
    # 23:30 UTC on 31 March is already 1 April in Kyiv.
    assert texts.translator("en").date(datetime(2026, 3, 31, 23, 30, tzinfo=UTC), kyiv) == "April 1, 2026"
    assert "квітня 2026" in texts.translator("uk").date(date(2026, 4, 1), kyiv)


# -- language resolution ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "telegram", "expected"),
    [
        ("ru", "en", "ru"),  # the customer's choice wins
        ("en", None, "en"),
        (None, "en", "en"),
        (None, "ru-RU", "ru"),
        (None, "UK", "uk"),
        (None, "en-GB", "en"),
        (None, "de", "uk"),  # not spoken: the shop's default
        (None, "", "uk"),
        (None, None, "uk"),
        ("de", "ru", "ru"),  # an unknown stored choice is ignored
    ],
)
def test_resolve_language(texts: Texts, chosen: str | None, telegram: str | None, expected: str) -> None:
    assert texts.resolve_language(chosen, telegram) == expected


def test_resolve_language_uses_the_configured_default() -> None:
    assert Texts.load("en").resolve_language(None, "pl") == "en"


# -- broken and incomplete files --------------------------------------------------------------------


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES, folder)
    return folder


def test_a_copy_of_the_templates_loads(templates: Path) -> None:
    assert Texts.load("ru", templates).translator("ru")("tier-new") == "Новый"


def test_a_syntax_error_names_the_file_and_line(templates: Path) -> None:
    path = templates / "uk" / "bot.ftl"
    lines = path.read_text("utf-8").splitlines()
    lines.insert(5, "broken-text = { $name")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    with pytest.raises(TextsError) as caught:
        Texts.load("uk", templates)
    assert str(caught.value).startswith(f"{path}:6: ")


def test_a_key_missing_in_one_language_is_reported(templates: Path) -> None:
    path = templates / "ru" / "bot.ftl"
    source = path.read_text("utf-8")
    path.write_text(re.sub(r"(?m)^stale-button = .*\n", "", source), "utf-8")
    with pytest.raises(TextsError) as caught:
        Texts.load("uk", templates)
    assert str(path) in str(caught.value)
    assert "stale-button" in str(caught.value)


def test_a_key_missing_in_english_is_reported_too(templates: Path) -> None:
    path = templates / "en" / "bot.ftl"
    source = path.read_text("utf-8")
    path.write_text(re.sub(r"(?m)^stale-button = .*\n", "", source), "utf-8")
    with pytest.raises(TextsError) as caught:
        Texts.load("uk", templates)
    assert str(path) in str(caught.value)
    assert "stale-button" in str(caught.value)


def test_a_missing_file_is_reported(templates: Path) -> None:
    (templates / "en" / "bot.ftl").unlink()
    with pytest.raises(TextsError, match="cannot read"):
        Texts.load("uk", templates)
