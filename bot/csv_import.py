"""Importing purchases from a CSV file: `retention-bot --config CFG purchases import FILE.csv [--dry-run]`.

The file
--------
UTF-8 text, with or without a byte-order mark. The first row is a header naming the columns, in any
order and any case; fields are separated by commas or by semicolons (whichever the header uses), and a
field holding the separator or a quote is quoted the usual CSV way (`"Pepper, black"`). Blank lines are
skipped.

============  ========  ======================================================================================
column        needed    what it holds
============  ========  ======================================================================================
purchase_id   yes       the shop's id of the purchase (receipt number), at most 100 characters
phone         one of    the customer's phone; written without a country code it is read in ``[shop]
card          the two   phone_region``. card: the loyalty card code (3–40 letters, digits or '-').
                        Each row needs a phone or a card (or both); the column may be left out when unused
amount        yes       the line's amount in currency units: ``125.50`` or ``125,50``, at most as many
                        decimals as the currency has
at            yes       when: an ISO-8601 date-time with a time zone (``2026-03-09T18:30:00+02:00``,
                        ``2026-03-09 16:30:00Z``), or a date ``2026-03-09``: noon in the shop's time zone
sku           no        the product's code on this line
name          no        the product's name on this line
qty           no        how many (a positive decimal, ``1.5`` or ``1,5`` for goods sold by weight); default 1
============  ========  ======================================================================================

Several rows with the same purchase_id are the lines of one purchase: its amount is the sum of their
amounts, and their phone, card and at must agree. A row with a sku or a name is also kept as a line
of the purchase's receipt (its amount as the line's price). A column not named here is an error.

What happens
------------
The whole file is checked first, and every bad row is reported with its line number and reason, e.g.
``line 17: amount: "12,3,4" is not an amount``. If any row is bad, nothing is imported (exit code 2).
Otherwise all purchases are recorded in one transaction, with the points they earn (source and actor
"import"): all of them or none. A purchase id imported before is skipped, so importing the same file
again changes nothing. ``--dry-run`` checks the file and tells what would be imported, changing nothing.

The parser (`parse_purchases_csv`) is a plain function returning (purchases, errors). Recording is
`LoyaltyService.record_batch` (the rules of every purchase: points, the customer found by card or phone or
created, the first-purchase bonus, referrals), and a dry run `LoyaltyService.preview_purchases`; this
module holds no SQL and no loyalty rule of its own, only the file, the progress bars and the report.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.rules.earning import parse_amount
from bot.rules.identity import normalize_card_code, normalize_phone
from bot.services.loyalty import LoyaltyError, LoyaltyService, PurchaseInput, PurchaseItem, PurchasesRefused
from bot.storage.db import Database

EXIT_OK = 0
EXIT_BAD_FILE = 2

SOURCE = "import"
ACTOR = "import"
REQUIRED_COLUMNS = ("purchase_id", "amount", "at")
CUSTOMER_COLUMNS = ("phone", "card")
COLUMNS = ("purchase_id", "phone", "card", "amount", "at", "sku", "name", "qty")
MAX_PURCHASE_ID = 100  # as LoyaltyService accepts
MAX_SKU, MAX_NAME = 100, 200  # as the till's API accepts
MAX_AMOUNT_MINOR = 10**15  # a line and a purchase; keeps sums far inside SQLite's 64-bit integers
FUTURE_SLACK = timedelta(days=1)  # as LoyaltyService accepts: a till's clock may run a little ahead
NOON = time(12, 0)
_ONE = Decimal(1)

_PROGRESS_EVERY = 2048  # rows between progress reports while parsing


# -- parsing and validating ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvError:
    """One problem: `line` is the file's line number (the header is line 1; 0: not about one line)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class CsvPurchase:
    """A purchase ready for LoyaltyService, with the file lines it came from (for messages)."""

    purchase: PurchaseInput
    lines: tuple[int, ...]


def _shown(value: str, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return '"' + text.replace('"', '\\"') + '"'


def _decode(data: bytes) -> tuple[str | None, CsvError | None]:
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, CsvError(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8")


def _lines(text: str) -> Iterator[str]:
    """The text's lines with their endings, one at a time (io.StringIO would hold a second, wider copy)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _sniff_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _read_header(names: list[str]) -> tuple[dict[str, int], list[CsvError]]:
    errors: list[CsvError] = []
    index: dict[str, int] = {}
    for position, raw in enumerate(names):
        name = raw.strip().lower()
        if name not in COLUMNS:
            shown = _shown(raw.strip()) if raw.strip() else f"number {position + 1} (no name)"
            errors.append(CsvError(1, f"unknown column {shown}; the columns are: {', '.join(COLUMNS)}"))
        elif name in index:
            errors.append(CsvError(1, f'column "{name}" appears twice'))
        else:
            index[name] = position
    for name in REQUIRED_COLUMNS:
        if name not in index:
            errors.append(CsvError(1, f'missing column "{name}"'))
    if not any(name in index for name in CUSTOMER_COLUMNS):
        errors.append(CsvError(1, 'missing column "phone" or "card" (at least one of them)'))
    return index, errors


@dataclass(slots=True)
class _Line:
    """One good row, with its customer and time as written (for messages about disagreeing lines)."""

    purchase_id: str
    phone: str | None
    card: str | None
    at: datetime
    amount_minor: int
    item: PurchaseItem | None
    raw_phone: str
    raw_card: str
    raw_at: str


class _RowReader:
    """Checks rows one by one, with caches: a file repeats its customers, times, amounts and products."""

    def __init__(self, header: list[str], index: dict[str, int], config: Config, now: datetime) -> None:
        self.width = len(header)
        # Every column, in COLUMNS order; one left out of the file reads the empty field added past the end.
        self._pick = itemgetter(*(index.get(name, self.width) for name in COLUMNS))
        self.digits = int(get_currency_precision(config.shop.currency))
        self.region = config.shop.phone_region
        self.zone: ZoneInfo = config.shop.zone
        self.latest = now + FUTURE_SLACK
        self._phones: dict[str, str | None] = {}
        self._cards: dict[str, str | None] = {}
        self._times: dict[str, datetime | str] = {}
        self._amounts: dict[str, int | str] = {}
        self._quantities: dict[str, Decimal | None] = {}
        self._texts: dict[str, str] = {}

    def read(self, row: list[str], line: int, errors: list[CsvError]) -> _Line | None:
        """The row's purchase line; None, with its problems added to `errors`, when it is bad."""
        if len(row) != self.width:
            errors.append(CsvError(line, f"expected {self.width} fields as in the header, found {len(row)}"))
            return None
        row.append("")
        purchase_id, raw_phone, raw_card, raw_amount, raw_at, sku, name, raw_qty = [
            value.strip() for value in self._pick(row)
        ]
        problems: list[str] = []
        if not purchase_id:
            problems.append("purchase_id: missing")
        elif len(purchase_id) > MAX_PURCHASE_ID:
            problems.append(f"purchase_id: longer than {MAX_PURCHASE_ID} characters")

        phone = card = None
        if not raw_phone and not raw_card:
            problems.append("phone, card: missing (give at least one of them)")
        if raw_phone and (phone := self._phone(raw_phone)) is None:
            problems.append(f"phone: {_shown(raw_phone)} is not a phone number")
        if raw_card and (card := self._card(raw_card)) is None:
            problems.append(f"card: {_shown(raw_card)} is not a card code (3–40 letters, digits or '-')")

        amount = self._amount(raw_amount) if raw_amount else "missing"
        if isinstance(amount, str):
            problems.append(f"amount: {_shown(raw_amount) + ' ' if raw_amount else ''}{amount}")

        at = self._at(raw_at) if raw_at else "missing"
        if isinstance(at, str):
            problems.append(f"at: {_shown(raw_at) + ' ' if raw_at else ''}{at}")

        qty = self._quantity(raw_qty) if raw_qty else _ONE
        if qty is None:
            problems.append(f"qty: {_shown(raw_qty)} is not a positive quantity")
        if len(sku) > MAX_SKU:
            problems.append(f"sku: longer than {MAX_SKU} characters")
        if len(name) > MAX_NAME:
            problems.append(f"name: longer than {MAX_NAME} characters")

        if problems or isinstance(amount, str) or isinstance(at, str) or qty is None:
            errors.extend(CsvError(line, problem) for problem in problems)
            return None
        item = None
        if sku or name:
            item = PurchaseItem(sku=self._text(sku), name=self._text(name), qty=qty, price_minor=amount)
        return _Line(purchase_id, phone, card, at, amount, item, raw_phone, raw_card, raw_at)

    def _text(self, value: str) -> str:
        """One copy of each product code and name, however many lines repeat it."""
        return self._texts.setdefault(value, value)

    def _phone(self, text: str) -> str | None:
        if text not in self._phones:
            self._phones[text] = normalize_phone(text, self.region)
        return self._phones[text]

    def _card(self, text: str) -> str | None:
        if text not in self._cards:
            self._cards[text] = normalize_card_code(text)
        return self._cards[text]

    def _quantity(self, text: str) -> Decimal | None:
        """A positive quantity; None when it is not one."""
        if text not in self._quantities:
            value = _decimal(text)
            self._quantities[text] = value if value is not None and value > 0 else None
        return self._quantities[text]

    def _at(self, text: str) -> datetime | str:
        """The moment, or what is wrong with the text."""
        found = self._times.get(text)
        if found is None:
            found = self._times[text] = self._read_at(text)
        return found

    def _read_at(self, text: str) -> datetime | str:
        problem = "is not a date-time with a time zone (2026-03-09T18:30:00+02:00) or a date (2026-03-09)"
        if len(text) == 10:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                return problem
            moment = datetime.combine(day, NOON, tzinfo=self.zone)
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return problem
            if moment.utcoffset() is None:
                return (
                    "has no time zone: add one (+02:00, Z) or give the date alone (noon in the shop's zone)"
                )
        try:
            if moment > self.latest:
                return "is in the future"
            return moment.astimezone(UTC)
        except OverflowError:
            return "is out of range"

    def _amount(self, text: str) -> int | str:
        """Minor units, or what is wrong with the text."""
        found = self._amounts.get(text)
        if found is None:
            found = self._amounts[text] = self._read_amount(text)
        return found

    def _read_amount(self, text: str) -> int | str:
        minor = parse_amount(text, self.digits)
        if minor is not None:
            return minor if minor <= MAX_AMOUNT_MINOR else "is too large"
        if _decimal(text.replace(" ", "").replace("\u00a0", "")) is not None and not text.startswith("-"):
            return f"has more than {self.digits} decimals"
        return "is not an amount"


def _decimal(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", ".")
    if not cleaned or not cleaned.replace(".", "", 1).lstrip("+-").isdigit():
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclass
class _Group:
    """The lines of one purchase id gathered so far; the first one sets the customer and the time."""

    first: _Line
    first_line: int
    amount_minor: int = 0
    lines: list[int] = field(default_factory=list)
    items: list[PurchaseItem] = field(default_factory=list)

    def add(self, checked: _Line, line: int, errors: list[CsvError]) -> None:
        first, found = self.first, len(errors)
        if not (checked.phone == first.phone and checked.card == first.card and checked.at == first.at):
            for column, mine, theirs, mine_raw, theirs_raw in (
                ("phone", checked.phone, first.phone, checked.raw_phone, first.raw_phone),
                ("card", checked.card, first.card, checked.raw_card, first.raw_card),
                ("at", checked.at, first.at, checked.raw_at, first.raw_at),
            ):
                if mine != theirs:
                    errors.append(
                        CsvError(
                            line,
                            f"{column}: {_shown(mine_raw)} differs from line {self.first_line} "
                            f"({_shown(theirs_raw)}) of the same purchase {_shown(checked.purchase_id)}",
                        )
                    )
        if self.amount_minor + checked.amount_minor > MAX_AMOUNT_MINOR:
            errors.append(
                CsvError(line, f"amount: the total of purchase {_shown(checked.purchase_id)} is too large")
            )
        if len(errors) > found:
            return
        self.amount_minor += checked.amount_minor
        self.lines.append(line)
        if checked.item is not None:
            self.items.append(checked.item)

    def purchase(self, currency: str) -> CsvPurchase:
        first = self.first
        return CsvPurchase(
            PurchaseInput(
                purchase_id=first.purchase_id,
                amount_minor=self.amount_minor,
                currency=currency,
                at=first.at,
                phone=first.phone,
                card=first.card,
                items=tuple(self.items),
            ),
            tuple(self.lines),
        )


def parse_purchases_csv(
    data: bytes,
    *,
    config: Config,
    now: datetime,
    progress: Callable[[int], object] | None = None,
) -> tuple[list[CsvPurchase], list[CsvError]]:
    """Read and check a whole purchases file (see the module's docstring for its columns).

    Returns the purchases in the order their ids first appear, and every problem found, by line;
    import the purchases only when there are no errors. `progress(n)` is told of every `n` rows read.
    Phones come out in E.164 and card codes upper-case; times in UTC (a date alone: noon in the
    shop's time zone). Nothing here touches the database.
    """
    text, decode_error = _decode(data)
    if text is None:
        assert decode_error is not None
        return [], [decode_error]
    end = text.find("\n")
    first_line = (text if end < 0 else text[:end]).rstrip("\r")
    if not first_line.strip():
        return [], [CsvError(1, f"no header row: the first line must name the columns ({','.join(COLUMNS)})")]
    reader = csv.reader(_lines(text), delimiter=_sniff_delimiter(first_line))
    try:
        header = next(reader)
    except csv.Error as exc:
        return [], [CsvError(1, f"cannot read the header: {exc}")]
    index, errors = _read_header(header)
    if errors:
        return [], errors

    rows = _RowReader(header, index, config, now)
    groups: dict[str, _Group] = {}
    previous_end = reader.line_num
    unreported = 0
    while True:
        line = previous_end + 1  # where the row starts: a quoted field may hold line breaks
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(CsvError(line, f"cannot read the row: {exc}"))
            break
        previous_end = reader.line_num
        unreported += 1
        if progress is not None and unreported >= _PROGRESS_EVERY:
            progress(unreported)
            unreported = 0
        if not "".join(row).strip():
            continue  # blank lines are allowed anywhere
        checked = rows.read(row, line, errors)
        if checked is None:
            continue
        group = groups.get(checked.purchase_id)
        if group is None:
            group = groups[checked.purchase_id] = _Group(checked, line)
        group.add(checked, line, errors)
    if progress is not None and unreported:
        progress(unreported)
    errors.sort(key=lambda e: e.line)  # stable: a line's problems stay in column order
    return [group.purchase(config.shop.currency) for group in groups.values()], errors


# -- recording ----------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, or (dry run) would do."""

    purchases: int = 0
    lines: int = 0
    new: int = 0
    duplicates: int = 0
    new_customers: int = 0
    amount_minor: int = 0  # all purchases in the file
    new_amount_minor: int = 0  # the new ones only
    points: int = 0  # earned by the new purchases
    bonus_points: int = 0  # first-purchase and referral bonuses
    dry_run: bool = False
    path: str = "batch"  # recorded as one batch by LoyaltyService.record_batch (the only path now)


def _refusals(refused: LoyaltyError, purchases: list[CsvPurchase]) -> list[CsvError]:
    """The loyalty rules' refusals as errors on the lines of the purchases refused."""
    if not isinstance(refused, PurchasesRefused):
        return [CsvError(0, f"refused by the loyalty rules: {refused}")]
    by_id = {p.purchase.purchase_id: p for p in purchases}
    errors: list[CsvError] = []
    for purchase_id, error in refused.refusals:
        item = by_id[purchase_id]
        if error.key == "error-card-phone-mismatch":
            card, phone = item.purchase.card or "", item.purchase.phone or ""
            message = f"card {_shown(card)} and phone {_shown(phone)} belong to different customers"
        else:
            message = f"refused by the loyalty rules: {error}"
        errors.append(CsvError(item.lines[0], message))
    return sorted(errors, key=lambda e: e.line)


async def import_purchases(
    db: Database,
    loyalty: LoyaltyService,
    config: Config,
    clock: Clock,
    purchases: list[CsvPurchase],
    *,
    dry_run: bool = False,
    progress: Callable[[int], object] | None = None,
) -> tuple[ImportReport, list[CsvError]]:
    """Record checked purchases all together in one transaction, or (dry run) only say what that would do.

    Errors (a card and a phone of different customers in the shop's records) mean nothing was recorded.
    `db`, `config` and `clock` are the ones `loyalty` was made with: it records and keeps time itself.
    """
    inputs = [p.purchase for p in purchases]
    try:
        if dry_run:
            summary = await loyalty.preview_purchases(inputs)
            if progress is not None:
                progress(len(purchases))
        else:
            summary = await loyalty.record_batch(inputs, actor=ACTOR, source=SOURCE, progress=progress)
    except LoyaltyError as refused:
        return ImportReport(dry_run=dry_run), _refusals(refused, purchases)
    report = ImportReport(
        purchases=len(purchases),
        lines=sum(len(p.lines) for p in purchases),
        new=summary.new,
        duplicates=summary.duplicates,
        new_customers=summary.new_customers,
        amount_minor=sum(p.amount_minor for p in inputs),
        new_amount_minor=summary.new_amount_minor,
        points=summary.points,
        bonus_points=summary.bonus_points,
        dry_run=dry_run,
    )
    return report, []


# -- the command --------------------------------------------------------------------------------------


def _money(minor: int, digits: int, currency: str) -> str:
    whole = f"{Decimal(minor).scaleb(-digits):,.{digits}f}".replace(",", " ")
    return f"{whole} {currency}"


def _bar(description: str, total: int | None, unit: str) -> Any:
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
    )


def print_report(report: ImportReport, name: str, digits: int, currency: str, out: TextIO) -> None:
    def say(text: str) -> None:
        print(text, file=out)

    amount = _money(report.amount_minor, digits, currency)
    new_amount = _money(report.new_amount_minor, digits, currency)
    bonus = f" (and {report.bonus_points} bonus points)" if report.bonus_points else ""
    head = f"{name}: {report.purchases} purchases in {report.lines} lines, {amount}"
    if report.dry_run:
        say(f"{head} — dry run, nothing was changed")
        say(f"  would import:       {report.new} new purchases, {new_amount}")
        say(f"  already imported:   {report.duplicates} (would be skipped)")
        say(f"  new customers:      {report.new_customers}")
        say(f"  points to earn:     {report.points}{bonus}")
    elif report.purchases == 0:
        say(f"{name}: no purchases in the file; nothing changed")
    elif report.new == 0:
        say(head)
        say(f"  nothing to import: all {report.duplicates} purchases were imported before; nothing changed")
    else:
        say(head)
        say(f"  imported:           {report.new} new purchases, {new_amount}")
        say(f"  already imported:   {report.duplicates} (skipped)")
        say(f"  new customers:      {report.new_customers}")
        say(f"  points earned:      {report.points}{bonus}")


async def import_file(
    db: Database,
    loyalty: LoyaltyService,
    config: Config,
    clock: Clock,
    path: Path,
    *,
    dry_run: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Check the file, then import it (or say what would be imported); the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=err)
        return EXIT_BAD_FILE
    rows = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - 1  # less the header
    with _bar("checking", max(rows, 1), " rows") as bar:
        purchases, errors = parse_purchases_csv(data, config=config, now=clock.now(), progress=bar.update)
    if errors:
        return _refuse(errors, path, err)
    with _bar("comparing" if dry_run else "importing", len(purchases), " purchases") as bar:
        report, errors = await import_purchases(
            db, loyalty, config, clock, purchases, dry_run=dry_run, progress=bar.update
        )
    if errors:
        return _refuse(errors, path, err)
    print_report(report, str(path), loyalty.currency_digits, config.shop.currency, out)
    return EXIT_OK


def _refuse(errors: list[CsvError], path: Path, err: TextIO) -> int:
    for error in errors:
        print(error, file=err)
    lines = len({e.line for e in errors if e.line})
    problem = f"{lines} bad line{'s' if lines != 1 else ''}" if lines else "refused"
    print(f"{path}: {problem}; nothing was imported", file=err)
    return EXIT_BAD_FILE


async def run_import_command(config: Config, path: Path, *, dry_run: bool, clock: Clock | None = None) -> int:
    """`retention-bot purchases import FILE.csv [--dry-run]`."""
    from bot.app import open_application

    clock = clock or SystemClock()
    async with open_application(config, clock) as data:
        return await import_file(data["db"], data["loyalty"], config, clock, path, dry_run=dry_run)
