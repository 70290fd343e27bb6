-- What the nudge planner, /stats and campaigns read for every customer, kept on the shop record so that
-- a planning pass over a million customers does not re-read every purchase: how many purchases, the first
-- and the last, the customer's own rhythm (median days between purchases) and the product they restock
-- next. All of it is derived from purchases and purchase_items. summary_stale marks a record whose
-- purchases changed since its summary was computed: the triggers below set it, whatever code wrote the
-- purchase, and the application recomputes stale summaries before it reads them.

ALTER TABLE loyalty_accounts ADD COLUMN purchase_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE loyalty_accounts ADD COLUMN first_purchase_at TEXT;
ALTER TABLE loyalty_accounts ADD COLUMN last_purchase_at TEXT;
ALTER TABLE loyalty_accounts ADD COLUMN median_gap_days REAL;
ALTER TABLE loyalty_accounts ADD COLUMN restock_sku TEXT;
ALTER TABLE loyalty_accounts ADD COLUMN restock_due_at TEXT;
ALTER TABLE loyalty_accounts ADD COLUMN summary_stale INTEGER NOT NULL DEFAULT 0;

UPDATE loyalty_accounts SET summary_stale = 1 WHERE id IN (SELECT account_id FROM purchases);

CREATE INDEX loyalty_accounts_summary_stale ON loyalty_accounts (id) WHERE summary_stale = 1;

CREATE TRIGGER purchases_stale_on_insert AFTER INSERT ON purchases BEGIN
    UPDATE loyalty_accounts SET summary_stale = 1 WHERE id = NEW.account_id AND summary_stale = 0;
END;

CREATE TRIGGER purchases_stale_on_delete AFTER DELETE ON purchases BEGIN
    UPDATE loyalty_accounts SET summary_stale = 1 WHERE id = OLD.account_id AND summary_stale = 0;
END;

CREATE TRIGGER purchases_stale_on_update AFTER UPDATE OF account_id, at ON purchases BEGIN
    UPDATE loyalty_accounts SET summary_stale = 1
    WHERE id IN (OLD.account_id, NEW.account_id) AND summary_stale = 0;
END;

CREATE TRIGGER purchase_items_stale_on_insert AFTER INSERT ON purchase_items BEGIN
    UPDATE loyalty_accounts SET summary_stale = 1
    WHERE id = (SELECT account_id FROM purchases WHERE id = NEW.purchase_id) AND summary_stale = 0;
END;

CREATE TRIGGER purchase_items_stale_on_delete AFTER DELETE ON purchase_items BEGIN
    UPDATE loyalty_accounts SET summary_stale = 1
    WHERE id = (SELECT account_id FROM purchases WHERE id = OLD.purchase_id) AND summary_stale = 0;
END;


-- Planning asks for customers in the middle of a rule's steps by the time its last step was sent.
CREATE INDEX outbox_rule_sent ON outbox (rule, sent_at) WHERE state = 'sent';

-- Points about to expire, found by time without reading the ledger rows (planning, the expiry job).
DROP INDEX points_ledger_expiring;
CREATE INDEX points_ledger_expiring ON points_ledger (expires_at, account_id) WHERE points > 0;
