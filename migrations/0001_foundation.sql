-- Customers in Telegram, their consent, the shop's loyalty accounts, purchases and the points ledger.
-- All times are UTC ISO-8601 text ('2026-11-23T10:00:00+00:00'), so text order is time order.

-- A person who has written to the bot. The primary key is the Telegram user id (== private chat id).
CREATE TABLE customers (
    user_id            INTEGER PRIMARY KEY,
    first_name         TEXT NOT NULL DEFAULT '',
    last_name          TEXT,
    username           TEXT,
    telegram_language  TEXT,
    -- chosen with /language; NULL means "follow Telegram's language, else the shop's default"
    language           TEXT CHECK (language IN ('ru', 'uk', 'en')),
    consent            TEXT NOT NULL DEFAULT 'unknown'
                       CHECK (consent IN ('unknown', 'granted', 'declined', 'withdrawn')),
    consent_at         TEXT,
    reachable          INTEGER NOT NULL DEFAULT 1 CHECK (reachable IN (0, 1)),
    unreachable_since  TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX customers_username ON customers (lower(username));

-- Every consent decision, as proof: who, when, which wording, from where (deep-link payload or command).
CREATE TABLE consent_events (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES customers (user_id) ON DELETE CASCADE,
    action        TEXT NOT NULL CHECK (action IN ('granted', 'declined', 'withdrawn')),
    text_version  TEXT NOT NULL,
    source        TEXT NOT NULL,
    at            TEXT NOT NULL
);
CREATE INDEX consent_events_user ON consent_events (user_id, at);

-- The shop's customer record (loyalty card / phone). It may exist before its owner finds the bot:
-- purchases reported by the till attach here and follow the person when they link.
CREATE TABLE loyalty_accounts (
    id          INTEGER PRIMARY KEY,
    card_code   TEXT UNIQUE,
    phone       TEXT UNIQUE,            -- E.164
    name        TEXT,
    user_id     INTEGER UNIQUE REFERENCES customers (user_id) ON DELETE SET NULL,
    linked_at   TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE purchases (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES loyalty_accounts (id),
    external_id   TEXT NOT NULL UNIQUE, -- the shop's purchase id: a purchase is counted once
    amount_minor  INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency      TEXT NOT NULL,
    at            TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX purchases_account_at ON purchases (account_id, at);

-- Append-only: the balance is the sum of entries, never a counter that can drift.
CREATE TABLE points_ledger (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES loyalty_accounts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'adjust', 'expire', 'bonus')),
    points       INTEGER NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    actor        TEXT NOT NULL,         -- 'system', 'staff:<telegram id>', 'api', 'import'
    at           TEXT NOT NULL,
    expires_at   TEXT,                  -- for positive entries that expire
    external_id  TEXT UNIQUE            -- makes a repeated purchase or adjustment a no-op
);
CREATE INDEX points_ledger_account_at ON points_ledger (account_id, at);

CREATE TRIGGER points_ledger_no_update BEFORE UPDATE ON points_ledger
BEGIN
    SELECT RAISE(ABORT, 'points_ledger is append-only');
END;

CREATE TRIGGER points_ledger_no_delete BEFORE DELETE ON points_ledger
BEGIN
    SELECT RAISE(ABORT, 'points_ledger is append-only');
END;

-- What remains after /forget: that an erasure happened, and nothing that identifies the person.
CREATE TABLE erasures (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    consent_events  INTEGER NOT NULL,
    had_account     INTEGER NOT NULL CHECK (had_account IN (0, 1))
);

-- Updates already handled, so an update Telegram delivers again after a restart is not answered twice.
CREATE TABLE processed_updates (
    bot_id     INTEGER NOT NULL,
    update_id  INTEGER NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (bot_id, update_id)
) WITHOUT ROWID;
