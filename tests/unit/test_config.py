"""bot.config: defaults, one line per problem naming the key, environment, files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.config import (
    TELEGRAM_API_BASE,
    Config,
    ConfigError,
    load_config,
    parse_config,
    require_token,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("no_bot_token")


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "shop.toml")
    return str(caught.value)


def test_empty_document_gives_the_defaults() -> None:
    config = parse_config({})
    assert config.telegram.token == ""
    assert config.telegram.api_base == TELEGRAM_API_BASE
    assert config.telegram.polling_timeout == 30
    assert config.database.path == "retention.sqlite3"
    assert config.database.busy_timeout_ms == 5000
    assert config.shop.timezone == "Europe/Kyiv"
    assert config.shop.zone.key == "Europe/Kyiv"
    assert config.shop.currency == "UAH"
    assert config.shop.default_language == "uk"
    assert config.shop.phone_region == "UA"
    assert config.staff.owners == [] and config.staff.staff == []
    assert config.consent.text_version == "1"
    assert (config.marketing.max_per_7_days, config.marketing.max_per_30_days) == (1, 3)
    assert config.loyalty.tier_basis == "purchases"
    assert (config.loyalty.regular_from, config.loyalty.loyal_from) == (3, 10)
    assert config.loyalty.points_expire_months == 12


def test_valid_values_are_kept() -> None:
    config = parse_config(
        {
            "telegram": {"api_base": "http://127.0.0.1:8081/", "polling_timeout": 5},
            "shop": {
                "name": "Spice & Co",
                "timezone": "Europe/London",
                "currency": "GBP",
                "phone_region": "GB",
            },
            "staff": {"owners": [7], "staff": [8, 9]},
            "loyalty": {"tier_basis": "spend", "regular_from": 100, "loyal_from": 1000},
        }
    )
    assert config.telegram.api_base == "http://127.0.0.1:8081"  # trailing slash dropped
    assert config.shop.currency == "GBP"
    assert config.staff.everyone == [7, 8, 9]
    assert config.staff.is_owner(7) and not config.staff.is_owner(8)
    assert config.staff.is_staff(8) and config.staff.is_staff(7) and not config.staff.is_staff(10)
    assert config.loyalty.tier_basis == "spend"


@pytest.mark.parametrize(
    ("data", "where", "problem"),
    [
        ({"shop": {"nmae": "x"}}, "[shop] nmae:", "unknown key"),
        ({"shoop": {"name": "x"}}, "shoop:", "unknown key"),
        ({"database": {"busy_timeout_ms": "5000"}}, "[database] busy_timeout_ms:", "'5000'"),
        ({"telegram": {"polling_timeout": "30"}}, "[telegram] polling_timeout:", "integer"),
        ({"telegram": {"polling_timeout": 0}}, "[telegram] polling_timeout:", "greater than or equal to 1"),
        ({"telegram": {"token": 123}}, "[telegram] token:", "string"),
        ({"staff": {"owners": ["@boss"]}}, "[staff] owners[0]:", "'@boss'"),
        ({"staff": {"staff": [5, "6"]}}, "[staff] staff[1]:", "'6'"),
        ({"staff": {"owners": [0]}}, "[staff] owners[0]:", "greater than 0"),
        ({"staff": {"owners": 5}}, "[staff] owners:", "list"),
        ({"shop": {"timezone": "Mars/Base"}}, "[shop] timezone:", "unknown time zone 'Mars/Base'"),
        ({"shop": {"timezone": "Kyiv"}}, "[shop] timezone:", "unknown time zone"),
        # A folder of zones, and a name too long for a file name: ZoneInfo raises OSError for both.
        ({"shop": {"timezone": "Europe"}}, "[shop] timezone:", "unknown time zone 'Europe'"),
        ({"shop": {"timezone": "Europe/" + "K" * 300}}, "[shop] timezone:", "unknown time zone"),
        ({"shop": {"currency": "uah"}}, "[shop] currency:", "unknown currency 'uah'"),
        ({"shop": {"currency": "HRYVNIA"}}, "[shop] currency:", "unknown currency"),
        ({"shop": {"currency": "ZZZ"}}, "[shop] currency:", "unknown currency 'ZZZ'"),
        ({"shop": {"default_language": "de"}}, "[shop] default_language:", "'ru', 'uk' or 'en'"),
        ({"shop": {"phone_region": "Ukraine"}}, "[shop] phone_region:", "unknown region"),
        ({"loyalty": {"regular_from": 5, "loyal_from": 5}}, "loyalty", "loyal_from must be greater"),
        ({"loyalty": {"regular_from": 9, "loyal_from": 3}}, "loyalty", "loyal_from must be greater"),
        ({"loyalty": {"tier_basis": "visits"}}, "[loyalty] tier_basis:", "'purchases' or 'spend'"),
        ({"marketing": {"max_per_7_days": 4}}, "marketing", "max_per_30_days must be at least"),
        ({"telegram": {"api_base": "api.telegram.org"}}, "[telegram] api_base:", "http:// or https://"),
        ({"telegram": {"api_base": "ftp://example.org"}}, "[telegram] api_base:", "http:// or https://"),
        ({"consent": {"text_version": ""}}, "[consent] text_version:", "at least 1"),
        ({"delivery": {"messages_per_second": 31}}, "delivery", "needs paid_broadcast = true"),
        ({"delivery": {"messages_per_second": 1001, "paid_broadcast": True}}, "messages_per_second", "1000"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(data: dict[str, Any], where: str, problem: str) -> None:
    message = error_of(data)
    assert len(message.splitlines()) == 1
    assert message.startswith("shop.toml: ")
    assert where in message
    assert problem in message


def test_paid_broadcasts_allow_up_to_1000_messages_a_second() -> None:
    assert parse_config({"delivery": {"messages_per_second": 30}}).delivery.paid_broadcast is False
    paid = parse_config({"delivery": {"messages_per_second": 1000, "paid_broadcast": True}})
    assert paid.delivery.messages_per_second == 1000


def test_every_problem_gets_its_own_line() -> None:
    message = error_of({"shop": {"timezone": "Nowhere/Land", "currency": "uah"}, "staff": {"owners": ["x"]}})
    lines = message.splitlines()
    assert len(lines) == 3
    assert any("[shop] timezone:" in line for line in lines)
    assert any("[shop] currency:" in line for line in lines)
    assert any("[staff] owners[0]:" in line for line in lines)
    assert all(line.startswith("shop.toml: ") for line in lines)


def test_bot_token_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:from-env")
    assert parse_config({"telegram": {"token": "456:from-file"}}).telegram.token == "123:from-env"
    assert parse_config({}).telegram.token == "123:from-env"


def test_an_empty_bot_token_in_the_environment_does_not_erase_the_file_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "")
    assert parse_config({"telegram": {"token": "456:from-file"}}).telegram.token == "456:from-file"


def test_require_token() -> None:
    assert require_token(parse_config({"telegram": {"token": "123456:ABC-def"}})) == "123456:ABC-def"
    with pytest.raises(ConfigError, match=r"\[telegram\] token: missing .*BOT_TOKEN"):
        require_token(parse_config({}))
    for bad in ("not-a-token", "abc:def", "123:", ":secret"):
        with pytest.raises(ConfigError, match=r"\[telegram\] token: does not look like a bot token"):
            require_token(parse_config({"telegram": {"token": bad}}))


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[shop]\nname = "Зерно"\ncurrency = "EUR"\n[staff]\nowners = [42]\n', "utf-8")
    config = load_config(path)
    assert config.shop.name == "Зерно"
    assert config.shop.currency == "EUR"
    assert config.staff.owners == [42]


def test_load_config_names_the_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[shop]\ntimezone = "Mars/Base"\n', "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: [shop] timezone: unknown time zone")


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_load_config_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[shop\nname = 'x'\n", "utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes('[shop]\nname = "Зерно"\n'.encode("cp1251"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_the_example_config_is_valid() -> None:
    config = load_config(REPO / "config.example.toml")
    assert isinstance(config, Config)
    assert config.shop.name == "Кав'ярня «Зерно»"


def test_the_example_config_documents_only_real_keys() -> None:
    """Every key in the example is one the code knows (extra keys are errors, so this is also parse)."""
    data = tomllib.loads((REPO / "config.example.toml").read_text("utf-8"))
    for section, values in data.items():
        assert section in Config.model_fields, section
        section_model = Config.model_fields[section].annotation
        assert section_model is not None
        for key in values:
            assert key in section_model.model_fields, f"[{section}] {key}"


def test_the_example_config_documents_every_key() -> None:
    """README promises that config.example.toml documents every key: a new setting must be added there."""
    data = tomllib.loads((REPO / "config.example.toml").read_text("utf-8"))
    for section, field in Config.model_fields.items():
        assert section in data, f"[{section}] is not in config.example.toml"
        section_model = field.annotation
        assert section_model is not None
        for key in section_model.model_fields:
            assert key in data[section], f"[{section}] {key} is not in config.example.toml"
