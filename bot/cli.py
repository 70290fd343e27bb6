"""`retention-bot`: run, migrate, demo, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot import cli_nudges
from bot.config import Config, ConfigError, load_config
from bot.storage.db import Database, SchemaError
from bot.texts import TextsError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retention-bot", description="A Telegram bot that brings customers back."
    )
    parser.add_argument(
        "--config", type=Path, default=Path("config.toml"), help="TOML file (default: config.toml)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run the bot with long polling (BOT_TOKEN from the environment)")
    commands.add_parser("migrate", help="bring the database schema up to date and exit")
    commands.add_parser("check-config", help="validate the configuration file and exit")
    demo = commands.add_parser("demo", help="a terminal chat with a demo shop: no token, no network")
    demo.add_argument("--db", type=Path, default=None, help="keep the demo database in this file")
    purchases = commands.add_parser("purchases", help="purchases reported by the shop")
    purchase_actions = purchases.add_subparsers(dest="purchases_action", required=True, metavar="ACTION")
    purchase_import = purchase_actions.add_parser(
        "import",
        help="import purchases from a CSV file in one transaction (exit code 2 and nothing imported "
        "when any line is bad)",
    )
    purchase_import.add_argument("file", type=Path, metavar="FILE.csv", help="see the README for the columns")
    purchase_import.add_argument(
        "--dry-run", action="store_true", help="check the file and say what would be imported; change nothing"
    )
    cli_nudges.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "demo":
            from bot.demo import run_demo

            logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.WARNING)
            return asyncio.run(run_demo(args.db))
        config = load_config(args.config)
        if args.command == "check-config":
            print(f"{args.config}: OK")
            return 0
        if args.command == "migrate":
            return asyncio.run(_migrate(config))
        if args.command in ("nudges", "templates", "export"):
            return asyncio.run(cli_nudges.run(args, config))
        if args.command == "purchases":
            from bot.csv_import import run_import_command

            return asyncio.run(run_import_command(config, args.file, dry_run=args.dry_run))
        from bot.app import run_bot

        asyncio.run(run_bot(config))
        return 0
    except (ConfigError, SchemaError, TextsError) as exc:
        for line in str(exc).splitlines():
            print(f"retention-bot: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT


async def _migrate(config: Config) -> int:
    db = await Database.open(Path(config.database.path), config.database.busy_timeout_ms)
    try:
        applied = await db.migrate()
    finally:
        await db.close()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
    print(f"{config.database.path}: " + (f"applied {names}" if applied else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
