-- Planning asks, for each rule, which customers are inside its due window: a consent, a first or last
-- purchase, a restock date or a birthday in a range, a rhythm that makes them late about now. With these
-- indexes it reads the ids of those customers alone, then only their records; without them it read
-- every customer's record (a million: most of a planning run that must take less than ten seconds).
CREATE INDEX customers_consent_at ON customers (consent_at) WHERE consent_at IS NOT NULL;
CREATE INDEX customers_birthday ON customers (birthday) WHERE birthday IS NOT NULL;
CREATE INDEX loyalty_accounts_first_purchase ON loyalty_accounts (first_purchase_at, user_id)
    WHERE first_purchase_at IS NOT NULL AND user_id IS NOT NULL;
CREATE INDEX loyalty_accounts_last_purchase ON loyalty_accounts (last_purchase_at, user_id)
    WHERE last_purchase_at IS NOT NULL AND user_id IS NOT NULL;
CREATE INDEX loyalty_accounts_restock_due ON loyalty_accounts (restock_due_at, user_id)
    WHERE restock_due_at IS NOT NULL AND user_id IS NOT NULL;
-- Late by their own rhythm: last purchase + late_multiple × median gap, late_multiple from the config.
-- By whole days of median gap, then last purchase: for each day count, the last purchases that make a
-- customer late about now form one range (bot/storage/planning.py, `_late_candidates`).
CREATE INDEX loyalty_accounts_rhythm ON loyalty_accounts (CAST(median_gap_days AS INTEGER), last_purchase_at)
    WHERE median_gap_days > 0 AND user_id IS NOT NULL;
-- Customers in the middle of a rule's steps, by the time its last step was sent: with the user id in the
-- index, planning reads them a range of user ids at a time without reading the rows.
DROP INDEX outbox_rule_sent;
CREATE INDEX outbox_rule_sent ON outbox (rule, sent_at, user_id) WHERE state = 'sent';
