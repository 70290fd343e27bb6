"""The texts the end-to-end tests expect are still what templates/<lang>/bot.ftl say (no emulator needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fluent.runtime import FluentBundle, FluentResource

from .texts import PART, TEXT

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SAMPLE: dict[str, str | int] = {
    "name": "Ann",
    "shop": "Shop",
    "points": 12,
    "date": "DATE",
    "tier": "TIER",
    "card": "CARD",
    "per_week": 1,
    "per_month": 3,
    "customers": 11,
    "opted_in": 12,
    "reachable": 13,
    "linked": 14,
    "erased": 15,
}


def render(lang: str, key: str) -> str:
    bundle = FluentBundle([lang], use_isolating=False)
    bundle.add_resource(FluentResource((TEMPLATES / lang / "bot.ftl").read_text("utf-8")))
    message = bundle.get_message(key)
    assert message.value is not None, f"{lang}: no text {key!r}"
    # A placeholder without a sample value renders as "{$name}": harmless unless an expected text has it.
    rendered, _ = bundle.format_pattern(message.value, SAMPLE)
    return str(rendered)


@pytest.mark.parametrize("lang", sorted(TEXT))
def test_whole_texts_match_templates(lang: str) -> None:
    for key, expected in TEXT[lang].items():
        assert render(lang, key) == expected.format(**SAMPLE), f"{lang} {key}"


@pytest.mark.parametrize("lang", sorted(PART))
def test_fragments_occur_in_templates(lang: str) -> None:
    for name, (key, fragment) in PART[lang].items():
        assert fragment.format(**SAMPLE) in render(lang, key), f"{lang} {name}"
