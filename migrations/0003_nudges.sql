-- Nudges: the outbox of planned marketing messages, their coupons, and each customer's own limits.

-- "Fewer messages": normal (the shop's caps), weekly, monthly, or paused until a date.
ALTER TABLE customers ADD COLUMN frequency TEXT NOT NULL DEFAULT 'normal'
    CHECK (frequency IN ('normal', 'weekly', 'monthly'));
ALTER TABLE customers ADD COLUMN paused_until TEXT;
-- IANA zone when known; the shop's otherwise (quiet hours are in the customer's time).
ALTER TABLE customers ADD COLUMN timezone TEXT;

-- One row per planned message. dedupe_key = customer:rule:step:period is unique, so planning the same
-- message twice is impossible. States: planned → sending → sent | failed; or skipped / held_out at once;
-- a row found in 'sending' after a crash becomes 'unknown' and is never sent again blindly.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    dedupe_key     TEXT NOT NULL UNIQUE,
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
CREATE INDEX outbox_due ON outbox (state, due_at, priority) WHERE state = 'planned';
CREATE INDEX outbox_user_sent ON outbox (user_id, sent_at) WHERE state = 'sent';
CREATE INDEX outbox_user_rule ON outbox (user_id, rule, period);

CREATE TABLE coupons (
    code          TEXT PRIMARY KEY,
    user_id       INTEGER,               -- NULL after the customer is forgotten
    rule          TEXT NOT NULL,
    outbox_id     INTEGER REFERENCES outbox (id),
    kind          TEXT NOT NULL CHECK (kind IN ('percent', 'amount')),
    value         INTEGER NOT NULL,
    issued_at     TEXT NOT NULL,
    valid_until   TEXT NOT NULL,
    redeemed_at   TEXT,
    redeemed_by   TEXT
);
CREATE INDEX coupons_user ON coupons (user_id);
