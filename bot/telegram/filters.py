"""Router-wide filters fed from injected data."""

from __future__ import annotations

from aiogram.types import CallbackQuery, Message


def is_staff_event(event: Message | CallbackQuery, is_staff: bool) -> bool:
    """Staff are numeric ids from config (`is_staff` comes from LocaleMiddleware), never usernames."""
    return is_staff


def is_owner_event(event: Message | CallbackQuery, is_owner: bool) -> bool:
    """Owners run campaigns, pause marketing, export and see reports."""
    return is_owner
