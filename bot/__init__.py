"""Retention bot: the application core (config, storage, rules, services, CLI).

Nothing outside bot.telegram imports aiogram."""

SUPPORTED_LANGUAGES: tuple[str, ...] = ("ru", "uk", "en")
