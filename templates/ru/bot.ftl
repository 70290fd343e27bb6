# Тексты бота на русском. Можно использовать HTML Telegram (<b>, <i>, <a href="…">).
# Значения в { $скобках } подставляет бот и экранирует; каждый ключ должен быть во всех трёх языках.

## Меню команд
cmd-start = Начать и решить насчёт предложений
cmd-balance = Мои баллы, уровень и сгорание
cmd-link = Привязать карту или телефон
cmd-language = Сменить язык
cmd-mydata = Всё, что вы обо мне храните
cmd-forget = Удалить мои данные
cmd-stop = Больше не присылать предложения
cmd-help = Что умеет этот бот
cmd-stats = Персонал: главные цифры
cmd-customer = Персонал: найти клиента
cmd-staffhelp = Персонал: команды персонала

## Согласие
consent-question =
    Здравствуйте, { $name }! Это бот <b>{ $shop }</b>.

    Здесь можно в любой момент проверить бонусные баллы. С вашего разрешения мы также будем присылать персональные предложения: приветственный купон, полезные советы, напоминания о сгорающих баллах, поздравление с днём рождения. Не чаще { $per_week ->
        [one] { $per_week } сообщения в неделю
       *[other] { $per_week } сообщений в неделю
    } и { $per_month ->
        [one] { $per_month } в месяц
       *[other] { $per_month } в месяц
    }, и никогда ночью.

    Можно присылать вам предложения? Отписаться можно в любой момент командой /stop.
consent-yes-button = ✅ Да, присылайте
consent-no-button = Нет, спасибо
consent-granted = Спасибо! Вы будете получать наши предложения. Отписаться — /stop, посмотреть баллы — /balance.
consent-declined = Понятно: мы не будем присылать вам предложения. Баллы можно проверить командой /balance. Если передумаете, отправьте /start.
consent-start-again = Сначала отправьте /start.
welcome-back-subscribed = С возвращением, { $name }! Вы подписаны на предложения { $shop }. /balance — ваши баллы, /stop — отписаться.

## Отписка
stop-done = Готово: больше никаких предложений. Баллы остаются при вас. Чтобы снова подписаться, отправьте /start.
stop-not-subscribed = Вы не подписаны на предложения, мы ничего вам не присылаем. Чтобы подписаться, отправьте /start.

## Привязка
link-how = Чтобы видеть баллы, привяжите бонусный счёт: отсканируйте QR-код на карте или чеке или поделитесь номером телефона кнопкой ниже.
share-phone-button = 📱 Поделиться номером телефона
link-linked = Ваш бонусный счёт в { $shop } привязан к этому чату.
link-already-yours = Этот бонусный счёт уже привязан к вам.
link-taken = Этот бонусный счёт привязан к другому аккаунту Telegram. Если он ваш, обратитесь к персоналу.
link-not-found = Мы не нашли такую карту. Проверьте код или обратитесь к персоналу.
link-has-other-account = Ваш Telegram уже привязан к другому бонусному счёту. Попросите персонал объединить их.
link-not-own-contact = Пожалуйста, поделитесь своим номером кнопкой, а не чужим контактом.
link-invalid-phone = Это не похоже на номер телефона, который мы можем использовать.
link-see-balance = Отправьте /balance, чтобы увидеть баллы.

## Баланс
balance-unlinked = Вы ещё не привязали бонусный счёт. Отсканируйте QR-код на карте или чеке или поделитесь номером телефона кнопкой ниже.
balance-points = <b>Ваши баллы: { $points }</b>
balance-tier = Уровень: { $tier }
balance-expiry = Ближайшее сгорание: { $date } — { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}.
balance-no-expiry = Ни один из ваших баллов пока не сгорает.
balance-card = Карта: { $card }
tier-new = Новый
tier-regular = Постоянный
tier-loyal = Лояльный

## Мои данные
mydata-caption = Всё, что мы о вас храним, в виде файла JSON.
mydata-none = Мы ничего о вас не храним.

## Удаление
forget-question = Удалить всё, что мы о вас храним? История согласий, язык и привязка к бонусному счёту будут удалены, и вы больше не получите сообщений. Это нельзя отменить.
forget-yes-button = Да, удалить
forget-no-button = Отмена
forget-done = Ваши данные удалены. До свидания! Если вернётесь, просто отправьте /start.
forget-cancelled = Ничего не удалено.
forget-nothing = Мы ничего о вас не храним.

## Язык
language-question = Выберите язык:
language-name-ru = Русский
language-name-uk = Українська
language-name-en = English
language-set = Язык: русский.

## Помощь и прочее
help =
    Это бот <b>{ $shop }</b>.
    /balance — ваши баллы, уровень и когда они сгорают
    /history — последние операции с баллами
    /invite — пригласить друга
    /birthday — ваш день рождения, для подарка
    /link — привязать карту или телефон
    /language — сменить язык
    /mydata — всё, что мы о вас храним
    /forget — удалить ваши данные
    /stop — больше не присылать предложения
    /start — начать заново и решить насчёт предложений
unknown-command = Я не знаю такой команды. /help — что я умею.
free-text = Я бот и не могу отвечать на сообщения. /help — что я умею; по другим вопросам обратитесь в магазин.
other-content = Я не могу это использовать. /help — что я умею.
stale-button = Эта кнопка больше не действует.
error-generic = Извините, у нас что-то пошло не так. Попробуйте ещё раз через минуту.

## Персонал
staff-help =
    <b>Команды персонала</b>
    /stats — главные цифры
    /customer &lt;id | @username | телефон | карта&gt; — найти клиента
    /purchase &lt;клиент&gt; &lt;сумма&gt; [заметка] — записать покупку
    /redeem &lt;клиент&gt; &lt;баллы&gt; — списать баллы
    /adjust &lt;клиент&gt; &lt;±баллы&gt; &lt;причина&gt; — скорректировать баллы
    /survey — почему ушли клиенты, NPS
    /redeem &lt;купон&gt; [клиент] — погасить купон
    <b>Владельцы</b>: /campaign, /pause, /resume, /report, /export customers|ledger|messages|surveys, /audit
customer-usage = Использование: /customer &lt;id | @username | телефон | карта&gt;
customer-not-found = Клиент «{ $query }» не найден.
customer-telegram = <b>{ $name }</b> (id { $id }, { $username })
customer-consent = Предложения: { $state }
customer-language = Язык: { $language }
customer-unreachable = ⚠️ Заблокировал бота.
customer-points = Баллы: { $points }
customer-not-in-telegram = Ещё не в Telegram.
customer-account = Карта: { $card }, телефон: { $phone }
customer-activity = За 12 месяцев: покупок — { $purchases }, на сумму { $spend }
consent-state-unknown = ещё не спрашивали
consent-state-granted = подписан
consent-state-declined = отказался
consent-state-withdrawn = отписался

## Бонусы (клиенты)
cmd-history = Мои последние операции с баллами
cmd-invite = Пригласить друга
cmd-birthday = Мой день рождения, для подарка
referral-accepted = Вас пригласил друг! { $points ->
    [0] Добро пожаловать.
   *[other] После вашей первой покупки вы оба получите по { $points } баллов.
}
referral-self = Это ваша собственная ссылка-приглашение: отправьте её другу.
referral-unknown-code = Эта ссылка-приглашение больше не действует.
referral-already-invited = Вас уже кто-то пригласил.
referral-already-customer = Приглашения — для новых клиентов, а вы уже наш клиент. Спасибо!
referral-loop = Нельзя принять приглашение от того, кого пригласили вы.
history-empty = Операций с баллами пока нет.
history-title = <b>Ваши последние операции с баллами</b>
history-line = { $date } · { $points } · { $kind }
ledger-earn = покупка
ledger-redeem = списание
ledger-adjust = корректировка
ledger-expire = сгорание
ledger-bonus = бонус
invite =
    Приглашайте друзей: { $link }
    { $points ->
        [0] Спасибо, что рекомендуете нас!
       *[other] Когда друг сделает первую покупку, вы оба получите по { $points } баллов.
    }
    Приглашено: { $invited }, уже купили: { $bought }.
birthday-ask = Расскажите, когда у вас день рождения, и получите подарок: отправьте /birthday ДД.ММ, например /birthday 14.03. Только день и месяц.
birthday-current = Ваш день рождения: { $date }. Чтобы изменить, отправьте /birthday ДД.ММ.
birthday-invalid = «{ $text }» — не дата. Отправьте день и месяц так: /birthday 14.03
birthday-saved = Сохранено: { $date }. Мы запомним!
tier-up = Поздравляем! Теперь ваш уровень — <b>{ $tier }</b>. Спасибо, что возвращаетесь!
referral-paid-referrer = Ваш друг сделал первую покупку: вам начислено { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}. Спасибо!
referral-paid-invited = Приветственный бонус по приглашению друга: { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}.
points-redeemed = Списано { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}. Остаток: { $balance }.
birthday-bonus = С днём рождения! 🎉 Подарок от нас: { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}.

## Бонусы (персонал)
cmd-purchase = Персонал: записать покупку
cmd-redeem = Персонал: списать баллы клиента
cmd-adjust = Персонал: скорректировать баллы
purchase-usage = Использование: /purchase &lt;телефон | карта | @username | id&gt; &lt;сумма&gt; [заметка]
error-amount-text = «{ $text }» — не сумма. Пишите так: 250 или 250.50.
purchase-new-customer = новый клиент { $who }
purchase-preview = Записать покупку на <b>{ $amount }</b> для { $who }? Баллы: +{ $points }
confirm-button = ✅ Подтвердить
cancel-button = Отмена
purchase-expired = Это подтверждение устарело. Отправьте команду ещё раз.
purchase-cancelled = Отменено: ничего не записано.
purchase-duplicate = Эта покупка уже записана.
purchase-recorded = Записано: { $amount }, +{ $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}.
error-points-text = «{ $text }» — не количество баллов.
redeem-usage = Использование: /redeem &lt;телефон | карта | @username | id&gt; &lt;баллы&gt;
redeem-done = Списано { $points ->
    [one] { $points } балл
    [few] { $points } балла
   *[other] { $points } баллов
}. Остаток: { $balance }.
adjust-usage = Использование: /adjust &lt;телефон | карта | @username | id&gt; &lt;+N или -N&gt; &lt;причина&gt;
adjust-done = Скорректировано на { $points ->
    [one] { $shown } балл
    [few] { $shown } балла
   *[other] { $shown } баллов
}. Остаток: { $balance }.
error-purchase-id = Нет номера покупки или он слишком длинный.
error-currency = Валюта должна быть { $expected }.
error-amount = Сумма не может быть отрицательной.
error-time = Во времени должен быть указан часовой пояс.
error-time-future = Время покупки — в будущем.
error-customer-missing = Укажите, кто купил: телефон или карту.
error-customer-unknown = Такого клиента нет.
error-card = Это не код карты.
error-phone = Это не номер телефона.
error-card-phone-mismatch = Эта карта и этот телефон принадлежат разным клиентам.
error-points-positive = Количество баллов должно быть больше нуля.
error-points-nonzero = Корректировка не может быть нулевой.
error-not-enough-points = Недостаточно баллов: на счету { $balance }.

## Рассылки
nudge-fewer-button = 🔕 Реже
fewer-question = Как часто нам вам писать?
fewer-weekly-button = Не чаще раза в неделю
fewer-monthly-button = Не чаще раза в месяц
fewer-pause-button = Пауза на 3 месяца
fewer-stop-button = Больше не присылать
fewer-weekly-done = Готово: не чаще одного сообщения в неделю.
fewer-monthly-done = Готово: не чаще одного сообщения в месяц.
fewer-pause-done = Готово: никаких предложений до { $date }.

## Опросы
survey-reason-service = 😞 Обслуживание
survey-reason-quality = 👎 Качество
survey-reason-price = 💸 Цена / лучшее предложение
survey-reason-forgot = 🤷 Забыл(а) о вас
survey-reason-moved = 🚚 Переехал(а) / больше не нужно
survey-reason-other = ✍️ Другое
survey-ask-comment = Спасибо! Хотите что-то добавить? Просто напишите сообщение или нажмите «Без комментария».
survey-ask-other = Спасибо! Напишите, пожалуйста, что вам не подошло.
survey-skip-button = Без комментария
survey-already = Вы уже ответили на этот опрос. Спасибо!
nps-thanks-promoter = Спасибо! Нам приятно, что вам у нас нравится. Пригласите друга по вашей ссылке: { $link }
nps-thanks-passive = Спасибо за ответ! Будем стараться заслужить 10.
nps-thanks-detractor = Спасибо за честность. Нам жаль, мы над этим поработаем.
staff-alert-service = ⚠️ <b>Жалоба на обслуживание</b> от <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, телефон { $phone }, карта { $card }, { $tier }).
    Комментарий: { $comment }
    Пожалуйста, свяжитесь с клиентом.
staff-alert-detractor = ⚠️ <b>NPS { $score }</b> от <a href="{ $link }">{ $name }</a> ({ $username }, id { $user_id }, телефон { $phone }, карта { $card }, { $tier }).
staff-alert-detractor-comment = 💬 NPS { $score } от <a href="{ $link }">{ $name }</a>, комментарий: { $comment }
survey-report-title = <b>Почему клиенты ушли</b> (последние 90 дней)
survey-report-reason = { $reason }: { $count } ({ $share }%)
survey-report-no-reasons = Ответов пока нет.
survey-report-nps =
    <b>NPS</b>: 30 дней { $nps30 } (ответов: { $answers30 }), 90 дней { $nps90 } (ответов: { $answers90 })
    Динамика к предыдущим 30 дням: { $trend }
survey-report-comments = <b>Последние комментарии</b>
survey-chart-caption = Результаты опросов
survey-chart-reasons = Почему клиенты ушли
survey-chart-nps = NPS
survey-chart-days = дней назад
export-usage = Использование: /export customers | ledger | messages | surveys
export-caption = Ответы на опросы (CSV)
owners-only = Это могут только владельцы магазина.
cmd-survey = Персонал: опросы и NPS
cmd-export = Владельцы: выгрузка ответов

## Staff console
stats =
    <b>Клиенты</b>: { $customers }
    Подписаны на предложения: { $opted_in } ({ $opted_in_pct }%)
    Привязали бонусный счёт: { $linked } ({ $linked_pct }%)
    Доступны: { $reachable } ({ $reachable_pct }%)
    Удалены по запросу: { $erased }
    Заблокировали бота при рассылке (30 дней): { $block_rate }%
stats-segments = <b>Сегменты</b>:
stats-sent-title = <b>Отправлено сообщений</b> (7 дней / 30 дней):
stats-sent-line = { $rule }: { $week } / { $month }
stats-sent-none = пока нет
stats-redemptions = Погашено купонов (30 дней): { $count }
stats-chart-segments = Клиенты по сегментам
stats-chart-messages = Сообщения за 30 дней
stats-chart-caption = Клиенты и сообщения
segment-all = Все подписанные
segment-new = Новые
segment-active = Активные
segment-at_risk = Под угрозой ухода
segment-lapsed = Пропавшие
segment-lost = Ушедшие
coupon-redeemed = ✅ Купон { $code } погашен: скидка { $value } (из «{ $rule }»).
coupon-unknown = ❌ Купона { $code } нет.
coupon-expired = ❌ Срок купона { $code } истёк { $date }.
coupon-used = ❌ Купон { $code } уже использован.
coupon-wrong-customer = ❌ Купон { $code } принадлежит другому клиенту.
customer-consent-event = · { $date }: { $action } ({ $source })
customer-frequency = Просил(а) писать реже: { $frequency }
customer-purchases-title = <b>Последние покупки</b>
customer-messages-title = <b>Последние сообщения</b>
customer-surveys-title = <b>Ответы на опросы</b>
customer-survey-line = • { $answer }{ $comment }
pause-done = ⏸ Все рекламные сообщения на паузе. Ничего не отправляется до /resume.
resume-done = ▶️ Рекламные сообщения снова включены; ожидающие уходят сейчас.
report-empty = Пока мало истории: рассылку оценивают через { $days ->
    [one] { $days } день
    [few] { $days } дня
   *[other] { $days } дней
} после отправки.
report-title = <b>Работают ли рассылки?</b> Купили в течение { $days ->
    [one] { $days } дня
   *[other] { $days } дней
}: получившие и контрольная группа.
report-rule =
    <b>{ $rule }</b>: получили { $nudged } → купили { $nudged_rate }; контрольная группа { $held } → { $held_rate }
    Разница { $difference } п. п. (95% ДИ { $low } … { $high }): { $verdict }
verdict-not-enough-data = пока мало данных
verdict-works = работает
verdict-hurts = вредит продажам
verdict-no-clear-effect = явного эффекта пока нет
report-nudged = получили
report-held-out = контрольная группа
report-chart-title = Купили за период
export-done = { $what }.csv: строк — { $rows }
audit-empty = Действий персонала пока нет.
audit-title = <b>Последние действия персонала</b>
audit-line = { $when } · { $staff } · { $action } { $detail }
cmd-campaign = Владельцы: рассылка по сегменту
cmd-pause = Владельцы: приостановить рассылки
cmd-resume = Владельцы: возобновить рассылки
cmd-report = Владельцы: работают ли рассылки?
cmd-audit = Владельцы: последние действия персонала
campaign-choose-segment = <b>Новая рассылка.</b> Кому отправить?
campaign-choose-content = Что отправить? Выберите шаблон или напишите свой текст.
campaign-own-text-button = ✍️ Написать свой текст
campaign-write-text = Пришлите текст сообщения. Оформление сохранится; {"{{"} customer.first_name {"}}"} подставит имя каждого клиента.
campaign-text-problem = Этот текст нельзя использовать: { $problem }
campaign-preview-title = Предпросмотр (с вашим именем):
campaign-recipients = Сегмент: { $segment }. Получателей: <b>{ $recipients }</b> из { $in_segment } (не попали { $excluded }: пауза или лимит сообщений).
campaign-send-button = 🚀 Отправить { $recipients }
campaign-stop-button = ⏹ Остановить рассылку
campaign-progress = Рассылка №{ $id }: отправлено { $sent } из { $total }, в очереди { $waiting }, пропущено { $skipped }, ошибок { $failed }.
campaign-report = <b>Рассылка №{ $id }: { $state }.</b> Отправлено { $sent } из { $total }; пропущено { $skipped }; ошибок { $failed }.
campaign-report-reason = · { $reason }: { $count }
campaign-state-running = идёт
campaign-state-cancelled = остановлена
campaign-state-done = завершена
campaign-cancelled = Отменено: ничего не отправлено.
campaign-stopping = Останавливаем: неотправленные сообщения отменены.
