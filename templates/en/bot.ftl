# Texts of the bot in English. Telegram HTML is allowed (<b>, <i>, <a href="…">).
# Values in { $braces } are filled in by the bot and escaped; keep every key in all three languages.

## Command menu
cmd-start = Start, and choose whether to get offers
cmd-balance = My points, tier and expiry
cmd-link = Link my loyalty card or phone
cmd-language = Change language
cmd-mydata = Everything you store about me
cmd-forget = Erase my data
cmd-stop = Stop all offers
cmd-help = What this bot can do
cmd-stats = Staff: headline numbers
cmd-customer = Staff: look up a customer
cmd-staffhelp = Staff: staff commands

## Consent
consent-question =
    Hello, { $name }! This is the bot of <b>{ $shop }</b>.

    Here you can check your loyalty points at any time. With your permission we will also send you personal offers: a welcome coupon, useful tips, reminders when your points are about to expire, birthday greetings. Never more than { $per_week ->
        [one] one message a week
       *[other] { $per_week } messages a week
    } and { $per_month ->
        [one] one a month
       *[other] { $per_month } a month
    }, and never at night.

    May we send you offers? You can stop at any time with /stop.
consent-yes-button = ✅ Yes, send me offers
consent-no-button = No, thanks
consent-granted = Thank you! You will get our offers. Send /stop at any time to stop them, /balance to see your points.
consent-declined = Understood: we will not send you any offers. You can still check your points with /balance. If you change your mind, send /start.
consent-start-again = Please send /start first.
welcome-back-subscribed = Welcome back, { $name }! You are subscribed to offers from { $shop }. /balance shows your points, /stop ends the offers.

## Stop
stop-done = Done: you will not get any more offers. Your points stay with you. To subscribe again, send /start.
stop-not-subscribed = You are not subscribed to offers, so we send you nothing. To subscribe, send /start.

## Linking
link-how = To see your points, link your loyalty account: scan the QR code on your loyalty card or receipt, or share your phone number with the button below.
share-phone-button = 📱 Share my phone number
link-linked = Your loyalty account at { $shop } is now linked to this chat.
link-already-yours = This loyalty account is already linked to you.
link-taken = This loyalty account is linked to another Telegram account. If it is yours, please ask our staff.
link-not-found = We could not find this loyalty card. Please check the code or ask our staff.
link-has-other-account = Your Telegram is already linked to a different loyalty account. Please ask our staff to merge them.
link-not-own-contact = Please share your own phone number with the button, not someone else's contact.
link-invalid-phone = This does not look like a phone number we can use.
link-see-balance = Send /balance to see your points.

## Balance
balance-unlinked = You have not linked a loyalty account yet. Scan the QR code on your loyalty card or receipt, or share your phone number with the button below.
balance-points = <b>Your points: { $points }</b>
balance-tier = Tier: { $tier }
balance-expiry = { $points ->
    [one] { $points } point expires
   *[other] { $points } points expire
} on { $date }.
balance-no-expiry = None of your points are due to expire.
balance-card = Card: { $card }
tier-new = New
tier-regular = Regular
tier-loyal = Loyal

## My data
mydata-caption = Everything we store about you, as a JSON file.
mydata-none = We store nothing about you.

## Forget
forget-question = Erase everything we store about you? Your consent history, language and link to your loyalty account will be deleted and you will get no more messages. This cannot be undone.
forget-yes-button = Yes, erase
forget-no-button = Cancel
forget-done = Your data has been erased. Goodbye! If you come back, just send /start.
forget-cancelled = Nothing was erased.
forget-nothing = We store nothing about you.

## Language
language-question = Choose your language:
language-name-ru = Русский
language-name-uk = Українська
language-name-en = English
language-set = Language set: English.

## Help and the rest
help =
    This is the bot of <b>{ $shop }</b>.
    /balance — your points, tier and when they expire
    /link — link your loyalty card or phone
    /language — change language
    /mydata — everything we store about you
    /forget — erase your data
    /stop — stop all offers
    /start — start again and choose about offers
unknown-command = I don't know this command. /help lists what I can do.
free-text = I am a bot and cannot answer messages. /help lists what I can do; for anything else, please contact the shop.
other-content = I can't use this. /help lists what I can do.
stale-button = This button is no longer active.
error-generic = Sorry, something went wrong on our side. Please try again in a minute.

## Staff
staff-help =
    <b>Staff commands</b>
    /stats — headline numbers
    /customer &lt;id | @username | phone | card&gt; — look up a customer
stats =
    <b>Customers</b>: { $customers }
    Subscribed to offers: { $opted_in }
    Reachable: { $reachable }
    Linked to a loyalty account: { $linked }
    Erased on request: { $erased }
customer-usage = Usage: /customer &lt;id | @username | phone | card&gt;
customer-not-found = No customer found for “{ $query }”.
customer-telegram = <b>{ $name }</b> (id { $id }, { $username })
customer-consent = Offers: { $state }
customer-language = Language: { $language }
customer-unreachable = ⚠️ Has blocked the bot.
customer-points = Points: { $points }
customer-not-in-telegram = Not in Telegram yet.
customer-account = Card: { $card }, phone: { $phone }
customer-activity = Last 12 months: { $purchases } purchases, { $spend }
consent-state-unknown = not asked yet
consent-state-granted = subscribed
consent-state-declined = declined
consent-state-withdrawn = unsubscribed
