"""Owners' commands: /pause, /resume, /report, /export, /audit. Staff who are not owners are told so;
anyone else falls through to the unknown-command answer."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot.charts import uplift_chart
from bot.config import Config
from bot.exports import to_csv_bytes
from bot.services.console import REPORT_WINDOW_DAYS, ConsoleService
from bot.services.surveys import SurveyService
from bot.telegram.filters import is_owner_event, is_staff_event
from bot.telegram.middlewares import AuditMiddleware
from bot.texts import Translator

OWNER_COMMANDS = ("pause", "resume", "report", "export", "audit", "campaign")
EXPORTS = ("customers", "ledger", "messages", "surveys")


def get_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private", is_staff_event)
    router.message.middleware(AuditMiddleware())
    router.message.register(pause, Command("pause"), is_owner_event)
    router.message.register(resume, Command("resume"), is_owner_event)
    router.message.register(report, Command("report"), is_owner_event)
    router.message.register(export, Command("export"), is_owner_event)
    router.message.register(audit, Command("audit"), is_owner_event)
    router.message.register(owners_only, Command(*OWNER_COMMANDS))
    return router


async def owners_only(message: Message, tr: Translator) -> None:
    await message.answer(tr("owners-only"))


async def pause(message: Message, console: ConsoleService, tr: Translator) -> None:
    assert message.from_user is not None
    await console.set_paused(True, message.from_user.id)
    await message.answer(tr("pause-done"))


async def resume(message: Message, console: ConsoleService, tr: Translator) -> None:
    assert message.from_user is not None
    await console.set_paused(False, message.from_user.id)
    await message.answer(tr("resume-done"))


async def report(message: Message, console: ConsoleService, tr: Translator) -> None:
    uplift = await console.uplift()
    if not uplift:
        await message.answer(tr("report-empty", days=REPORT_WINDOW_DAYS))
        return
    lines = [tr("report-title", days=REPORT_WINDOW_DAYS)]
    for rule, figures in uplift.items():
        interval = figures.interval
        lines.append(
            tr(
                "report-rule",
                rule=rule,
                nudged=figures.nudged,
                nudged_rate=_percent(figures.nudged_rate),
                held=figures.held_out,
                held_rate=_percent(figures.held_out_rate),
                difference=_points(figures.difference),
                low=_points(interval[0] if interval else None),
                high=_points(interval[1] if interval else None),
                verdict=tr(f"verdict-{figures.verdict.value}"),
            )
        )
    rates = {rule: (f.nudged_rate, f.held_out_rate) for rule, f in uplift.items()}
    png = uplift_chart(rates, tr("report-nudged"), tr("report-held-out"), tr("report-chart-title"))
    await message.answer_photo(
        BufferedInputFile(png, filename="report.png"), caption=tr("report-chart-title")
    )
    await message.answer("\n\n".join(lines))


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def _points(difference: float | None) -> str:
    return "—" if difference is None else f"{100 * difference:+.1f}"


async def export(
    message: Message,
    command: CommandObject,
    console: ConsoleService,
    surveys: SurveyService,
    config: Config,
    tr: Translator,
) -> None:
    what = (command.args or "").strip().lower()
    if what not in EXPORTS:
        await message.answer(tr("export-usage"))
        return
    rows = await surveys.export_rows() if what == "surveys" else await console.export(what)
    await message.answer_document(
        BufferedInputFile(to_csv_bytes(rows), filename=f"{what}.csv"),
        caption=tr("export-done", what=what, rows=len(rows) - 1),
    )


async def audit(message: Message, console: ConsoleService, config: Config, tr: Translator) -> None:
    entries = await console.audit_log(20)
    if not entries:
        await message.answer(tr("audit-empty"))
        return
    lines = [tr("audit-title")]
    for entry in entries:
        when = tr.date(entry.at, config.shop.zone) + entry.at.astimezone(config.shop.zone).strftime(" %H:%M")
        lines.append(
            tr("audit-line", when=when, staff=str(entry.staff_id), action=entry.action, detail=entry.detail)
        )
    await message.answer("\n".join(lines))
