-- 004_tracking.sql - open tracking: which outbound mail gets a pixel
-- (tracking_rules), and every message that was tracked, with the token in
-- its pixel URL (tracked_messages, tracked_recipients).
--
-- A rule matches on one field: 'sender' (the envelope sender or the
-- header From address) or 'recipient' (an envelope recipient as the
-- client gave it, before alias expansion: a rule on an alias tracks the
-- mail sent to it). The pattern is a whole address or '@domain' (every
-- address of exactly that domain), in lower case. A disabled rule stays
-- but matches nothing.
--
-- One tracked_messages row per token. The milter gives a message one
-- token for all its recipients (mode 'milter', message_uid = the ledger
-- row's uid); postmeter-pixelfilter gives each recipient its own token
-- (mode 'pipe'). A message that was tracked but got no pixel (no HTML
-- part, signed by someone else, too large, ...) has a row too, with the
-- outcome saying why, so reports count it as sent but never opened.

CREATE TABLE tracking_rules (
    id         INTEGER PRIMARY KEY,
    field      TEXT NOT NULL CHECK (field IN ('sender', 'recipient')),
    pattern    TEXT NOT NULL CHECK (pattern <> '' AND pattern = lower(pattern)),
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    note       TEXT,
    created_at INTEGER NOT NULL,       -- seconds since the epoch, UTC
    UNIQUE (field, pattern)
);

CREATE TABLE tracked_messages (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL UNIQUE,  -- the pixel URL's <TOKEN>: 128 random bits, base64url
    message_uid TEXT,                  -- messages.uid of the ledger row (milter mode)
    queue_id    TEXT,
    mail_from   TEXT,
    header_from TEXT,
    subject     TEXT,                  -- only when log_subject = yes
    mode        TEXT NOT NULL CHECK (mode IN ('milter', 'pipe')),
    outcome     TEXT NOT NULL,         -- injected, no-html, skipped-signed, ...
    reason      TEXT,                  -- a short comment on the outcome
    created_at  INTEGER NOT NULL
);

CREATE INDEX tracked_messages_created_at ON tracked_messages (created_at);
CREATE INDEX tracked_messages_message_uid ON tracked_messages (message_uid);

CREATE TABLE tracked_recipients (
    tracked_id INTEGER NOT NULL REFERENCES tracked_messages (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    address    TEXT NOT NULL,
    PRIMARY KEY (tracked_id, position)
);

CREATE INDEX tracked_recipients_address ON tracked_recipients (address COLLATE NOCASE);
