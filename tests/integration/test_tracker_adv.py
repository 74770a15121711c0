#!/usr/bin/python3
"""test_tracker_adv.py - adversarial review of postmeter-tracker's token
key (issue 24, step 2): the database made anew while the tracker runs.

The tracker on a database of its own (as test_tracker_nokey.py), its key
read. The database and its -wal and -shm are removed, as an admin
starting over would; the tracker's own ledger writer makes the database
again at its next batch, migrated, with a new token key, and
postmeter-milter (which re-reads the key with its rules) would mint
tokens under that one. A token minted under the new key and put into
tracked_messages must be recorded: before the fix the tracker kept the
key it read at start, answered every such token as forged (outcome
bad_token) and never queued one, silently, until restarted.
"""
import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, free_port, log, main_with_harness, wait_for
from pmtest.tracker import Tracker, get, stop_checked, mint, token_key

PORT = free_port()
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")

state = {}


def metrics(t):
    return t.request(get("/metrics")).decode()


def metric(text, name):
    m = re.search(r"(?m)^%s (\d+)$" % re.escape(name), text)
    return int(m.group(1)) if m else None


def rows(db, token):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM pixel_opens p JOIN tracked_messages t"
                           " ON t.id = p.tracked_id WHERE t.token = ?", (token,)).fetchone()[0]
    finally:
        con.close()


def key_of(db):
    """key_of - the token key of db, None while there is none (not yet made or migrated)"""
    try:
        return token_key(db)
    except (sqlite3.Error, TypeError):
        return None


def test_setup(h):
    db = state["db"] = os.path.join(os.path.dirname(h.database), "adv.db")  # the user's dir
    t = state["tracker"] = Tracker(h, PORT, conf={"database": db, "ledger_spool": db + ".spool"})
    t.start()
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_token_key_loaded") == 1, 20,
             "the tracker to read its key")
    state["old_key"] = token_key(db)
    tok = state["old"] = mint(state["old_key"])
    con = sqlite3.connect(db, timeout=10)
    con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                " VALUES (?, 'pipe', 'injected', 0)", (tok,))
    con.commit()
    con.close()
    t.request(get("/px/o/%s.gif" % tok, CHROME))
    wait_for(lambda: rows(db, tok) == 1, 20, "the open under the first key written")


def test_made_anew(h):
    t, db = state["tracker"], state["db"]
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
    log("database removed")
    # the next batch makes it again (the writer migrates what it opens): a new key
    t.request(get("/px/o/%s.gif" % state["old"], CHROME))
    new_key = wait_for(lambda: key_of(db), 30, "the writer to make the database anew")
    check(new_key != state["old_key"], "a new database has a new key")
    tok = mint(new_key)  # what postmeter-milter now puts into mail
    con = sqlite3.connect(db, timeout=10)
    con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                " VALUES (?, 'pipe', 'injected', 0)", (tok,))
    con.commit()
    con.close()
    m0 = metrics(t)
    deadline = time.time() + 15
    while rows(db, tok) == 0 and time.time() < deadline:
        t.request(get("/px/o/%s.gif" % tok, CHROME))  # a reader opening it now and then
        time.sleep(0.5)
    m = metrics(t)
    forged = metric(m, 'postmeter_tracker_requests_total{method="GET",outcome="bad_token"}') - \
        metric(m0, 'postmeter_tracker_requests_total{method="GET",outcome="bad_token"}')
    check(rows(db, tok) >= 1, "an open of a token under the new key is a row (%d answered as "
          "forged)" % forged)
    check("the token key changed" in t.log_text(), "the log says the key changed",
          t.log_text()[-800:])


def test_teardown(h):
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("a database of the tracker's own, its key read", test_setup),
        ("the database made anew: tokens under its new key recorded", test_made_anew),
        ("teardown", test_teardown),
    ], name="tracker-adv", milter_conf={"tracking_base_url": "http://127.0.0.1:%d/px" % PORT})
