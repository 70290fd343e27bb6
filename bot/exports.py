"""CSV documents for owners: safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A customer's comment like `=HYPERLINK(...)` must not run as a formula when the owner opens the file;
    numbers (-10 points) stay numbers."""
    if not cell.startswith(_FORMULA_START):
        return cell
    try:
        Decimal(cell)
    except InvalidOperation:
        return "'" + cell
    return cell


def to_csv_bytes(rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read Cyrillic names correctly."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([spreadsheet_safe(str(cell)) for cell in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")
