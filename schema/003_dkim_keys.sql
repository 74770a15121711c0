-- 003_dkim_keys.sql - the DKIM keys outbound mail is signed with, one row
-- per (domain, selector).
--
-- A key's life: 'pending' (made by "postmeter dkim rotate": published in
-- DNS, not signing yet) -> 'active' (signs, published) -> 'retired' (no
-- longer signs, still published so mail signed with it verifies, until it
-- is removed). "postmeter dkim keygen" makes a key active at once when the
-- domain has no active key of that algorithm. A domain signs with every
-- active key it has: at most one per algorithm (the index below).
--
-- The private key itself never enters the database: key_file names the
-- PEM file. A domain without an active key is not signed. Domains and
-- selectors are stored in lower case (DNS names compare without case).

CREATE TABLE dkim_keys (
    id           INTEGER PRIMARY KEY,
    domain       TEXT NOT NULL CHECK (domain <> '' AND domain = lower(domain)),
    selector     TEXT NOT NULL CHECK (selector <> '' AND selector = lower(selector)),
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
    bits         INTEGER NOT NULL CHECK (bits > 0),  -- RSA modulus; 256 for Ed25519
    key_file     TEXT NOT NULL CHECK (substr(key_file, 1, 1) = '/'),
    state        TEXT NOT NULL CHECK (state IN ('active', 'pending', 'retired')),
    created_at   INTEGER NOT NULL,     -- seconds since the epoch, UTC
    activated_at INTEGER,              -- NULL: never active
    retired_at   INTEGER,              -- NULL: not retired
    UNIQUE (domain, selector)
);

-- Never two signing keys of one algorithm for one domain.
CREATE UNIQUE INDEX dkim_keys_one_active ON dkim_keys (domain, algorithm) WHERE state = 'active';
