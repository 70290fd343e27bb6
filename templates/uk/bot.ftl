# Тексти бота українською. Можна використовувати HTML Telegram (<b>, <i>, <a href="…">).
# Значення в { $дужках } підставляє бот і екранує; кожен ключ має бути в усіх трьох мовах.

## Меню команд
cmd-start = Почати й вирішити щодо пропозицій
cmd-balance = Мої бали, рівень і згоряння
cmd-link = Прив'язати картку або телефон
cmd-language = Змінити мову
cmd-mydata = Усе, що ви про мене зберігаєте
cmd-forget = Видалити мої дані
cmd-stop = Більше не надсилати пропозиції
cmd-help = Що вміє цей бот
cmd-stats = Персонал: головні цифри
cmd-customer = Персонал: знайти клієнта
cmd-staffhelp = Персонал: команди персоналу

## Згода
consent-question =
    Вітаємо, { $name }! Це бот <b>{ $shop }</b>.

    Тут можна будь-коли перевірити бонусні бали. З вашого дозволу ми також надсилатимемо персональні пропозиції: вітальний купон, корисні поради, нагадування про бали, що згоряють, привітання з днем народження. Не частіше ніж { $per_week ->
        [one] { $per_week } повідомлення на тиждень
       *[other] { $per_week } повідомлень на тиждень
    } і { $per_month ->
        [one] { $per_month } на місяць
       *[other] { $per_month } на місяць
    }, і ніколи вночі.

    Можна надсилати вам пропозиції? Відписатися можна будь-коли командою /stop.
consent-yes-button = ✅ Так, надсилайте
consent-no-button = Ні, дякую
consent-granted = Дякуємо! Ви отримуватимете наші пропозиції. Відписатися — /stop, переглянути бали — /balance.
consent-declined = Зрозуміло: ми не надсилатимемо вам пропозицій. Бали можна перевірити командою /balance. Якщо передумаєте, надішліть /start.
consent-start-again = Спочатку надішліть /start.
welcome-back-subscribed = З поверненням, { $name }! Ви підписані на пропозиції { $shop }. /balance — ваші бали, /stop — відписатися.

## Відписка
stop-done = Готово: більше жодних пропозицій. Бали залишаються з вами. Щоб знову підписатися, надішліть /start.
stop-not-subscribed = Ви не підписані на пропозиції, ми нічого вам не надсилаємо. Щоб підписатися, надішліть /start.

## Прив'язка
link-how = Щоб бачити бали, прив'яжіть бонусний рахунок: відскануйте QR-код на картці чи чеку або поділіться номером телефону кнопкою нижче.
share-phone-button = 📱 Поділитися номером телефону
link-linked = Ваш бонусний рахунок у { $shop } прив'язано до цього чату.
link-already-yours = Цей бонусний рахунок уже прив'язано до вас.
link-taken = Цей бонусний рахунок прив'язано до іншого акаунта Telegram. Якщо він ваш, зверніться до персоналу.
link-not-found = Ми не знайшли такої картки. Перевірте код або зверніться до персоналу.
link-has-other-account = Ваш Telegram уже прив'язано до іншого бонусного рахунку. Попросіть персонал об'єднати їх.
link-not-own-contact = Будь ласка, поділіться своїм номером кнопкою, а не чужим контактом.
link-invalid-phone = Це не схоже на номер телефону, який ми можемо використати.
link-see-balance = Надішліть /balance, щоб побачити бали.

## Баланс
balance-unlinked = Ви ще не прив'язали бонусний рахунок. Відскануйте QR-код на картці чи чеку або поділіться номером телефону кнопкою нижче.
balance-points = <b>Ваші бали: { $points }</b>
balance-tier = Рівень: { $tier }
balance-expiry = Найближче згоряння: { $date } — { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}.
balance-no-expiry = Жоден із ваших балів поки не згоряє.
balance-card = Картка: { $card }
tier-new = Новий
tier-regular = Постійний
tier-loyal = Лояльний

## Мої дані
mydata-caption = Усе, що ми про вас зберігаємо, у файлі JSON.
mydata-none = Ми нічого про вас не зберігаємо.

## Видалення
forget-question = Видалити все, що ми про вас зберігаємо? Історію згод, мову та прив'язку до бонусного рахунку буде видалено, і ви більше не отримаєте повідомлень. Це не можна скасувати.
forget-yes-button = Так, видалити
forget-no-button = Скасувати
forget-done = Ваші дані видалено. До побачення! Якщо повернетеся, просто надішліть /start.
forget-cancelled = Нічого не видалено.
forget-nothing = Ми нічого про вас не зберігаємо.

## Мова
language-question = Оберіть мову:
language-name-ru = Русский
language-name-uk = Українська
language-name-en = English
language-set = Мова: українська.

## Допомога та інше
help =
    Це бот <b>{ $shop }</b>.
    /balance — ваші бали, рівень і коли вони згоряють
    /history — останні операції з балами
    /invite — запросити друга
    /birthday — ваш день народження, для подарунка
    /link — прив'язати картку або телефон
    /language — змінити мову
    /mydata — усе, що ми про вас зберігаємо
    /forget — видалити ваші дані
    /stop — більше не надсилати пропозиції
    /start — почати знову й вирішити щодо пропозицій
unknown-command = Я не знаю такої команди. /help — що я вмію.
free-text = Я бот і не можу відповідати на повідомлення. /help — що я вмію; з інших питань зверніться до магазину.
other-content = Я не можу це використати. /help — що я вмію.
stale-button = Ця кнопка більше не діє.
error-generic = Вибачте, у нас щось пішло не так. Спробуйте ще раз за хвилину.

## Персонал
staff-help =
    <b>Команди персоналу</b>
    /stats — головні цифри
    /customer &lt;id | @username | телефон | картка&gt; — знайти клієнта
    /purchase &lt;клієнт&gt; &lt;сума&gt; [нотатка] — записати покупку
    /redeem &lt;клієнт&gt; &lt;бали&gt; — списати бали
    /adjust &lt;клієнт&gt; &lt;±бали&gt; &lt;причина&gt; — скоригувати бали
    /survey — чому пішли клієнти, NPS
    /redeem &lt;купон&gt; [клієнт] — погасити купон
    <b>Власники</b>: /campaign, /pause, /resume, /report, /export customers|ledger|messages|surveys, /audit
customer-usage = Використання: /customer &lt;id | @username | телефон | картка&gt;
customer-not-found = Клієнта «{ $query }» не знайдено.
customer-telegram = <b>{ $name }</b> (id { $id }, { $username })
customer-consent = Пропозиції: { $state }
customer-language = Мова: { $language }
customer-unreachable = ⚠️ Заблокував бота.
customer-points = Бали: { $points }
customer-not-in-telegram = Ще не в Telegram.
customer-account = Картка: { $card }, телефон: { $phone }
customer-activity = За 12 місяців: покупок — { $purchases }, на суму { $spend }
consent-state-unknown = ще не питали
consent-state-granted = підписаний
consent-state-declined = відмовився
consent-state-withdrawn = відписався

## Бонуси (клієнти)
cmd-history = Мої останні операції з балами
cmd-invite = Запросити друга
cmd-birthday = Мій день народження, для подарунка
referral-accepted = Вас запросив друг! { $points ->
    [0] Ласкаво просимо.
   *[other] Після вашої першої покупки ви обоє отримаєте по { $points } балів.
}
referral-self = Це ваше власне посилання-запрошення: надішліть його другові.
referral-unknown-code = Це посилання-запрошення більше не діє.
referral-already-invited = Вас уже хтось запросив.
referral-already-customer = Запрошення — для нових клієнтів, а ви вже наш клієнт. Дякуємо!
referral-loop = Не можна прийняти запрошення від того, кого запросили ви.
history-empty = Операцій з балами поки немає.
history-title = <b>Ваші останні операції з балами</b>
history-line = { $date } · { $points } · { $kind }
ledger-earn = покупка
ledger-redeem = списання
ledger-adjust = коригування
ledger-expire = згоряння
ledger-bonus = бонус
invite =
    Запрошуйте друзів: { $link }
    { $points ->
        [0] Дякуємо, що рекомендуєте нас!
       *[other] Коли друг зробить першу покупку, ви обоє отримаєте по { $points } балів.
    }
    Запрошено: { $invited }, уже купили: { $bought }.
birthday-ask = Розкажіть, коли у вас день народження, і отримайте подарунок: надішліть /birthday ДД.ММ, наприклад /birthday 14.03. Лише день і місяць.
birthday-current = Ваш день народження: { $date }. Щоб змінити, надішліть /birthday ДД.ММ.
birthday-invalid = «{ $text }» — не дата. Надішліть день і місяць так: /birthday 14.03
birthday-saved = Збережено: { $date }. Ми запам'ятаємо!
tier-up = Вітаємо! Тепер ваш рівень — <b>{ $tier }</b>. Дякуємо, що повертаєтеся!
referral-paid-referrer = Ваш друг зробив першу покупку: вам нараховано { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}. Дякуємо!
referral-paid-invited = Вітальний бонус за запрошенням друга: { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}.
points-redeemed = Списано { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}. Залишок: { $balance }.
birthday-bonus = З днем народження! 🎉 Подарунок від нас: { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}.

## Бонуси (персонал)
cmd-purchase = Персонал: записати покупку
cmd-redeem = Персонал: списати бали клієнта
cmd-adjust = Персонал: скоригувати бали
purchase-usage = Використання: /purchase &lt;телефон | картка | @username | id&gt; &lt;сума&gt; [нотатка]
error-amount-text = «{ $text }» — не сума. Пишіть так: 250 або 250.50.
purchase-new-customer = новий клієнт { $who }
purchase-preview = Записати покупку на <b>{ $amount }</b> для { $who }? Бали: +{ $points }
confirm-button = ✅ Підтвердити
cancel-button = Скасувати
purchase-expired = Це підтвердження застаріло. Надішліть команду ще раз.
purchase-cancelled = Скасовано: нічого не записано.
purchase-duplicate = Цю покупку вже записано.
purchase-recorded = Записано: { $amount }, +{ $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}.
error-points-text = «{ $text }» — не кількість балів.
redeem-usage = Використання: /redeem &lt;телефон | картка | @username | id&gt; &lt;бали&gt;
redeem-done = Списано { $points ->
    [one] { $points } бал
    [few] { $points } бали
   *[other] { $points } балів
}. Залишок: { $balance }.
adjust-usage = Використання: /adjust &lt;телефон | картка | @username | id&gt; &lt;+N або -N&gt; &lt;причина&gt;
adjust-done = Скориговано на { $points ->
    [one] { $shown } бал
    [few] { $shown } бали
   *[other] { $shown } балів
}. Залишок: { $balance }.
error-purchase-id = Немає номера покупки або він задовгий.
error-currency = Валюта має бути { $expected }.
error-amount = Сума не може бути від'ємною.
error-time = У часі має бути вказано часовий пояс.
error-time-future = Час покупки — у майбутньому.
error-customer-missing = Вкажіть, хто купив: телефон або картку.
error-customer-unknown = Такого клієнта немає.
error-card = Це не код картки.
error-phone = Це не номер телефону.
error-card-phone-mismatch = Ця картка і цей телефон належать різним клієнтам.
error-points-positive = Кількість балів має бути більшою за нуль.
error-points-nonzero = Коригування не може бути нульовим.
error-not-enough-points = Недостатньо балів: на рахунку { $balance }.

## Розсилки
nudge-fewer-button = 🔕 Рідше
fewer-question = Як часто нам вам писати?
fewer-weekly-button = Не частіше ніж раз на тиждень
fewer-monthly-button = Не частіше ніж раз на місяць
fewer-pause-button = Пауза на 3 місяці
fewer-stop-button = Більше не надсилати
fewer-weekly-done = Готово: не частіше одного повідомлення на тиждень.
fewer-monthly-done = Готово: не частіше одного повідомлення на місяць.
fewer-pause-done = Готово: жодних пропозицій до { $date }.

## Опитування
survey-reason-service = 😞 Обслуговування
survey-reason-quality = 👎 Якість
survey-reason-price = 💸 Ціна / краща пропозиція
survey-reason-forgot = 🤷 Забув(ла) про вас
survey-reason-moved = 🚚 Переїхав(ла) / більше не потрібно
survey-reason-other = ✍️ Інше
survey-ask-comment = Дякуємо! Хочете щось додати? Просто напишіть повідомлення або натисніть «Без коментаря».
survey-ask-other = Дякуємо! Напишіть, будь ласка, що вам не підійшло.
survey-skip-button = Без коментаря
survey-already = Ви вже відповіли на це опитування. Дякуємо!
nps-thanks-promoter = Дякуємо! Нам приємно, що вам у нас подобається. Запросіть друга за вашим посиланням: { $link }
nps-thanks-passive = Дякуємо за відповідь! Старатимемося заслужити 10.
nps-thanks-detractor = Дякуємо за чесність. Нам шкода, ми над цим попрацюємо.
staff-alert-service = ⚠️ <b>Скарга на обслуговування</b> від <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, телефон { $phone }, картка { $card }, { $tier }).
    Коментар: { $comment }
    Будь ласка, зв'яжіться з клієнтом.
staff-alert-detractor = ⚠️ <b>NPS { $score }</b> від <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, телефон { $phone }, картка { $card }, { $tier }).
staff-alert-detractor-comment = 💬 NPS { $score } від <a href="{ $link }">{ $name }</a>, коментар: { $comment }
survey-report-title = <b>Чому клієнти пішли</b> (останні 90 днів)
survey-report-reason = { $reason }: { $count } ({ $share }%)
survey-report-no-reasons = Відповідей поки немає.
survey-report-nps =
    <b>NPS</b>: 30 днів { $nps30 } (відповідей: { $answers30 }), 90 днів { $nps90 } (відповідей: { $answers90 })
    Динаміка до попередніх 30 днів: { $trend }
survey-report-comments = <b>Останні коментарі</b>
survey-chart-caption = Результати опитувань
survey-chart-reasons = Чому клієнти пішли
survey-chart-nps = NPS
survey-chart-days = днів тому
export-usage = Використання: /export customers | ledger | messages | surveys
export-caption = Відповіді на опитування (CSV)
owners-only = Це можуть лише власники магазину.
cmd-survey = Персонал: опитування та NPS
cmd-export = Власники: вивантаження відповідей

## Staff console
stats =
    <b>Клієнти</b>: { $customers }
    Підписані на пропозиції: { $opted_in } ({ $opted_in_pct }%)
    Прив'язали бонусний рахунок: { $linked } ({ $linked_pct }%)
    Досяжні: { $reachable } ({ $reachable_pct }%)
    Видалені на запит: { $erased }
    Заблокували бота під час розсилки (30 днів): { $block_rate }%
stats-segments = <b>Сегменти</b>:
stats-sent-title = <b>Надіслано повідомлень</b> (7 днів / 30 днів):
stats-sent-line = { $rule }: { $week } / { $month }
stats-sent-none = поки немає
stats-redemptions = Погашено купонів (30 днів): { $count }
stats-chart-segments = Клієнти за сегментами
stats-chart-messages = Повідомлення за 30 днів
stats-chart-caption = Клієнти та повідомлення
segment-all = Усі підписані
segment-new = Нові
segment-active = Активні
segment-at_risk = Під загрозою відходу
segment-lapsed = Зниклі
segment-lost = Втрачені
coupon-redeemed = ✅ Купон { $code } погашено: знижка { $value } (з «{ $rule }»).
coupon-unknown = ❌ Купона { $code } немає.
coupon-expired = ❌ Термін купона { $code } минув { $date }.
coupon-used = ❌ Купон { $code } уже використано.
coupon-wrong-customer = ❌ Купон { $code } належить іншому клієнтові.
customer-consent-event = · { $date }: { $action } ({ $source })
customer-frequency = Просив(ла) писати рідше: { $frequency }
customer-purchases-title = <b>Останні покупки</b>
customer-messages-title = <b>Останні повідомлення</b>
customer-surveys-title = <b>Відповіді на опитування</b>
customer-survey-line = • { $answer }{ $comment }
pause-done = ⏸ Усі рекламні повідомлення на паузі. Нічого не надсилається до /resume.
resume-done = ▶️ Рекламні повідомлення знову ввімкнено; ті, що чекали, йдуть зараз.
report-empty = Поки замало історії: розсилку оцінюють через { $days ->
    [one] { $days } день
    [few] { $days } дні
   *[other] { $days } днів
} після надсилання.
report-title = <b>Чи працюють розсилки?</b> Купили протягом { $days ->
    [one] { $days } дня
   *[other] { $days } днів
}: отримали й контрольна група.
report-rule =
    <b>{ $rule }</b>: отримали { $nudged } → купили { $nudged_rate }; контрольна група { $held } → { $held_rate }
    Різниця { $difference } в. п. (95% ДІ { $low } … { $high }): { $verdict }
verdict-not-enough-data = поки замало даних
verdict-works = працює
verdict-hurts = шкодить продажам
verdict-no-clear-effect = явного ефекту поки немає
report-nudged = отримали
report-held-out = контрольна група
report-chart-title = Купили за період
export-done = { $what }.csv: рядків — { $rows }
audit-empty = Дій персоналу поки немає.
audit-title = <b>Останні дії персоналу</b>
audit-line = { $when } · { $staff } · { $action } { $detail }
cmd-campaign = Власники: розсилка за сегментом
cmd-pause = Власники: призупинити розсилки
cmd-resume = Власники: відновити розсилки
cmd-report = Власники: чи працюють розсилки?
cmd-audit = Власники: останні дії персоналу
campaign-choose-segment = <b>Нова розсилка.</b> Кому надіслати?
campaign-choose-content = Що надіслати? Оберіть шаблон або напишіть свій текст.
campaign-own-text-button = ✍️ Написати свій текст
campaign-write-text = Надішліть текст повідомлення. Оформлення збережеться; {"{{"} customer.first_name {"}}"} підставить ім'я кожного клієнта.
campaign-text-problem = Цей текст не можна використати: { $problem }
campaign-preview-title = Попередній перегляд (з вашим ім'ям):
campaign-recipients = Сегмент: { $segment }. Отримувачів: <b>{ $recipients }</b> з { $in_segment } (не потрапили { $excluded }: пауза або ліміт повідомлень).
campaign-send-button = 🚀 Надіслати { $recipients }
campaign-stop-button = ⏹ Зупинити розсилку
campaign-progress = Розсилка №{ $id }: надіслано { $sent } з { $total }, у черзі { $waiting }, пропущено { $skipped }, помилок { $failed }.
campaign-report = <b>Розсилка №{ $id }: { $state }.</b> Надіслано { $sent } з { $total }; пропущено { $skipped }; помилок { $failed }.
campaign-report-reason = · { $reason }: { $count }
campaign-state-running = триває
campaign-state-cancelled = зупинена
campaign-state-done = завершена
campaign-cancelled = Скасовано: нічого не надіслано.
campaign-stopping = Зупиняємо: ненадіслані повідомлення скасовано.
