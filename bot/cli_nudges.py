"""Operator commands: `nudges plan|run-once|status`, `templates check`, `export surveys FILE.csv`."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.clock import Clock, OffsetClock, SystemClock
from bot.config import Config, require_token
from bot.exports import to_csv_bytes

if TYPE_CHECKING:
    from bot.services.planner import PlanReport

# aiogram, the services and the templates are imported where they are used: building the argument
# parser (which every command does, `check-config` too) stays quick.

EXIT_OK = 0
EXIT_PROBLEMS = 1
RUN_ONCE_LINGER_S = 60.0


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    nudges = commands.add_parser("nudges", help="plan, send and inspect scheduled nudges")
    verbs = nudges.add_subparsers(dest="nudges_command", required=True, metavar="VERB")
    plan = verbs.add_parser("plan", help="who would get what, when, and why not")
    plan.add_argument("--now", type=_moment, default=None, help="ISO time with zone (default: now)")
    plan.add_argument("--dry-run", action="store_true", help="show the table, write nothing")
    plan.add_argument("--limit", type=int, default=200, help="rows of the table to show (default 200)")
    plan.add_argument(
        "--all",
        action="store_true",
        help="decide for every customer, not only those a rule can be due for (slow on a big shop)",
    )
    once = verbs.add_parser("run-once", help="plan and deliver as of a moment, then print a summary")
    once.add_argument("--now", type=_moment, default=None, help="ISO time with zone (default: now)")
    verbs.add_parser("status", help="outbox counts by rule and state")
    export = commands.add_parser("export", help="export data as CSV")
    export.add_argument("what", choices=["surveys"], help="what to export")
    export.add_argument("file", type=Path, metavar="FILE.csv")
    templates = commands.add_parser("templates", help="check the nudge templates")
    templates.add_subparsers(dest="templates_command", required=True, metavar="VERB").add_parser(
        "check", help="render every template in every language with sample data"
    )


def open_application_offline(config: Config) -> Any:
    from bot.app import open_application

    return open_application(config, SystemClock())


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time like 2026-11-23T10:00+02:00") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add +02:00 or Z")
    return moment


async def run(args: argparse.Namespace, config: Config, out: TextIO | None = None) -> int:
    # Looked up when called, not bound at import: output follows a redirected sys.stdout.
    out = out or sys.stdout
    if args.command == "templates":
        return check_templates(config, out)
    if args.command == "export":
        async with open_application_offline(config) as data:
            rows = await data["surveys"].export_rows()
        args.file.write_bytes(to_csv_bytes(rows))
        print(f"{args.file}: {len(rows) - 1} survey answers", file=out)
        return EXIT_OK
    clock: Clock = OffsetClock(args.now) if getattr(args, "now", None) else SystemClock()
    from bot.app import open_application
    from bot.storage import outbox as outbox_store
    from bot.telegram.dispatcher import build_bot
    from bot.telegram.sessions import telegram_session

    if args.nudges_command == "status":
        async with open_application(config, clock) as data:
            rows = await outbox_store.counts_by_state(data["db"])
        _print_status(rows, out)
        return EXIT_OK
    if args.nudges_command == "plan":
        async with open_application(config, clock) as data:
            report = await data["planner"].plan(
                dry_run=args.dry_run, every_customer=args.all, keep=args.limit
            )
        _print_plan(report, config, out, dry_run=args.dry_run)
        return EXIT_OK
    # run-once: a real bot talking to the configured Bot API.
    token = require_token(config)
    bot = build_bot(token, telegram_session(config.telegram.api_base))
    try:
        async with open_application(config, clock, bot) as data:
            delivery = data["delivery"]
            assert delivery is not None
            recovered = await delivery.recover()
            report = await data["planner"].plan()
            # Linger for flood-control waits (429 retry_after), so every due message is settled.
            delivered = await delivery.deliver_due(linger=RUN_ONCE_LINGER_S)
        _print_plan(report, config, out, dry_run=False)
        print(f"interrupted earlier, marked unknown: {recovered}", file=out)
        print(f"delivery attempts: {delivered.attempted}", file=out)
        for outcome, count in sorted(delivered.outcomes.items()):
            print(f"  {outcome}: {count}", file=out)
    finally:
        await bot.session.close()
    return EXIT_OK


def check_templates(config: Config, out: TextIO) -> int:
    from bot.services.nudges import sample_context
    from bot.templates import NudgeTemplates

    templates = NudgeTemplates.load(config.shop.currency, config.shop.zone, config.shop.default_language)
    # The rules' templates and every shipped one (survey follow-ups are not named by any rule).
    shipped = set(templates.names("en")) | set(templates.names(config.shop.default_language))
    names = sorted({step.template for rule in config.nudges.rules for step in rule.steps} | shipped)
    problems = templates.check(names, sample_context())
    for problem in problems:
        print(problem, file=out)
    if problems:
        print(f"{len(problems)} problem(s) in the templates", file=out)
        return EXIT_PROBLEMS
    print(f"templates OK: {len(names)} templates × 3 languages", file=out)
    return EXIT_OK


def _print_plan(report: PlanReport, config: Config, out: TextIO, *, dry_run: bool) -> None:
    zone = config.shop.zone
    if dry_run and report.decisions:
        header = (
            f"{'customer':>12}  {'rule':<20} {'step':>4}  {'outcome':<12} {'when (shop time)':<16}  reason"
        )
        print(header, file=out)
        print("-" * len(header), file=out)
        for d in report.decisions:
            when = d.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            print(
                f"{d.user_id:>12}  {d.rule:<20} {d.step:>4}  {d.outcome.value:<12} {when:<16}  {d.reason}",
                file=out,
            )
        print(file=out)
    print(f"customers looked at: {report.customers}", file=out)
    for (rule, outcome, reason), count in sorted(report.counts.items()):
        print(f"  {rule:<20} {outcome:<12} {reason:<28} {count}", file=out)
    if not dry_run:
        print(f"new outbox rows: {report.written}", file=out)


def _print_status(rows: list[tuple[str, str, int]], out: TextIO) -> None:
    if not rows:
        print("the outbox is empty", file=out)
        return
    print(f"{'rule':<20} {'state':<10} {'count':>8}", file=out)
    for rule, state, count in rows:
        print(f"{rule:<20} {state:<10} {count:>8}", file=out)
