-- Feedback: "why did you leave?" and NPS surveys, one answer each.

CREATE TABLE surveys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER,                 -- NULL after the customer is forgotten (the answer stays, anonymous)
    kind          TEXT NOT NULL CHECK (kind IN ('leave', 'nps')),
    outbox_id     INTEGER UNIQUE REFERENCES outbox (id) ON DELETE SET NULL,
    sent_at       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'open'
                  CHECK (state IN ('open', 'awaiting_comment', 'answered')),
    reason        TEXT CHECK (reason IN ('service', 'quality', 'price', 'forgot', 'moved', 'other')),
    score         INTEGER CHECK (score BETWEEN 0 AND 10),
    comment       TEXT,
    answered_at   TEXT,
    CHECK ((kind = 'leave' AND score IS NULL) OR (kind = 'nps' AND reason IS NULL))
);
CREATE INDEX surveys_user ON surveys (user_id, state);
CREATE INDEX surveys_answered ON surveys (kind, answered_at);

-- "Moved / no longer need": a polite goodbye and no more win-back for this customer.
ALTER TABLE customers ADD COLUMN no_win_back INTEGER NOT NULL DEFAULT 0 CHECK (no_win_back IN (0, 1));
