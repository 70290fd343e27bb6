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
    /history — your last points operations
    /invite — invite a friend
    /birthday — your birthday, for a gift
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
    /purchase &lt;customer&gt; &lt;amount&gt; [note] — record a purchase
    /redeem &lt;customer&gt; &lt;points&gt; — spend points
    /adjust &lt;customer&gt; &lt;±points&gt; &lt;reason&gt; — correct points
    /survey — why customers left, NPS
    /redeem &lt;coupon&gt; [customer] — redeem a coupon
    <b>Owners</b>: /campaign, /pause, /resume, /report, /export customers|ledger|messages|surveys, /audit
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

## Loyalty (customers)
cmd-history = My last points operations
cmd-invite = Invite a friend
cmd-birthday = My birthday, for a gift
referral-accepted = Your friend invited you! { $points ->
    [0] Welcome.
   *[other] After your first purchase you will both get { $points } points.
}
referral-self = This is your own invitation link: send it to a friend.
referral-unknown-code = This invitation link is not valid any more.
referral-already-invited = You have already been invited by someone.
referral-already-customer = Invitations are for new customers, and you are already one of ours. Thank you!
referral-loop = You cannot accept an invitation from someone you invited.
history-empty = No points operations yet.
history-title = <b>Your last points operations</b>
history-line = { $date } · { $points } · { $kind }
ledger-earn = purchase
ledger-redeem = spent
ledger-adjust = correction
ledger-expire = expired
ledger-bonus = bonus
invite =
    Invite friends to { $link }
    { $points ->
        [0] Thank you for recommending us!
       *[other] When a friend makes their first purchase, you both get { $points } points.
    }
    Invited: { $invited }, already bought: { $bought }.
birthday-ask = Tell us your birthday and get a gift: send /birthday DD.MM, for example /birthday 14.03. Only the day and month.
birthday-current = Your birthday: { $date }. To change it, send /birthday DD.MM.
birthday-invalid = “{ $text }” is not a date. Send day and month like this: /birthday 14.03
birthday-saved = Saved: { $date }. We will remember!
tier-up = Congratulations! You are now a <b>{ $tier }</b> customer. Thank you for coming back!
referral-paid-referrer = Your friend made their first purchase: you got { $points } points. Thank you!
referral-paid-invited = Welcome bonus for being invited by a friend: { $points } points.
points-redeemed = { $points } points were spent. Balance: { $balance }.
birthday-bonus = Happy birthday! 🎉 A gift from us: { $points } points.

## Loyalty (staff)
cmd-purchase = Staff: record a purchase
cmd-redeem = Staff: spend a customer's points
cmd-adjust = Staff: correct a customer's points
purchase-usage = Usage: /purchase &lt;phone | card | @username | id&gt; &lt;amount&gt; [note]
error-amount-text = “{ $text }” is not an amount. Write it like 250 or 250.50.
purchase-new-customer = new customer { $who }
purchase-preview = Record a purchase of <b>{ $amount }</b> for { $who }? Points: +{ $points }
confirm-button = ✅ Confirm
cancel-button = Cancel
purchase-expired = This confirmation has expired. Please send the command again.
purchase-cancelled = Cancelled: nothing was recorded.
purchase-duplicate = This purchase was already recorded.
purchase-recorded = Recorded: { $amount }, +{ $points ->
    [one] { $points } point
   *[other] { $points } points
}.
error-points-text = “{ $text }” is not a number of points.
redeem-usage = Usage: /redeem &lt;phone | card | @username | id&gt; &lt;points&gt;
redeem-done = Spent { $points ->
    [one] { $points } point
   *[other] { $points } points
}. Balance now: { $balance }.
adjust-usage = Usage: /adjust &lt;phone | card | @username | id&gt; &lt;+N or -N&gt; &lt;reason&gt;
adjust-done = Corrected by { $points ->
    [one] { $shown } point
   *[other] { $shown } points
}. Balance now: { $balance }.
error-purchase-id = The purchase id is missing or too long.
error-currency = The currency must be { $expected }.
error-amount = The amount cannot be negative.
error-time = The time must include a time zone.
error-time-future = The purchase time is in the future.
error-customer-missing = Say who bought: a phone number or a card.
error-customer-unknown = No such customer.
error-card = This is not a card code.
error-phone = This is not a phone number.
error-card-phone-mismatch = This card and this phone belong to different customers.
error-points-positive = The number of points must be more than zero.
error-points-nonzero = The correction cannot be zero.
error-not-enough-points = Not enough points: the balance is { $balance }.

## Nudges
nudge-fewer-button = 🔕 Fewer messages
fewer-question = How often would you like to hear from us?
fewer-weekly-button = At most once a week
fewer-monthly-button = At most once a month
fewer-pause-button = Pause for 3 months
fewer-stop-button = Stop all offers
fewer-weekly-done = Done: at most one message a week.
fewer-monthly-done = Done: at most one message a month.
fewer-pause-done = Done: no offers until { $date }.

## Surveys
survey-reason-service = 😞 Service
survey-reason-quality = 👎 Quality
survey-reason-price = 💸 Price / a better offer elsewhere
survey-reason-forgot = 🤷 Forgot about you
survey-reason-moved = 🚚 Moved / no longer need
survey-reason-other = ✍️ Other
survey-ask-comment = Thank you! Would you like to add anything? Just write it in a message, or tap “No comment”.
survey-ask-other = Thank you! Please tell us in a message what did not suit you.
survey-skip-button = No comment
survey-already = You have already answered this survey. Thank you!
nps-thanks-promoter = Thank you! We are glad you like us. Invite a friend with your link: { $link }
nps-thanks-passive = Thank you for your answer! We will keep working to earn a 10.
nps-thanks-detractor = Thank you for being honest. We are sorry, and we will work on it.
staff-alert-service = ⚠️ <b>Complaint about service</b> from <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, phone { $phone }, card { $card }, { $tier }).
    Comment: { $comment }
    Please get in touch with them.
staff-alert-detractor = ⚠️ <b>NPS { $score }</b> from <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, phone { $phone }, card { $card }, { $tier }).
staff-alert-detractor-comment = 💬 NPS { $score } from <a href="{ $link }">{ $name }</a> added: { $comment }
survey-report-title = <b>Why customers left</b> (last 90 days)
survey-report-reason = { $reason }: { $count } ({ $share }%)
survey-report-no-reasons = No answers yet.
survey-report-nps =
    <b>NPS</b>: 30 days { $nps30 } ({ $answers30 ->
        [one] { $answers30 } answer
       *[other] { $answers30 } answers
    }), 90 days { $nps90 } ({ $answers90 ->
        [one] { $answers90 } answer
       *[other] { $answers90 } answers
    })
    Trend against the 30 days before: { $trend }
survey-report-comments = <b>Latest comments</b>
survey-chart-caption = Survey results
survey-chart-reasons = Why customers left
survey-chart-nps = NPS
survey-chart-days = days ago
export-usage = Usage: /export customers | ledger | messages | surveys
export-caption = Survey answers (CSV)
owners-only = Only the shop's owners can do this.
cmd-survey = Staff: survey results and NPS
cmd-export = Owners: export survey answers

## Staff console
stats =
    <b>Customers</b>: { $customers }
    Subscribed to offers: { $opted_in } ({ $opted_in_pct }%)
    Linked to a loyalty account: { $linked } ({ $linked_pct }%)
    Reachable: { $reachable } ({ $reachable_pct }%)
    Erased on request: { $erased }
    Blocked the bot when messaged (30 days): { $block_rate }%
stats-segments = <b>Segments</b>:
stats-sent-title = <b>Messages sent</b> (7 days / 30 days):
stats-sent-line = { $rule }: { $week } / { $month }
stats-sent-none = none yet
stats-redemptions = Coupons redeemed (30 days): { $count }
stats-chart-segments = Customers by segment
stats-chart-messages = Messages in 30 days
stats-chart-caption = Customers and messages
segment-all = Everyone subscribed
segment-new = New
segment-active = Active
segment-at_risk = At risk
segment-lapsed = Lapsed
segment-lost = Lost
coupon-redeemed = ✅ Coupon { $code } redeemed: { $value } off (from “{ $rule }”).
coupon-unknown = ❌ There is no coupon { $code }.
coupon-expired = ❌ Coupon { $code } expired on { $date }.
coupon-used = ❌ Coupon { $code } has already been used.
coupon-wrong-customer = ❌ Coupon { $code } belongs to another customer.
customer-consent-event = · { $date }: { $action } ({ $source })
customer-frequency = Asked for fewer messages: { $frequency }
customer-purchases-title = <b>Last purchases</b>
customer-messages-title = <b>Last messages</b>
customer-surveys-title = <b>Survey answers</b>
customer-survey-line = • { $answer }{ $comment }
pause-done = ⏸ All marketing messages are paused. Nothing is sent until /resume.
resume-done = ▶️ Marketing messages are on again; waiting messages go out now.
report-empty = Not enough history yet: a nudge is measured { $days ->
    [one] { $days } day
   *[other] { $days } days
} after it was sent.
report-title = <b>Do the nudges work?</b> Customers who bought within { $days ->
    [one] { $days } day
   *[other] { $days } days
}: nudged vs held out.
report-rule =
    <b>{ $rule }</b>: nudged { $nudged } → { $nudged_rate } bought; held out { $held } → { $held_rate }
    Difference { $difference } points (95% CI { $low } … { $high }): { $verdict }
verdict-not-enough-data = not enough data yet
verdict-works = it works
verdict-hurts = it hurts sales
verdict-no-clear-effect = no clear effect yet
report-nudged = nudged
report-held-out = held out
report-chart-title = Bought within the window
export-done = { $what }.csv: { $rows ->
    [one] { $rows } row
   *[other] { $rows } rows
}
audit-empty = No staff actions yet.
audit-title = <b>Last staff actions</b>
audit-line = { $when } · { $staff } · { $action } { $detail }
cmd-campaign = Owners: send a campaign to a segment
cmd-pause = Owners: pause all marketing
cmd-resume = Owners: resume marketing
cmd-report = Owners: do the nudges work?
cmd-audit = Owners: last staff actions
campaign-choose-segment = <b>New campaign.</b> Who should get it?
campaign-choose-content = What should they get? Pick a template or write your own text.
campaign-own-text-button = ✍️ Write my own text
campaign-write-text = Send the text of the message. Formatting is kept; {"{{"} customer.first_name {"}}"} puts in each customer's first name.
campaign-text-problem = This text cannot be used: { $problem }
campaign-preview-title = Preview (with your name):
campaign-recipients = Segment: { $segment }. Recipients: <b>{ $recipients }</b> of { $in_segment } ({ $excluded } left out: paused or reached their message limit).
campaign-send-button = 🚀 Send to { $recipients }
campaign-stop-button = ⏹ Stop the campaign
campaign-progress = Campaign #{ $id }: sent { $sent } of { $total }, waiting { $waiting }, skipped { $skipped }, failed { $failed }.
campaign-report = <b>Campaign #{ $id } { $state }.</b> Sent { $sent } of { $total }; skipped { $skipped }; failed { $failed }.
campaign-report-reason = · { $reason }: { $count }
campaign-state-running = running
campaign-state-cancelled = stopped
campaign-state-done = finished
campaign-cancelled = Cancelled: nothing was sent.
campaign-stopping = Stopping: messages not sent yet are cancelled.
