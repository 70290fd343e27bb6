-- Loyalty: purchase lines (for favourite products and restock reminders), where a purchase came from,
-- birthdays, referral codes and who invited whom.

CREATE TABLE purchase_items (
    purchase_id  INTEGER NOT NULL REFERENCES purchases (id),
    line         INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    qty          TEXT NOT NULL,          -- decimal text: spices are sold by weight
    price_minor  INTEGER NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (purchase_id, line)
) WITHOUT ROWID;
CREATE INDEX purchase_items_sku ON purchase_items (sku);

ALTER TABLE purchases ADD COLUMN source TEXT NOT NULL DEFAULT 'api'
    CHECK (source IN ('api', 'staff', 'import', 'demo'));
ALTER TABLE purchases ADD COLUMN note TEXT;

-- 'MM-DD': day and month only, the year is none of our business.
ALTER TABLE customers ADD COLUMN birthday TEXT;
ALTER TABLE customers ADD COLUMN referral_code TEXT;
CREATE UNIQUE INDEX customers_referral_code ON customers (referral_code);

-- One inviter per invited customer; both are rewarded once, at the invited friend's first purchase.
CREATE TABLE referrals (
    invited_user_id   INTEGER PRIMARY KEY REFERENCES customers (user_id) ON DELETE CASCADE,
    referrer_user_id  INTEGER NOT NULL REFERENCES customers (user_id) ON DELETE CASCADE,
    at                TEXT NOT NULL,
    rewarded_at       TEXT,
    CHECK (invited_user_id != referrer_user_id)
);
CREATE INDEX referrals_referrer ON referrals (referrer_user_id);
CREATE INDEX points_ledger_expiring ON points_ledger (expires_at) WHERE expires_at IS NOT NULL;
