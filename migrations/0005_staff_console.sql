-- Staff console: shop-wide settings (the marketing kill switch), campaigns, and the audit log.

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_by  TEXT NOT NULL
);

-- An owner's one-off message to a segment; its messages go through the outbox (campaign_id).
CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    created_by    INTEGER NOT NULL,
    segment       TEXT NOT NULL,
    template      TEXT,                -- a template name, or NULL for the owner's own text
    text          TEXT,
    state         TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'cancelled', 'done')),
    recipients    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    finished_at   TEXT
);

-- Everything a staff member does, for owners to see with /audit.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    staff_id  INTEGER NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

ALTER TABLE coupons ADD COLUMN campaign_id INTEGER REFERENCES campaigns (id);
CREATE INDEX outbox_campaign ON outbox (campaign_id, state) WHERE campaign_id IS NOT NULL;
