-- A planned message is unique by (customer, rule, period, step): one index that is also the look-up by
-- customer, rule and period. The text key "user:rule:step:period" beside it was a second index on every
-- row (a quarter of writing a planning run's rows) and let a rule name with ':' make two messages one.
-- SQLite changes a table's constraints only by building it again; the runner applies migrations with
-- foreign keys off (coupons and surveys point at outbox rows by id, which stay as they are) and checks
-- them before committing.
CREATE TABLE outbox_new (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL,
    rule           TEXT NOT NULL,
    step           INTEGER NOT NULL,
    period         TEXT NOT NULL,
    campaign_id    INTEGER,
    template       TEXT NOT NULL,
    priority       INTEGER NOT NULL DEFAULT 0,
    state          TEXT NOT NULL CHECK (state IN
                   ('planned', 'sending', 'sent', 'failed', 'skipped', 'held_out', 'unknown')),
    reason         TEXT,
    due_at         TEXT NOT NULL,          -- not before this moment (quiet hours already applied)
    attempts       INTEGER NOT NULL DEFAULT 0,
    coupon_code    TEXT,
    language       TEXT,
    message_id     INTEGER,                -- Telegram's, once sent
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    sent_at        TEXT
);
INSERT INTO outbox_new (id, user_id, rule, step, period, campaign_id, template, priority, state, reason,
                        due_at, attempts, coupon_code, language, message_id, created_at, updated_at, sent_at)
SELECT id, user_id, rule, step, period, campaign_id, template, priority, state, reason,
       due_at, attempts, coupon_code, language, message_id, created_at, updated_at, sent_at
FROM outbox ORDER BY id;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE UNIQUE INDEX outbox_key ON outbox (user_id, rule, period, step);
CREATE INDEX outbox_due ON outbox (state, due_at, priority) WHERE state = 'planned';
CREATE INDEX outbox_user_sent ON outbox (user_id, sent_at) WHERE state = 'sent';
CREATE INDEX outbox_campaign ON outbox (campaign_id, state) WHERE campaign_id IS NOT NULL;
CREATE INDEX outbox_rule_sent ON outbox (rule, sent_at, user_id) WHERE state = 'sent';
