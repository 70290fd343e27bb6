"""What customers and staff should read, copied from templates/<lang>/bot.ftl.

`TEXT[lang][key]` is a whole message (its `{ $name }` placeholders written `{name}` here, filled in with
`str.format`); `PART[lang][name]` is a fragment of what a longer template renders to.
test_e2e_texts.py renders the template files with Fluent and checks every entry against them, so a
reworded template fails loudly there rather than as a puzzling end-to-end failure.
"""

from __future__ import annotations

import html
import re

from tgemu import BotMessage

TEXT: dict[str, dict[str, str]] = {
    "ru": {
        "consent-yes-button": "✅ Да, присылайте",
        "consent-no-button": "Нет, спасибо",
        "consent-granted": (
            "Спасибо! Вы будете получать наши предложения. Отписаться — /stop, посмотреть баллы — /balance."
        ),
        "consent-declined": (
            "Понятно: мы не будем присылать вам предложения. Баллы можно проверить командой /balance. "
            "Если передумаете, отправьте /start."
        ),
        "stop-done": (
            "Готово: больше никаких предложений. Баллы остаются при вас. "
            "Чтобы снова подписаться, отправьте /start."
        ),
        "link-linked": "Ваш бонусный счёт в {shop} привязан к этому чату.",
        "link-taken": (
            "Этот бонусный счёт привязан к другому аккаунту Telegram. Если он ваш, обратитесь к персоналу."
        ),
        "link-not-found": "Мы не нашли такую карту. Проверьте код или обратитесь к персоналу.",
        "link-not-own-contact": "Пожалуйста, поделитесь своим номером кнопкой, а не чужим контактом.",
        "link-see-balance": "Отправьте /balance, чтобы увидеть баллы.",
        "share-phone-button": "📱 Поделиться номером телефона",
        "balance-unlinked": (
            "Вы ещё не привязали бонусный счёт. Отсканируйте QR-код на карте или чеке "
            "или поделитесь номером телефона кнопкой ниже."
        ),
        "balance-points": "<b>Ваши баллы: {points}</b>",
        "balance-tier": "Уровень: {tier}",
        "balance-card": "Карта: {card}",
        "tier-new": "Новый",
        "tier-regular": "Постоянный",
        "mydata-caption": "Всё, что мы о вас храним, в виде файла JSON.",
        "mydata-none": "Мы ничего о вас не храним.",
        "forget-yes-button": "Да, удалить",
        "forget-done": "Ваши данные удалены. До свидания! Если вернётесь, просто отправьте /start.",
        "forget-nothing": "Мы ничего о вас не храним.",
        "language-question": "Выберите язык:",
        "language-set": "Язык: русский.",
        "unknown-command": "Я не знаю такой команды. /help — что я умею.",
        "free-text": (
            "Я бот и не могу отвечать на сообщения. /help — что я умею; "
            "по другим вопросам обратитесь в магазин."
        ),
        "other-content": "Я не могу это использовать. /help — что я умею.",
        "cmd-balance": "Мои баллы, уровень и сгорание",
        "cmd-stats": "Персонал: главные цифры",
    },
    "en": {
        "consent-yes-button": "✅ Yes, send me offers",
        "consent-no-button": "No, thanks",
        "consent-granted": (
            "Thank you! You will get our offers. Send /stop at any time to stop them, "
            "/balance to see your points."
        ),
        "consent-declined": (
            "Understood: we will not send you any offers. You can still check your points with /balance. "
            "If you change your mind, send /start."
        ),
        "stop-done": (
            "Done: you will not get any more offers. Your points stay with you. "
            "To subscribe again, send /start."
        ),
        "link-linked": "Your loyalty account at {shop} is now linked to this chat.",
        "link-taken": (
            "This loyalty account is linked to another Telegram account. "
            "If it is yours, please ask our staff."
        ),
        "link-not-found": "We could not find this loyalty card. Please check the code or ask our staff.",
        "link-not-own-contact": (
            "Please share your own phone number with the button, not someone else's contact."
        ),
        "link-see-balance": "Send /balance to see your points.",
        "share-phone-button": "📱 Share my phone number",
        "balance-unlinked": (
            "You have not linked a loyalty account yet. Scan the QR code on your loyalty card or receipt, "
            "or share your phone number with the button below."
        ),
        "balance-points": "<b>Your points: {points}</b>",
        "balance-tier": "Tier: {tier}",
        "balance-card": "Card: {card}",
        "tier-new": "New",
        "tier-regular": "Regular",
        "mydata-caption": "Everything we store about you, as a JSON file.",
        "mydata-none": "We store nothing about you.",
        "forget-yes-button": "Yes, erase",
        "forget-done": "Your data has been erased. Goodbye! If you come back, just send /start.",
        "forget-nothing": "We store nothing about you.",
        "language-question": "Choose your language:",
        "language-set": "Language set: English.",
        "unknown-command": "I don't know this command. /help lists what I can do.",
        "free-text": (
            "I am a bot and cannot answer messages. /help lists what I can do; "
            "for anything else, please contact the shop."
        ),
        "other-content": "I can't use this. /help lists what I can do.",
        "cmd-balance": "My points, tier and expiry",
        "cmd-stats": "Staff: headline numbers",
    },
}

# name -> (template key, fragment of what that template renders to)
PART: dict[str, dict[str, tuple[str, str]]] = {
    "ru": {
        "consent-question": (
            "consent-question",
            "Можно присылать вам предложения? Отписаться можно в любой момент командой /stop.",
        ),
        "consent-greeting": ("consent-question", "Здравствуйте, {name}! Это бот <b>{shop}</b>."),
        "balance-expiry": ("balance-expiry", "Ближайшее сгорание: {date} — {points} баллов."),
        "help": ("help", "/balance — ваши баллы, уровень и когда они сгорают"),
        "stats-customers": ("stats", "<b>Клиенты</b>: {customers}\n"),
        "stats-opted-in": ("stats", "Подписаны на предложения: {opted_in} ("),
        "stats-linked": ("stats", "Привязали бонусный счёт: {linked} ("),
        "stats-erased": ("stats", "Удалены по запросу: {erased}\n"),
        "stats-chart-caption": ("stats-chart-caption", "Клиенты и сообщения"),
    },
    "en": {
        "consent-question": (
            "consent-question",
            "May we send you offers? You can stop at any time with /stop.",
        ),
        "consent-greeting": ("consent-question", "Hello, {name}! This is the bot of <b>{shop}</b>."),
        "balance-expiry": ("balance-expiry", "{points} points expire on {date}."),
        "help": ("help", "/balance — your points, tier and when they expire"),
        "stats-customers": ("stats", "<b>Customers</b>: {customers}\n"),
        "stats-opted-in": ("stats", "Subscribed to offers: {opted_in} ("),
        "stats-linked": ("stats", "Linked to a loyalty account: {linked} ("),
        "stats-erased": ("stats", "Erased on request: {erased}\n"),
        "stats-chart-caption": ("stats-chart-caption", "Customers and messages"),
    },
}


def text(lang: str, key: str, /, **args: object) -> str:
    """The whole message as the person sees it (HTML tags gone, entities decoded)."""
    return visible(TEXT[lang][key].format(**args))


def part(lang: str, name: str, /, **args: object) -> str:
    return visible(PART[lang][name][1].format(**args))


# Telegram's HTML parse mode: these tags, and &lt; &gt; &amp; &quot; or numeric entities; nothing else.
_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler|blockquote)>|<a href=\"[^\"<>]*\">|</a>"
)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def visible(html_text: str) -> str:
    return html.unescape(_TAG.sub("", html_text))


def seen(message: BotMessage) -> str:
    """What the person reads: for HTML messages, checks Telegram would accept the markup, then strips it."""
    body = message.body
    if (message.parse_mode or "").upper() != "HTML":
        return body
    bare = _ENTITY.sub("", _TAG.sub("", body))
    assert "<" not in bare and ">" not in bare and "&" not in bare, (
        f"Telegram would refuse this HTML: {body!r}"
    )
    return visible(body)
