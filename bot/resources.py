"""Where the shop-editable files live: the repository's top folders, or inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """`migrations` or `templates`: beside the package in a checkout, in bot/_resources in a wheel."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_resources" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder next to {_PACKAGE}")
