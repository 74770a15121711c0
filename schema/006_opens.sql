-- 006_opens.sql - opens of tracking pixels: one row per request
-- postmeter-tracker answered for the token of a tracked message.
--
-- The tracker hands each open to the ledger writer (a LEDGER_OPEN
-- record); the writer inserts it only if its token is in
-- tracked_messages, so every row belongs to a tracked message. An open
-- of an unknown token is discarded when its batch is written, and
-- counted. uid is the record's, so a replayed spool never adds a row
-- twice.
--
-- The row points at tracked_messages by id, not by token: the token is
-- already stored once (tracked_messages.token, UNIQUE) and is looked up
-- once per open when it is written; an integer keeps the per-message
-- index small, and forgetting or pruning a tracked message takes its
-- opens with it (ON DELETE CASCADE; foreign keys are on in every
-- connection).
--
-- Nothing of the request is kept but these columns. ip is the client
-- address as open_ip_storage kept it (a /24 or /48 network by default,
-- NULL for 'none'); user_agent as sent (NULL when none was), bounded by
-- the tracker. class says who fetched the pixel, reason which rule said
-- so (postmeter-tracker(8)): 'human' is a person, 'proxy' a person
-- through a provider's image proxy, 'prefetch' a fetch before anyone
-- looked, 'scanner' a security gateway or a bot.

CREATE TABLE pixel_opens (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,   -- the ledger record's; replays are idempotent
    tracked_id INTEGER NOT NULL REFERENCES tracked_messages (id) ON DELETE CASCADE,
    opened_at  INTEGER NOT NULL,       -- seconds since the epoch, UTC: the request's time
    ip         TEXT,
    user_agent TEXT,
    method     TEXT NOT NULL CHECK (method IN ('GET', 'HEAD')),
    class      TEXT NOT NULL CHECK (class IN ('human', 'proxy', 'prefetch', 'scanner')),
    reason     TEXT,
    host       TEXT                    -- the tracker host that answered
);

-- Per tracked message, by class and time: the first open of a class
-- (the first human open) is one seek, and so is the first open of any
-- class when asked as "class IN ('human', 'proxy', 'prefetch',
-- 'scanner')" (four seeks; the CHECK above makes that every row); without
-- the IN it is a walk over the message's own entries (the index covers
-- it), fine for a few opens, slow for one mail to a big list in milter
-- mode (one token, 100,000 opens: 6 ms instead of 13 us). It also serves
-- the message's opens by class and the cascade from tracked_messages.
-- No second index on (tracked_id, opened_at): each index costs the writer
-- a B-tree insert per open (measured with the token lookup: about 60,000
-- opens/s with these two indexes, 30,000-38,000 with a third).
CREATE INDEX pixel_opens_tracked ON pixel_opens (tracked_id, class, opened_at);
-- Opens in a time range, for every message.
CREATE INDEX pixel_opens_opened_at ON pixel_opens (opened_at);
