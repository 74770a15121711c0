#!/usr/bin/python3
"""report_fill.py - build the big ledger bench/report.sh times the reports on.

Usage: report_fill.py DB END [MESSAGES]

Creates DB (which must not exist) with the real schema (schema/*.sql in
order, PRAGMA user_version after each, as store_migrate() does) in one
process writing through SQLite directly, in big transactions. Nothing
random: the same rows every time, only shifted in time so that the
newest message is just before END (seconds since the epoch) and the
oldest 30 days before it. For MESSAGES (default 1,000,000) ledger rows:

- 70% inbound, 30% outbound; one outbound row in 30 a second copy of
  an earlier one (same Message-ID and envelope sender, as
  postmeter-pixelfilter's reinjected copies);
- 2 recipients and 3 authentication rows each: inbound spf, dkim and
  dmarc (mostly passing, some failing, with reasons), outbound one
  dkim-sign signed or not and two signatures' rows (dkim pass);
- From domains spread over 5,000 names, a subject on every row;
- one tracked message for two outbound rows in three (never a copy;
  at most MESSAGES / 5: 200,000 by default; a pipe-mode row for
  every fourth, the others milter mode with message_uid), 90% with the
  pixel injected, 1 or 2 recipients, and 600,000 opens (3 per tracked
  message on average, on about half of them: classes human, proxy,
  prefetch, scanner), first_open_at and first_human_open_at set as the
  store sets them.

The migrations that count the rows already stored (008_rollup, the
ledger's counters) run after the rows are in, as on an upgrade, and say
how long they took. Prints the counts of each table. The bench never
touches any other database.
"""
import glob
import os
import sqlite3
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAYS = 30
DOMAINS = 5000
CLASSES = ("human", "proxy", "prefetch", "scanner")
ACTIONS = ("accept",) * 90 + ("reject",) * 5 + ("quarantine",) * 3 + ("tempfail",) * 2


# The migrations from this one on count the rows already stored (008_rollup:
# the ledger's counters): they run after the fill, as an upgrade runs them.
COUNTING = 8


def migrate(db, first, last):
    """the real schema's migrations first..last, as store_migrate() applies them"""
    for version, path in enumerate(sorted(glob.glob(os.path.join(SRC, "schema", "[0-9]*.sql"))),
                                   start=1):
        if version < first or version > last:
            continue
        t0 = time.perf_counter()
        with open(path, encoding="utf-8") as f:
            db.executescript("BEGIN;\n" + f.read() + "\nCOMMIT;")
        db.execute(f"PRAGMA user_version = {version}")
        if version >= COUNTING:
            print("%s: %.1f s" % (os.path.basename(path), time.perf_counter() - t0))


def kind(i):
    """message i: outbound? a copy of i - 1?"""
    out = i % 10 in (2, 5, 8)
    copy = out and i % 100 == 8 and (i - 3) % 10 == 5
    return out, copy


def message_rows(n, t0, span):
    """messages, recipients, auth rows of message i (ids 1..n)"""
    for i in range(1, n + 1):
        out, copy = kind(i)
        at = t0 + (i - 1) * span // n
        dom = "d%d.example" % ((i * 7919) % DOMAINS)
        if out:
            src = i - 3 if copy else i
            m = (i, "%032x" % i, "mx1", "Q%09X" % i, "<m%d@local.test>" % src, "outbound",
                 "127.0.0.1", "u%d@local.test" % (src % 997), "u%d@local.test" % (src % 997),
                 "Newsletter %d" % (src % 211), 3000 + i % 5000, "accept", at)
            auth = (("dkim-sign", "signed" if i % 50 else "error", "local.test", "s1", None),
                    ("dkim", "pass", "local.test", "s1", None),
                    ("dkim", "pass", "local.test", "e1", None))
            rcpts = ("r%d@%s" % (i % 50021, dom), "s%d@%s" % (i % 30011, dom))
        else:
            spf = "pass" if i % 20 < 17 else "fail" if i % 20 < 19 else "softfail"
            dkim = "pass" if i % 10 < 8 else "fail"
            dmarc = "pass" if i % 20 < 15 else "fail" if i % 20 < 18 else "none"
            m = (i, "%032x" % i, "mx1", "Q%09X" % i, "<m%d@%s>" % (i, dom), "inbound",
                 "192.0.2.%d" % (i % 250), "b%d@%s" % (i % 131, dom), "n%d@%s" % (i % 17, dom),
                 "Subject %d" % (i % 4999), 2000 + i % 20000, ACTIONS[i % 100], at)
            auth = (("spf", spf, dom, None, "-all" if spf == "fail" else None),
                    ("dkim", dkim, dom, "sel%d" % (i % 3),
                     "body hash did not verify" if dkim == "fail" else None),
                    ("dmarc", dmarc, dom, None, "policy=reject" if dmarc == "fail" else None))
            rcpts = ("u%d@local.test" % (i % 997), "v%d@local.test" % (i % 499))
        yield m, rcpts, auth


def fill_messages(db, n, t0, span):
    """the ledger rows, in transactions of 100,000 messages"""
    ins_m = ("INSERT INTO messages (id, uid, host, queue_id, message_id, direction, client_ip,"
             " mail_from, header_from, subject, size, action, received_at)"
             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    ins_r = "INSERT INTO message_recipients VALUES (?, ?, ?)"
    ins_a = ("INSERT INTO message_auth (message_id, position, method, result, identity, selector,"
             " reason) VALUES (?, ?, ?, ?, ?, ?, ?)")
    ms, rs, as_ = [], [], []
    for m, rcpts, auth in message_rows(n, t0, span):
        ms.append(m)
        rs.extend((m[0], p, r) for p, r in enumerate(rcpts))
        as_.extend((m[0], p) + a for p, a in enumerate(auth))
        if len(ms) == 100000:
            with db:
                db.executemany(ins_m, ms)
                db.executemany(ins_r, rs)
                db.executemany(ins_a, as_)
            ms, rs, as_ = [], [], []
    with db:
        db.executemany(ins_m, ms)
        db.executemany(ins_r, rs)
        db.executemany(ins_a, as_)


def fill_tracked(db, n, t0, span, ntracked):
    """tracked messages, their recipients and opens"""
    ts, trs, os_ = [], [], []
    tid = 0
    for i in range(1, n + 1):
        if i % 10 not in (2, 5) or tid == ntracked:
            continue
        tid += 1
        at = t0 + (i - 1) * span // n
        dom = "d%d.example" % ((i * 7919) % DOMAINS)
        pipe = tid % 4 == 0
        injected = tid % 10 != 0
        nopens = (0, 6, 0, 6, 0, 9, 0, 3, 0, 6)[tid % 10] if injected else 0
        first = first_h = None
        for k in range(nopens):
            cls = CLASSES[(tid + k * 3) % 4] if k else CLASSES[2 + tid % 2]
            oat = at + 5 + (tid % 7919) * (k + 1)
            os_.append(("o%d.%d" % (tid, k), tid, oat, "%d.0.2.0" % (tid % 200 + 10),
                        "Mozilla/5.0", "GET" if cls != "scanner" else "HEAD", cls, "bench"))
            first = oat if first is None else min(first, oat)
            if cls in ("human", "proxy"):
                first_h = oat if first_h is None else min(first_h, oat)
        ts.append((tid, "tok%025d" % tid, None if pipe else "%032x" % i, "Q%09X" % i,
                   "u%d@local.test" % (i % 997), "u%d@local.test" % (i % 997),
                   "Newsletter %d" % (i % 211), "pipe" if pipe else "milter",
                   "injected" if injected else "no-html", at, at * 1000, first, first_h))
        trs.extend((tid, p, "r%d@%s" % (i % 50021 + p, dom)) for p in range(1 + tid % 2))
    with db:
        db.executemany(
            "INSERT INTO tracked_messages (id, token, message_uid, queue_id, mail_from,"
            " header_from, subject, mode, outcome, created_at, created_ms, first_open_at,"
            " first_human_open_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ts)
        db.executemany("INSERT INTO tracked_recipients VALUES (?, ?, ?)", trs)
        db.executemany(
            "INSERT INTO pixel_opens (uid, tracked_id, opened_at, ip, user_agent, method, class,"
            " reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", os_)


def main():
    if len(sys.argv) not in (3, 4) or os.path.exists(sys.argv[1]):
        sys.exit("usage: report_fill.py DB END [MESSAGES] (DB must not exist)")
    end = int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 1000000
    span = DAYS * 86400
    db = sqlite3.connect(sys.argv[1], isolation_level="DEFERRED")
    migrate(db, 1, COUNTING - 1)
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    fill_messages(db, n, end - span, span)
    fill_tracked(db, n, end - span, span, n // 5)
    db.execute("PRAGMA journal_mode = WAL")
    migrate(db, COUNTING, 10**6)
    # no ANALYZE: postmeter never runs it, so the planner sees what it sees in use
    for t in ("messages", "message_recipients", "message_auth", "tracked_messages",
              "tracked_recipients", "pixel_opens"):
        print("%s: %d rows" % (t, db.execute("SELECT count(*) FROM " + t).fetchone()[0]))
    db.close()


if __name__ == "__main__":
    main()
