"""End-to-end tests: the real `retention-bot run` process against the Telegram Bot API emulator."""
