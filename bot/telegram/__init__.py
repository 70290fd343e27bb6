"""The aiogram side of the core: dependencies, middlewares, keyboards, sessions, dispatcher, polling."""
