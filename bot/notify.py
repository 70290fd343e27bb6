"""Transactional messages to one customer (tier reached, referral paid, points redeemed).

Not marketing: they answer something the customer did or that happened to their points, so they do not
need the marketing opt-in; they do respect a customer who blocked the bot or asked to be forgotten.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class TextKey(str):
    """An argument that is itself a text key, translated into the customer's language before use."""

    __slots__ = ()


class Notifier(Protocol):
    async def notify(self, user_id: int, key: str, **args: str | int) -> bool:
        """Send text `key` to the customer in their language; False if it could not be delivered."""
        ...

    async def notify_staff(self, key: str, **args: str | int) -> int:
        """Send text `key` to every staff member and owner; how many got it."""
        ...

    async def send_text(self, user_id: int, html: str) -> bool:
        """Send an already rendered text (a template's follow-up) to the customer."""
        ...


class NullNotifier:
    """For offline work (CSV import, migrations): nothing is sent, and that is said in the log."""

    async def notify(self, user_id: int, key: str, **args: str | int) -> bool:
        log.info("not sending %s to %s: no bot connected", key, user_id)
        return False

    async def notify_staff(self, key: str, **args: str | int) -> int:
        log.info("not alerting staff (%s): no bot connected", key)
        return 0

    async def send_text(self, user_id: int, html: str) -> bool:
        log.info("not sending a text to %s: no bot connected", user_id)
        return False
