#!/usr/bin/python3
"""test_tracker_nokey.py - postmeter-tracker started while its database
is locked: it cannot read the token key, serves the pixel all the same,
queues every well-formed token (none of the real opens is lost), and
reads the key once the database answers (issue 24, step 2).

The tracker on a database of its own (the harness's milter keeps its
database open, and SQLite grants a lock that keeps readers out only to
the one connection there is): started once to create it and its key,
two tokens minted under that key put into tracked_messages, then a
connection takes it in exclusive locking mode (BEGIN EXCLUSIVE and a
write: no other connection can even read) and the tracker starts again:
  - it answers; /metrics says token_key_loaded 0 and the database down;
  - N valid opens and F forged (well-formed) ones get the GIF, all
    counted as outcome open_unverified;
  - the lock goes: the N valid opens are rows, the F forged ones are
    discarded by the writer, the tracker reads the key (token_key_loaded
    1, its log says so);
  - from then on a forged token is outcome bad_token and never reaches
    the writer; a valid one is a row.
"""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, free_port, log, main_with_harness, wait_for
from pmtest.tracker import Tracker, get, stop_checked, mint, token_key, without_date

PORT = free_port()
N, F = 6, 4
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

state = {}


def metrics(t):
    return t.request(get("/metrics")).decode()


def metric(text, name):
    m = re.search(r"(?m)^%s (\d+)$" % re.escape(name), text)
    return int(m.group(1)) if m else None


def outcome(text, o):
    return metric(text, 'postmeter_tracker_requests_total{method="GET",outcome="%s"}' % o)


def flip(tok, i):
    return tok[:i] + B64[B64.index(tok[i]) ^ 1] + tok[i + 1:]


def rows(db):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM pixel_opens").fetchone()[0]
    finally:
        con.close()


def test_setup(h):
    db = state["db"] = os.path.join(os.path.dirname(h.database), "nokey.db")  # the user's dir
    t = state["tracker"] = Tracker(h, PORT, conf={"database": db, "ledger_spool": db + ".spool"})
    t.start()
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_token_key_loaded") == 1, 20,
             "the first start to make the database and read its key")
    check_eq(t.stop(), 0, "the first run's exit status")
    key = token_key(db)
    state["a"], state["b"] = mint(key), mint(key)
    con = sqlite3.connect(db, timeout=10)
    for tok in (state["a"], state["b"]):
        con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                    " VALUES (?, 'pipe', 'injected', 0)", (tok,))
    con.commit()
    con.close()


def test_start_locked(h):
    t = state["tracker"]
    lock = state["lock"] = sqlite3.connect(state["db"], timeout=5, isolation_level=None)
    lock.execute("PRAGMA locking_mode = EXCLUSIVE")
    lock.execute("BEGIN EXCLUSIVE")
    lock.execute("UPDATE tracked_messages SET reason = reason")  # takes the lock
    t.start()
    # start-up waits for the database twice (migration, key), each the busy timeout
    wait_for(lambda: t.log_text().count("pixels at") == 2, 60, "the servers to start")
    m = metrics(t)
    check_eq(metric(m, "postmeter_tracker_token_key_loaded"), 0, "no key while locked")
    wait_for(lambda: "until the token key is read" in t.log_text(), 10, "the warning")
    a, b = state["a"], state["b"]
    want = without_date(t.request(get("/px/o/%s.gif" % a, CHROME)))
    check(want.startswith(b"HTTP/1.1 200 OK"), "the GIF while locked", want[:80])
    for i in range(N - 1):
        check_eq(without_date(t.request(get("/px/o/%s.gif" % (a if i % 2 else b), CHROME))),
                 want, "a valid token's answer")
    for i in range(F):
        check_eq(without_date(t.request(get("/px/o/%s.gif" % flip(a, 3 + i), CHROME))), want,
                 "a forged token's answer")
    m = metrics(t)
    check_eq(outcome(m, "open_unverified"), N + F, "every well-formed token queued, unverified")
    check_eq(outcome(m, "bad_token"), 0, "nothing refused without the key")
    check_eq(metric(m, "postmeter_tracker_token_key_loaded"), 0, "still no key")
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_database_up") == 0, 30,
             "the writer to find the database locked")
    check_eq(metric(metrics(t), "postmeter_tracker_token_key_loaded"), 0, "still no key")


def test_unlock(h):
    t = state["tracker"]
    state.pop("lock").close()  # ends the transaction and the exclusive mode
    log("database unlocked")
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_rows_written_total") == N, 60,
             "the %d real opens written" % N, interval=0.2)
    check_eq(rows(state["db"]), N, "exactly the real opens are rows")
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_opens_discarded_total") == F, 30,
             "the forged opens discarded by the writer")
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_token_key_loaded") == 1, 30,
             "the tracker to read the key")
    check("token key read after" in t.log_text(), "the log says the key was read",
          t.log_text()[-800:])


def test_after(h):
    t = state["tracker"]
    t.request(get("/px/o/%s.gif" % flip(state["b"], 10), CHROME))
    t.request(get("/px/o/%s.gif" % state["b"], CHROME))
    wait_for(lambda: rows(state["db"]) == N + 1, 30, "the valid open written")
    time.sleep(0.5)
    m = metrics(t)
    check_eq(outcome(m, "bad_token"), 1, "a forged token refused now")
    check_eq(outcome(m, "open"), 1, "a valid token verified now")
    check_eq(metric(m, "postmeter_tracker_opens_discarded_total"), F,
             "the forged token never reached the writer")
    check_eq(rows(state["db"]), N + 1, "rows")


def test_teardown(h):
    lock = state.pop("lock", None)
    if lock is not None:
        lock.close()
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("a database of the tracker's own, two tokens", test_setup),
        ("started with the database locked: answers, queues unverified", test_start_locked),
        ("unlocked: real opens written, forged discarded, key read", test_unlock),
        ("with the key: forged refused, valid recorded", test_after),
        ("teardown", test_teardown),
    ], name="tracker-nokey", milter_conf={"tracking_base_url": "http://127.0.0.1:%d/px" % PORT})
