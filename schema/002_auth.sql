-- 002_auth.sql - authentication results per message: spf (per identity),
-- dkim (one row per signature), dmarc, and later outbound signing.
--
-- Rows are written with their message in the same transaction, in the
-- order the Authentication-Results header lists them.

CREATE TABLE message_auth (
    message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,      -- 0, 1, 2 ... in header order
    method      TEXT NOT NULL,         -- spf, dkim, dmarc, ...
    result      TEXT NOT NULL,         -- RFC 8601 result word
    identity    TEXT,                  -- spf: domain checked; dkim: d=; dmarc: From domain
    selector    TEXT,                  -- dkim: s=
    algorithm   TEXT,                  -- dkim: a=
    policy      TEXT,                  -- dmarc: published policy that applied
    disposition TEXT,                  -- dmarc: what it asked for after pct
    reason      TEXT,
    PRIMARY KEY (message_id, position)
);

CREATE INDEX message_auth_method ON message_auth (method, result);
CREATE INDEX message_auth_identity ON message_auth (identity COLLATE NOCASE);
