"""A bad config file stops `retention-bot run` at once: exit code 2 and one stderr line naming the key.

Every case is its own `retention-bot` process (a few seconds of CPU each, mostly imports); they are
started together and each test checks its own. The finer points of config validation are unit-tested.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import bot_command, bot_environment

pytestmark = pytest.mark.e2e

SHOP = '[shop]\nname = "Test"\ntimezone = "Europe/Kyiv"\n'
TOKEN = "123456:never-used"

# id: (config after [database], BOT_TOKEN, what the one stderr line must say after "retention-bot: ")
CASES: dict[str, tuple[str, str | None, str]] = {
    "unknown-key": (SHOP.replace("timezone", "timezon"), TOKEN, "{config}: [shop] timezon: unknown key"),
    "bad-time-zone": (
        SHOP.replace("Europe/Kyiv", "Mars/Olympus_Mons"),
        TOKEN,
        "{config}: [shop] timezone: unknown time zone 'Mars/Olympus_Mons'",
    ),
    "wrong-type": ('[telegram]\npolling_timeout = "30"\n', TOKEN, "{config}: [telegram] polling_timeout: "),
    "no-token": (SHOP, None, "[telegram] token: missing (set the BOT_TOKEN environment variable)"),
}


@dataclass(frozen=True)
class Outcome:
    config: Path
    code: int
    stdout: str
    stderr: str
    database_created: bool


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    started: dict[str, tuple[Path, Path, subprocess.Popen[str]]] = {}
    try:
        for case, (toml, token, _) in CASES.items():
            folder = tmp_path_factory.mktemp(case)
            config = folder / "bot.toml"
            config.write_text(f'[database]\npath = "{folder / "bot.sqlite3"}"\n{toml}', encoding="utf-8")
            proc = subprocess.Popen(
                bot_command(config, "run"),
                env=bot_environment(token),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            started[case] = (config, folder / "bot.sqlite3", proc)
        results = {}
        for case, (config, database, proc) in started.items():
            stdout, stderr = proc.communicate(timeout=90)
            results[case] = Outcome(config, proc.returncode, stdout, stderr, database.exists())
        yield results
    finally:
        for _, _, proc in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_exits_2_with_one_line_naming_the_key(case: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case]
    expected = "retention-bot: " + CASES[case][2].format(config=outcome.config)

    assert outcome.code == 2, outcome.stderr
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith(expected), lines[0]
    assert outcome.stdout == ""
    assert not outcome.database_created  # it stopped before opening anything
