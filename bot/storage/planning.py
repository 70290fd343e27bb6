"""Read-only SQL that gathers what the nudge planner needs, one slice of customers at a time.

Slices keep memory flat however many customers the shop has; each query uses an index.
"""

from __future__ import annotations

from array import array
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from bot.clock import from_db, to_db
from bot.rules.nudges import CustomerFacts, DueWindow, Fact
from bot.rules.pacing import zone_or
from bot.storage.db import Reader, fetch_packed, json_values


@dataclass(slots=True)  # not frozen: a million are made in a planning run, and frozen ones cost twice
class CustomerRow(CustomerFacts):
    """A customer's record and purchase summary: the facts rules decide from (the planner adds when they
    are late and when their points expire, where it can matter), and what it needs to find the rest.
    One object, not a row and then the facts: planning reads hundreds of thousands."""

    account_id: int | None = None
    median_gap_days: float | None = None
    # Bit i set: the customer is inside due window i (all set when no windows were asked for).
    due_mask: int = -1


def _time(text: str | None) -> datetime | None:
    return from_db(text) if text else None


def _first(row: Sequence[Any]) -> Any:
    return row[0]


# Doubles whose shortest exact decimal has 17 digits, the largest and the smallest: SQLite writes them
# with its own printf, in long double arithmetic where that has more bits than a double.
_REAL_PROBES = (0.1 + 0.2, 35.198622685185185, 1 / 3, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324)
_reals_exact_as_text: bool | None = None


async def _reals_come_back_from_text(q: Reader) -> bool:
    """Whether this SQLite writes a REAL as text (printf's %!.20e) that reads back as the same float."""
    global _reals_exact_as_text
    if _reals_exact_as_text is None:
        marks = ", ".join("printf('%!.20e', ?)" for _ in _REAL_PROBES)
        written = await q.fetch_one(f"SELECT {marks}", _REAL_PROBES)
        _reals_exact_as_text = written is not None and all(
            float(text) == value for text, value in zip(written, _REAL_PROBES, strict=True)
        )
    return _reals_exact_as_text


# The period (see bot/rules/nudges.py `_trigger`) of a rule firing from each fact, where SQL can tell it.
_PERIOD = {
    Fact.CONSENT_AT: "'once'",
    Fact.FIRST_PURCHASE_AT: "substr(a.first_purchase_at, 1, 10)",
    Fact.LAST_PURCHASE_AT: "substr(a.last_purchase_at, 1, 10)",
    Fact.LATE_SINCE: "substr(a.last_purchase_at, 1, 10)",
    Fact.RESTOCK_DUE_AT: "a.restock_sku || '@' || substr(a.restock_due_at, 1, 10)",
}
# Uncorrelated subqueries: SQLite builds their result once per statement, not once per customer.
_EXPIRING = (
    "a.id IN (SELECT l.account_id FROM points_ledger l WHERE l.expires_at >= ? AND l.expires_at <= ? "
    "AND l.points > 0)"
)


def _moment(at: datetime | None) -> str | None:
    return to_db(at) if at is not None else None


def _julian(moment: datetime) -> float:
    return moment.timestamp() / 86400 + 2440587.5


@dataclass(frozen=True)
class _WindowSql:
    where: str  # inside the window and not yet given the rule for this period, or mid-steps
    where_params: list[Any]
    # SELECTs of user ids with their parameters, together a superset of `where`'s customers, each read
    # through the index it names (migration 0008).
    candidates: list[tuple[str, list[Any]]]


def _between(expr: str, start: Any, end: Any, terms: list[str], params: list[Any]) -> None:
    if start is not None:
        terms.append(f"{expr} >= ?")
        params.append(start)
    if end is not None:
        terms.append(f"{expr} <= ?")
        params.append(end)


_ACCOUNT_INDEX = {
    Fact.FIRST_PURCHASE_AT: "loyalty_accounts_first_purchase",
    Fact.LAST_PURCHASE_AT: "loyalty_accounts_last_purchase",
    Fact.RESTOCK_DUE_AT: "loyalty_accounts_restock_due",
}
# Customers late by their own rhythm about now, through the index on whole days of median gap and last
# purchase (migration 0008): one range of last purchases for each day count (`_late_ranges`).
_LATE_CANDIDATES = """
    SELECT a.user_id FROM json_each(?) r JOIN loyalty_accounts a INDEXED BY loyalty_accounts_rhythm
      ON CAST(a.median_gap_days AS INTEGER) = json_extract(r.value, '$[0]')
     AND a.last_purchase_at >= json_extract(r.value, '$[1]')
     AND a.last_purchase_at <= json_extract(r.value, '$[2]')
    WHERE a.median_gap_days > 0 AND a.user_id IS NOT NULL AND a.purchase_count >= ?
    """
_LATE_SLACK = timedelta(minutes=2)  # wider than the window's own minute each side


def _late_ranges(
    start: datetime, end: datetime, after: datetime, multiple: float
) -> list[tuple[int, str, str]]:
    """(d, from, to): a customer whose median gap is d to d + 1 days is late between `start` and `end` only
    if their last purchase lies between from and to (late = last purchase + multiple × median gap), and
    after `after`. Day counts whose range ends before `after` find nobody and are left out."""
    ranges: list[tuple[int, str, str]] = []
    day = 0
    while (upto := end + _LATE_SLACK - timedelta(days=day * multiple)) > after:
        since = max(start - _LATE_SLACK - timedelta(days=(day + 1) * multiple), after)
        ranges.append((day, to_db(since), to_db(upto)))
        day += 1
    return ranges


def _in_range(table: str, index: str, column: str, w: DueWindow, *also: str) -> tuple[str, list[Any]]:
    """Candidates whose `column` lies in the window's range, read through `index` (a partial index on
    `column IS NOT NULL` and `also`)."""
    conditions = [f"{column} IS NOT NULL", *also]
    found: list[Any] = []
    _between(column, _moment(w.start), _moment(w.end), conditions, found)
    return f"SELECT user_id FROM {table} INDEXED BY {index} WHERE {' AND '.join(conditions)}", found


def _window_sql(w: DueWindow) -> _WindowSql:
    terms: list[str] = []
    params: list[Any] = []
    candidates: list[tuple[str, list[Any]]] = []

    def between(expr: str, start: Any, end: Any) -> None:
        _between(expr, start, end, terms, params)

    match w.fact:
        case Fact.CONSENT_AT:
            between("c.consent_at", _moment(w.start), _moment(w.end))
            candidates.append(_in_range("customers", "customers_consent_at", "consent_at", w))
        case Fact.FIRST_PURCHASE_AT | Fact.LAST_PURCHASE_AT | Fact.RESTOCK_DUE_AT:
            between(f"a.{w.fact.value}", _moment(w.start), _moment(w.end))
            # `user_id IS NOT NULL` lets SQLite use the partial index (an unlinked record is nobody's).
            candidates.append(
                _in_range("loyalty_accounts", _ACCOUNT_INDEX[w.fact], w.fact.value, w, "user_id IS NOT NULL")
            )
        case Fact.LATE_SINCE:
            terms += ["a.purchase_count >= ?", "a.median_gap_days > 0", "a.last_purchase_at > ?"]
            params += [w.min_purchases, _moment(w.last_purchase_after)]
            if w.start is not None and w.end is not None and w.last_purchase_after and w.late_multiple > 0:
                ranges = _late_ranges(w.start, w.end, w.last_purchase_after, w.late_multiple)
                candidates.append((_LATE_CANDIDATES, [orjson.dumps(ranges).decode(), w.min_purchases]))
            else:  # not a window `due_windows` makes: whoever has a rhythm
                candidates.append(("SELECT user_id FROM loyalty_accounts WHERE user_id IS NOT NULL", []))
            # In days, a minute wider each side than the rules' exact Decimal arithmetic.
            late = f"(julianday(a.last_purchase_at) + a.median_gap_days * {w.late_multiple!r})"
            slack = 1 / 1440
            between(
                late,
                None if w.start is None else _julian(w.start) - slack,
                None if w.end is None else _julian(w.end) + slack,
            )
        case Fact.BIRTHDAY:
            marks = ", ".join("?" * len(w.days))
            terms.append(f"c.birthday IN ({marks})")
            params += list(w.days)
            candidates.append(
                (
                    "SELECT user_id FROM customers INDEXED BY customers_birthday "
                    f"WHERE birthday IN ({marks})",
                    list(w.days),
                )
            )
        case Fact.POINTS_EXPIRING:
            terms.append(_EXPIRING)
            params += [_moment(w.start), _moment(w.end)]
            candidates.append(
                (
                    "SELECT a.user_id FROM points_ledger l INDEXED BY points_ledger_expiring "
                    "JOIN loyalty_accounts a ON a.id = l.account_id "
                    "WHERE l.expires_at >= ? AND l.expires_at <= ? AND l.points > 0 "
                    "AND a.user_id IS NOT NULL",
                    [_moment(w.start), _moment(w.end)],
                )
            )
    if w.win_back:
        terms.append("c.no_win_back = 0")
    # Not given the rule for this period yet, nor sent it within its cooldown: one look at the
    # customer's messages of the rule (the outbox's key begins with customer and rule), where two
    # looks were a third of the statement. The period first: it is in the key, so a row that matches
    # it is not read from the table.
    period = _PERIOD.get(w.fact)
    given = [f"o.period = {period}"] if period is not None else []
    if w.cooled_after is not None:
        given.append("o.sent_at > ?")
    if given:
        terms.append(
            "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.user_id = c.user_id AND o.rule = ? "
            f"AND ({' OR '.join(given)}))"
        )
        params.append(w.rule)
        if w.cooled_after is not None:
            params.append(_moment(w.cooled_after))
    sql = "(" + " AND ".join(terms) + ")"
    if w.next_step_sent is None:
        return _WindowSql(sql, params, candidates)
    # In the middle of the rule's steps (of this period, where SQL can tell it): the last step so far
    # sent, and no later step written yet.
    customer = f"(c.user_id, {period})" if period is not None else "c.user_id"
    sent = "o.user_id, o.period" if period is not None else "o.user_id"
    sequence = f"""{customer} IN (
        SELECT {sent} FROM outbox o WHERE o.rule = ? AND o.state = 'sent' AND o.sent_at BETWEEN ? AND ?
          AND NOT EXISTS (SELECT 1 FROM outbox n WHERE n.user_id = o.user_id AND n.rule = o.rule
                          AND n.period = o.period AND n.step > o.step))"""
    since, before = w.next_step_sent
    sequence_params = [w.rule, _moment(since), _moment(before)]
    return _WindowSql(
        f"({sql} OR {sequence})",
        [*params, *sequence_params],
        [
            *candidates,
            (
                "SELECT user_id FROM outbox INDEXED BY outbox_rule_sent "
                "WHERE rule = ? AND state = 'sent' AND sent_at BETWEEN ? AND ?",
                sequence_params,
            ),
        ],
    )


async def due_candidates(q: Reader, due: Sequence[DueWindow]) -> list[array[int]]:
    """For each window, in id order, the user ids its index finds: a superset of the customers inside it
    (or in the middle of its rule's steps). Ids only, read from the indexes (migration 0008) in one
    statement; which of them are inside is for `due_masks`, a slice at a time."""
    if not due:
        return []
    columns: list[str] = []
    params: list[Any] = []
    for w in due:
        candidates = _window_sql(w).candidates
        columns.append(
            f"(SELECT json_group_array(user_id) FROM ({' UNION '.join(sql for sql, _ in candidates)}))"
        )
        params += [p for _, found in candidates for p in found]
    # fetch_all: one trip to the connection's thread (fetch_one takes three, each waiting for the event
    # loop, which the planner keeps busy deciding).
    (row,) = await q.fetch_all(f"SELECT {', '.join(columns)}", params)
    # 8 bytes an id, not a Python int's 36.
    return [array("q", sorted(orjson.loads(found or "[]"))) for found in row]


async def due_masks(
    q: Reader, due: Sequence[DueWindow], candidates: Sequence[Sequence[int]], *, only_eligible: bool
) -> tuple[array[int], array[int]]:
    """Of the customers `candidates[i]` for each window i (some of what `due_candidates` found), those
    inside at least one window, in id order, and for each a mask: bit i set when inside window i (so rule
    i's first or next step can be due). `only_eligible`: consent granted and reachable.

    Each window is looked at only for its own candidates. Looking at every window for every customer
    (a million) was half the reading of a planning run; so was looking again, for the customers found,
    at which windows they are in."""
    selects: list[str] = []
    params: list[Any] = []
    eligible = "c.consent = 'granted' AND c.reachable = 1 AND " if only_eligible else ""
    for i, (w, ids) in enumerate(zip(due, candidates, strict=True)):
        if not ids:
            continue
        clause = _window_sql(w)
        selects.append(
            f"SELECT c.user_id, {1 << i} AS bit FROM customers c "
            "LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id "
            f"WHERE c.user_id IN (SELECT value FROM json_each(?)) AND {eligible}{clause.where}"
        )
        params += [json_values(ids), *clause.where_params]
    if not selects:
        return array("q"), array("q")
    (row,) = await q.fetch_all(  # fetch_all: one trip (see due_candidates)
        "SELECT json_group_array(user_id), json_group_array(mask) FROM ("
        f"SELECT user_id, SUM(bit) AS mask FROM ({' UNION ALL '.join(selects)}) "
        "GROUP BY user_id ORDER BY user_id)",
        params,
    )
    return array("q", orjson.loads(row[0])), array("q", orjson.loads(row[1]))


# `customers_slice`'s columns as read through `fetch_packed`: the median gap as exact text.
_SLICE_PACKED = (
    "user_id", "consent_granted_at", "reachable", "frequency", "paused_until", "timezone", "birthday",
    "no_win_back", "account_id", "purchase_count", "first_purchase_at", "last_purchase_at",
    "CASE WHEN median_gap_days IS NOT NULL THEN printf('%!.20e', median_gap_days) END",
    "restock_sku", "restock_due_at",
)  # fmt: skip


_SLICE_COLUMNS = """
    c.user_id, CASE WHEN c.consent = 'granted' THEN c.consent_at END AS consent_granted_at, c.reachable,
    c.frequency, c.paused_until, c.timezone, c.birthday, c.no_win_back, a.id AS account_id,
    a.purchase_count, a.first_purchase_at, a.last_purchase_at, a.median_gap_days, a.restock_sku,
    a.restock_due_at"""
_ELIGIBLE = " AND c.consent = 'granted' AND c.reachable = 1"


async def customers_slice(
    q: Reader, after_user: int, limit: int, shop_zone: ZoneInfo, *, only_eligible: bool
) -> list[CustomerRow]:
    """Customers with user_id > after_user, in id order, with their purchase summary; their zone is
    the shop's unless they gave a known one. `only_eligible`: consent granted and reachable.
    """
    return await _customer_rows(
        q,
        shop_zone,
        f"""
        SELECT {_SLICE_COLUMNS}
        FROM customers c LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id
        WHERE c.user_id > ?{_ELIGIBLE if only_eligible else ""}
        ORDER BY c.user_id LIMIT ?
        """,
        (after_user, limit),
    )


async def customers_among(
    q: Reader, user_ids: Sequence[int], shop_zone: ZoneInfo, *, only_eligible: bool
) -> list[CustomerRow]:
    """These customers (distinct ids; those still there), in id order, as `customers_slice` reads them,
    e.g. the next of `due_masks`; their `due_mask` is left for the caller. `only_eligible`: consent
    granted and reachable.
    """
    # The ids drive the join (CROSS JOIN keeps them the outer loop): `IN (SELECT … json_each)` first
    # copied them into a temporary index, a quarter of the statement's time.
    return await _customer_rows(
        q,
        shop_zone,
        f"""
        SELECT {_SLICE_COLUMNS}
        FROM json_each(?) j CROSS JOIN customers c ON c.user_id = j.value
        LEFT JOIN loyalty_accounts a ON a.user_id = c.user_id
        WHERE true{_ELIGIBLE if only_eligible else ""}
        """,
        (json_values(user_ids),),
    )


async def _customer_rows(
    q: Reader, shop_zone: ZoneInfo, sql: str, params: Sequence[Any]
) -> list[CustomerRow]:
    """The rows of `sql`, which selects `_SLICE_COLUMNS`, in id order (whatever order `sql` gives)."""
    rows: list[Any]
    if await _reals_come_back_from_text(q):
        # The slice as one JSON array, in one row: the connection's thread then takes Python's lock
        # (GIL) once, not once a customer. Row by row, it waited for the lock while the planner decided
        # the last slice, for longer than SQLite took. JSON keeps 15 digits of a REAL: the median gap
        # goes as text with 21, which this SQLite turns out exactly (checked once, below).
        rows = await fetch_packed(q, sql, params, _SLICE_PACKED)
    else:
        rows = await q.fetch_all(sql, params)
    # Mostly in order already (an aggregate keeps its subquery's order in practice, and the ids come
    # sorted), where sorting is one pass.
    rows.sort(key=_first)
    zones: dict[str, ZoneInfo] = {}

    def zone_of(name: str) -> ZoneInfo:
        if (zone := zones.get(name)) is None:
            zone = zones[name] = zone_or(name, shop_zone)
        return zone

    # Positional, unpacked: a planning run makes hundreds of thousands of these.
    return [
        CustomerRow(
            user_id,
            _time(consent_granted_at),
            bool(reachable),
            frequency,
            _time(paused_until),
            shop_zone if timezone is None else zone_of(timezone),
            birthday,
            purchases or 0,
            _time(first_purchase_at),
            _time(last_purchase_at),
            None,
            None,
            (restock_sku, from_db(restock_due_at)) if restock_sku and restock_due_at else None,
            bool(no_win_back),
            account_id,
            None if median_gap_days is None else float(median_gap_days),  # JSON: text
        )
        for (
            user_id,
            consent_granted_at,
            reachable,
            frequency,
            paused_until,
            timezone,
            birthday,
            no_win_back,
            account_id,
            purchases,
            first_purchase_at,
            last_purchase_at,
            median_gap_days,
            restock_sku,
            restock_due_at,
        ) in rows
    ]


async def product_name(q: Reader, account_id: int, sku: str) -> str | None:
    value = await q.fetch_value(
        """
        SELECT i.name FROM purchase_items i JOIN purchases p ON p.id = i.purchase_id
        WHERE p.account_id = ? AND i.sku = ? ORDER BY p.at DESC LIMIT 1
        """,
        (account_id, sku),
    )
    return str(value) if value else None


async def favourite_products(q: Reader, account_ids: Iterable[int]) -> dict[int, str]:
    """`favourite_product` of each of these accounts, in one query; accounts with no product are left out."""
    rows = await fetch_packed(
        q,
        """
        SELECT account_id, name FROM (
            SELECT p.account_id, i.name, ROW_NUMBER() OVER (
                PARTITION BY p.account_id ORDER BY COUNT(DISTINCT p.id) DESC, MAX(p.at) DESC
            ) AS place
            FROM purchase_items i JOIN purchases p ON p.id = i.purchase_id
            WHERE p.account_id IN (SELECT value FROM json_each(?))
            GROUP BY p.account_id, i.sku
        ) WHERE place = 1
        """,
        (json_values(account_ids),),
        ("account_id", "name"),
    )
    return {int(account_id): str(name) for account_id, name in rows if name}


async def last_purchases_at(q: Reader, account_ids: Iterable[int]) -> dict[int, datetime]:
    """`last_purchase_at` of each of these accounts, in one query; accounts with no purchase are left out."""
    rows = await fetch_packed(
        q,
        "SELECT account_id, MAX(at) AS at FROM purchases "
        "WHERE account_id IN (SELECT value FROM json_each(?)) GROUP BY account_id",
        (json_values(account_ids),),
        ("account_id", "at"),
    )
    return {int(account_id): from_db(at) for account_id, at in rows if at}


async def iter_customers(
    q: Reader, shop_zone: ZoneInfo, *, only_eligible: bool, slice_size: int = 20_000
) -> AsyncIterator[CustomerRow]:
    """Every customer in id order, a slice at a time (memory stays flat however many there are)."""
    after = 0
    while rows := await customers_slice(q, after, slice_size, shop_zone, only_eligible=only_eligible):
        after = rows[-1].user_id
        for row in rows:
            yield row
