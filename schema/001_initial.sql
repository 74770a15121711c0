-- 001_initial.sql - the ledger: one row per message, one per recipient.
--
-- Applied by store_migrate() inside one transaction; PRAGMA user_version
-- is set to 1 by the migration runner, never by this script. Later
-- features add their tables in 002_..., never by editing this file.

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,  -- random per record; replays are idempotent
    host        TEXT,                  -- host that wrote the record
    queue_id    TEXT,
    message_id  TEXT,
    date_header TEXT,
    direction   TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    client_ip   TEXT,
    client_ptr  TEXT,
    helo        TEXT,
    sasl_user   TEXT,
    mail_from   TEXT,                  -- '' for the null sender
    header_from TEXT,
    subject     TEXT,
    size        INTEGER,
    action      TEXT NOT NULL,
    received_at INTEGER NOT NULL       -- seconds since the epoch, UTC
);

CREATE INDEX messages_received_at ON messages (received_at);
-- Sender filters compare case-insensitively; these indexes serve them.
CREATE INDEX messages_mail_from ON messages (mail_from COLLATE NOCASE);
CREATE INDEX messages_header_from ON messages (header_from COLLATE NOCASE);
CREATE INDEX messages_queue_id ON messages (queue_id);

CREATE TABLE message_recipients (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,       -- 0, 1, 2 ... in envelope order
    address    TEXT NOT NULL,
    PRIMARY KEY (message_id, position)
);

CREATE INDEX message_recipients_address ON message_recipients (address COLLATE NOCASE);
