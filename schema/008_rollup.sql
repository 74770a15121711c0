-- 008_rollup.sql - counters of the ledger per UTC hour, kept by the
-- ledger writer in the same transaction as the rows, so that report
-- summary reads a few thousand counter rows instead of every message of
-- its range (bench/README.md, "bench/report.sh").
--
-- rollup_mail: ledger rows per hour (floor(received_at / 3600)),
-- direction, action and what report summary counts of their
-- authentication results, each message once:
--   spf   the first spf result (lowest position): 0 pass, 1 fail or
--         softfail, 2 any other word, -1 no spf result;
--   dkim  2 a passing signature, 1 signatures and none passing, 0 none;
--   dmarc the first dmarc result: 0 pass, 1 fail, 2 other, -1 none;
--   sig   1 when a dkim-sign result says "signed";
--   copy  1 for a row in message_copies (below).
-- The store adds a message's row when it stores the message anew (a
-- replayed record adds nothing), a prune subtracts the rows it deletes in
-- the same transaction. Rows written around the store (by hand, a test's
-- SQL) are not counted; a report checks each hour's total against the
-- messages of the hour and reads an hour that differs row by row.
--
-- rollup_domain: inbound messages per UTC day (floor(received_at / 86400))
-- and From domain as DMARC saw it (the first dmarc result's identity,
-- lower case; '' without one), the sums report auth and the summary's
-- failing domains need: spf pass, spf fail or softfail, a passing dkim
-- signature, signatures and none passing, dmarc pass, dmarc fail, and the
-- actions reject and quarantine. rollup_reason: the failing results
-- (fail, softfail, temperror, permerror, policy) of spf, dkim and dmarc
-- of those messages per day, domain, method, result and reason ('' for
-- none), one per result row. rollup_selector: their dkim rows with a
-- selector per day, domain, signing domain and selector (lower case; ''
-- for a row without d=). A day is read from these only when all its
-- hours hold (rollup_mail); the rest row by row.
--
-- rollup_opens: pixel_opens rows per hour of opened_at and class; a
-- report checks an hour's total against the rows as for rollup_mail.
--
-- message_copies: outbound rows that had an earlier outbound row (by
-- received_at, then id) with the same Message-ID and envelope sender when
-- they were stored: postmeter-pixelfilter's reinjected copies. A report
-- counts a message once within its range; a copy whose earlier rows are
-- all outside the range (or pruned) is counted there after all, which the
-- report checks for the copies of its range (few) through
-- messages_copy_key.
--
-- The migration fills both from the rows already stored: on 1,000,000
-- messages (bench/report.sh's ledger) it takes about the time noted in
-- bench/README.md, once.

CREATE TABLE rollup_mail (
    hour      INTEGER NOT NULL,
    direction TEXT NOT NULL,
    action    TEXT NOT NULL,
    copy      INTEGER NOT NULL,
    spf       INTEGER NOT NULL,
    dkim      INTEGER NOT NULL,
    dmarc     INTEGER NOT NULL,
    sig       INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (hour, direction, action, copy, spf, dkim, dmarc, sig)
) WITHOUT ROWID;

CREATE TABLE rollup_domain (
    day         INTEGER NOT NULL,
    dom         TEXT NOT NULL,
    n           INTEGER NOT NULL,
    spf_pass    INTEGER NOT NULL,
    spf_fail    INTEGER NOT NULL,
    dkim_pass   INTEGER NOT NULL,
    dkim_fail   INTEGER NOT NULL,
    dmarc_pass  INTEGER NOT NULL,
    dmarc_fail  INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    PRIMARY KEY (day, dom)
) WITHOUT ROWID;

CREATE TABLE rollup_reason (
    day    INTEGER NOT NULL,
    dom    TEXT NOT NULL,
    method TEXT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (day, dom, method, result, reason)
) WITHOUT ROWID;

CREATE TABLE rollup_selector (
    day      INTEGER NOT NULL,
    dom      TEXT NOT NULL,
    sdom     TEXT NOT NULL,
    selector TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (day, dom, sdom, selector)
) WITHOUT ROWID;

CREATE TABLE rollup_opens (
    hour  INTEGER NOT NULL,
    class TEXT NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (hour, class)
) WITHOUT ROWID;

CREATE TABLE message_copies (
    id          INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL
);

CREATE INDEX message_copies_received_at ON message_copies (received_at);
-- The outbound rows of one Message-ID with their senders and times: is a
-- new row a copy, is a copy of a report's range the first of its range
-- (a seek into this index alone: it holds every column the check reads).
CREATE INDEX messages_copy_key ON messages (message_id, mail_from, received_at, direction)
    WHERE direction = 'outbound' AND message_id <> '';

INSERT INTO message_copies (id, received_at)
SELECT id, received_at FROM (
    SELECT id, received_at, row_number() OVER (PARTITION BY message_id, coalesce(mail_from, '')
                                               ORDER BY received_at, id) AS k
    FROM messages WHERE direction = 'outbound' AND message_id <> '')
WHERE k > 1;

-- The same per-message results as lib/store_sqlite_rollup.c's ROLLUP_RESULTS.
INSERT INTO rollup_mail (hour, direction, action, copy, spf, dkim, dmarc, sig, n)
SELECT hour, direction, action, copy, spf, dkim, dmarc, sig, count(*) FROM (
    SELECT (m.received_at - (m.received_at % 3600 + 3600) % 3600) / 3600 AS hour,
        m.direction AS direction, m.action AS action,
        EXISTS (SELECT 1 FROM message_copies c WHERE c.id = m.id) AS copy,
        coalesce((min(CASE WHEN a.method = 'spf' THEN a.position * 4 + CASE a.result
            WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 WHEN 'softfail' THEN 1 ELSE 2 END END)
            % 4 + 4) % 4, -1) AS spf,
        coalesce(max(CASE WHEN a.method = 'dkim' THEN 1 + (a.result = 'pass') END), 0) AS dkim,
        coalesce((min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result
            WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4, -1) AS dmarc,
        coalesce(max(a.method = 'dkim-sign' AND a.result = 'signed'), 0) AS sig
    FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id
    GROUP BY m.received_at, m.id)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;

-- Inbound messages by UTC day and From domain (lib/store_sqlite_rollup.c: ROLLUP_DAY, ROLLUP_DOM).
INSERT INTO rollup_domain (day, dom, n, spf_pass, spf_fail, dkim_pass, dkim_fail, dmarc_pass,
                           dmarc_fail, rejected, quarantined)
SELECT day, dom, count(*), sum(spf = 0), sum(spf = 1), sum(dkim = 2), sum(dkim = 1),
    sum(dmarc = 0), sum(dmarc = 1), sum(action = 'reject'), sum(action = 'quarantine')
FROM (
    SELECT (m.received_at - (m.received_at % 86400 + 86400) % 86400) / 86400 AS day,
        coalesce((SELECT lower(d.identity) FROM message_auth d WHERE d.message_id = m.id
                  AND d.method = 'dmarc' ORDER BY d.position LIMIT 1), '') AS dom,
        m.action AS action,
        coalesce((min(CASE WHEN a.method = 'spf' THEN a.position * 4 + CASE a.result
            WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 WHEN 'softfail' THEN 1 ELSE 2 END END)
            % 4 + 4) % 4, -1) AS spf,
        coalesce(max(CASE WHEN a.method = 'dkim' THEN 1 + (a.result = 'pass') END), 0) AS dkim,
        coalesce((min(CASE WHEN a.method = 'dmarc' THEN a.position * 4 + CASE a.result
            WHEN 'pass' THEN 0 WHEN 'fail' THEN 1 ELSE 2 END END) % 4 + 4) % 4, -1) AS dmarc
    FROM messages m LEFT JOIN message_auth a ON a.message_id = m.id
    WHERE m.direction = 'inbound' GROUP BY m.received_at, m.id)
GROUP BY 1, 2;

INSERT INTO rollup_reason (day, dom, method, result, reason, n)
SELECT (m.received_at - (m.received_at % 86400 + 86400) % 86400) / 86400,
    coalesce((SELECT lower(d.identity) FROM message_auth d WHERE d.message_id = m.id
              AND d.method = 'dmarc' ORDER BY d.position LIMIT 1), ''),
    a.method, a.result, coalesce(a.reason, ''), count(*)
FROM messages m JOIN message_auth a ON a.message_id = m.id
WHERE m.direction = 'inbound' AND a.method IN ('spf', 'dkim', 'dmarc')
  AND a.result IN ('fail', 'softfail', 'temperror', 'permerror', 'policy')
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO rollup_selector (day, dom, sdom, selector, n)
SELECT (m.received_at - (m.received_at % 86400 + 86400) % 86400) / 86400,
    coalesce((SELECT lower(d.identity) FROM message_auth d WHERE d.message_id = m.id
              AND d.method = 'dmarc' ORDER BY d.position LIMIT 1), ''),
    coalesce(lower(a.identity), ''), lower(a.selector), count(*)
FROM messages m JOIN message_auth a ON a.message_id = m.id
WHERE m.direction = 'inbound' AND a.method = 'dkim' AND a.selector IS NOT NULL
GROUP BY 1, 2, 3, 4;

INSERT INTO rollup_opens (hour, class, n)
SELECT (opened_at - (opened_at % 3600 + 3600) % 3600) / 3600, class, count(*)
FROM pixel_opens GROUP BY 1, 2;
