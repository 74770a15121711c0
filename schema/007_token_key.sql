-- 007_token_key.sql - tokens the tracker can check without the
-- database, the accept time of a tracked message to the millisecond,
-- and each tracked message's first open and first human open.
--
-- token_key: one row, one random 32-byte key, made here once. A pixel
-- token is 12 random bytes and the first 9 bytes of HMAC-SHA256 under
-- this key (postmeter-tracker(8)): postmeter-milter and
-- postmeter-pixelfilter read the key to make tokens, postmeter-tracker
-- reads it at start to tell a token one of them made from a forged one
-- before anything is queued. It lives in the database so that every
-- host of one ledger (several MX hosts and a tracker host sharing one
-- PostgreSQL database) uses the same key with no file to copy.
-- randomblob() draws from SQLite's generator, seeded from the system's
-- (/dev/urandom). Whoever can read the database can make tokens; the
-- database is the service user's, mode 0640.
--
-- tracked_messages.created_ms: when the message was accepted, in
-- milliseconds since the epoch (created_at is whole seconds); NULL for a
-- row made before this migration (then created_at * 1000 stands for it).
-- An open sooner than open_min_seconds after it is a scanner's, decided
-- when the open is written.
--
-- tracked_messages.first_open_at, first_human_open_at: the opened_at of
-- the message's earliest open of any class, and of its earliest open of
-- class human or proxy (a person, maybe through a provider's image
-- proxy); NULL while there is none. The store sets them in the same
-- transaction as the open's row (an open's class is final when it is
-- written), so a report reads one row per message instead of seeking
-- into pixel_opens for each; rows of opens stored before this migration
-- fill them in here. Measured on 10,000 messages with 600,000 opens:
-- counting the opened and the humanly opened messages from these
-- columns takes about 1 ms, from the index pixel_opens_tracked (two
-- seeks per message) 13-15 ms, growing with the messages; the writer
-- pays about 10% of its opens/s (lib/store_sqlite_opens.c).

CREATE TABLE token_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key        BLOB NOT NULL CHECK (length(key) = 32),
    created_at INTEGER NOT NULL
);

INSERT INTO token_key (id, key, created_at) VALUES (1, randomblob(32), CAST(strftime('%s', 'now') AS INTEGER));

ALTER TABLE tracked_messages ADD COLUMN created_ms INTEGER;
ALTER TABLE tracked_messages ADD COLUMN first_open_at INTEGER;
ALTER TABLE tracked_messages ADD COLUMN first_human_open_at INTEGER;

UPDATE tracked_messages SET
    first_open_at = (SELECT min(opened_at) FROM pixel_opens
                     WHERE tracked_id = tracked_messages.id
                       AND class IN ('human', 'proxy', 'prefetch', 'scanner')),
    first_human_open_at = (SELECT min(opened_at) FROM pixel_opens
                           WHERE tracked_id = tracked_messages.id
                             AND class IN ('human', 'proxy'));
