#!/usr/bin/python3
"""test_tracker_load.py - every open recorded under load, with the
database locked in the middle (issue 24: "10,000 requests over 50
connections for valid tokens: exactly 10,000 rows; database locked for
5 s in the middle: all rows land afterwards").

postmeter-tracker on the harness's database, 50 tracked tokens minted
under its key, the per-token caps raised out of the way
(tracker_opens_per_network, tracker_opens_per_token). 50 client threads,
one keep-alive connection each, send 200 GETs each (10,000), one token
per connection and a person's agent, in three phases: when every client
has sent its first third, another connection takes the database with
BEGIN EXCLUSIVE and holds it for 5 s, while the clients send their
second third; the last third follows the unlock. Checked:
  - every request got the 200 GIF, also while the database was locked
    (a third of them answered during the lock, none took a second);
  - the lock held the writer: nothing written during it, opens waiting
    at its end;
  - afterwards exactly 10,000 rows, 200 per token, nothing dropped or
    discarded.
"""
import os
import re
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, free_port, log, main_with_harness, wait_for
from pmtest.tracker import Tracker, get, stop_checked, mint, token_key

PORT = free_port()
CONNS, PER_CONN = 50, 200
TOTAL = CONNS * PER_CONN
LOCK_S = 5
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")

state = {}


def metric(t, name):
    m = re.search(r"(?m)^%s (\d+)$" % re.escape(name), t.request(get("/metrics")).decode())
    return int(m.group(1)) if m else None


def test_setup(h):
    t = state["tracker"] = Tracker(h, PORT, conf={
        "tracker_opens_per_network": "1000000",
        "tracker_opens_per_token": "1000000",
        "tracker_max_per_ip": "200",
    })
    t.start()  # migrates the database
    key = token_key(h.database)
    state["tokens"] = [mint(key) for _ in range(CONNS)]
    con = sqlite3.connect(h.database, timeout=10)
    con.executemany("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                    " VALUES (?, 'pipe', 'injected', 0)", [(x,) for x in state["tokens"]])
    con.commit()
    con.close()
    state["base_rows"] = h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"]


class Client(threading.Thread):
    """Client - PER_CONN GETs of one token on one keep-alive connection, in three phases"""

    def __init__(self, token, progress, lock_window, phases):
        super().__init__(daemon=True)
        self.req = get("/px/o/%s.gif" % token, CHROME).replace(b"Connection: close\r\n", b"")
        self.progress, self.lock_window, self.phases = progress, lock_window, phases
        self.ok, self.errors, self.during_lock, self.slowest = 0, [], 0, 0.0

    def answer(self, s, buf):
        """answer - one answer off s; (head, body, rest of buf)"""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed by the server")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        n = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed in the body")
            rest += chunk
        return head, rest[:n], rest[n:]

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=30) as s:
                buf = b""
                for i in range(PER_CONN):
                    if i in (PER_CONN // 3, 2 * PER_CONN // 3):
                        self.phases.wait(120)  # all here: the locker locks or unlocks
                        self.phases.wait(120)  # it did
                    t0 = time.monotonic()
                    s.sendall(self.req)
                    head, body, buf = self.answer(s, buf)
                    took = time.monotonic() - t0
                    if head.startswith(b"HTTP/1.1 200 OK") and len(body) == 43:
                        self.ok += 1
                    else:
                        self.errors.append(head[:60])
                    w = self.lock_window
                    if w[0] is not None and w[0] <= t0 and (w[1] is None or t0 + took <= w[1]):
                        self.during_lock += 1
                        self.slowest = max(self.slowest, took)
                    self.progress.append(1)
        except (OSError, threading.BrokenBarrierError) as e:
            self.errors.append(repr(e))
            self.phases.abort()


def locker(h, t, progress, window, held, phases):
    """locker - between the first and second third, BEGIN EXCLUSIVE for LOCK_S seconds"""
    phases.wait(120)  # every client sent its first third
    con = sqlite3.connect(h.database, timeout=30, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    window[0] = time.monotonic()
    log("database locked after %d requests" % len(progress))
    written = metric(t, "postmeter_tracker_rows_written_total")
    phases.wait(120)  # the clients go on with their second third
    time.sleep(max(0.0, window[0] + LOCK_S - time.monotonic()))
    phases.wait(120)  # every client sent its second third
    held.append(metric(t, "postmeter_tracker_rows_written_total") - written)
    held.append(metric(t, "postmeter_tracker_queue_depth"))
    log("%d requests answered by the end of the lock" % len(progress))
    window[1] = time.monotonic()
    con.execute("ROLLBACK")
    con.close()
    log("database unlocked")
    phases.wait(120)  # the last third


def test_load(h):
    t = state["tracker"]
    progress, window, held = [], [None, None], []
    phases = threading.Barrier(CONNS + 1)
    clients = [Client(tok, progress, window, phases) for tok in state["tokens"]]
    lk = threading.Thread(target=locker, args=(h, t, progress, window, held, phases),
                          daemon=True)
    t0 = time.monotonic()
    lk.start()
    for c in clients:
        c.start()
    for c in clients:
        c.join(300)
    lk.join(60)
    log("%d requests in %.1f s" % (len(progress), time.monotonic() - t0))
    errors = [e for c in clients for e in c.errors]
    check_eq(errors, [], "no failed request")
    check_eq(sum(c.ok for c in clients), TOTAL, "every request got the GIF")
    check(window[1] is not None, "the database was locked and unlocked")
    during = sum(c.during_lock for c in clients)
    slowest = max(c.slowest for c in clients)
    log("%d requests answered while the database was locked, slowest %.3f s" % (during, slowest))
    check_eq(during, CONNS * (2 * PER_CONN // 3 - PER_CONN // 3),
             "the second third answered while the database was locked")
    check(slowest < 1.0, "no answer waited for the database", slowest)
    log("during the lock: %d rows written, %d opens waiting at its end" % tuple(held))
    check_eq(held[0], 0, "nothing written while the database was locked")
    check(held[1] > 0, "opens waiting at the end of the lock", held[1])
    want = state["base_rows"] + TOTAL
    wait_for(lambda: h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"] >= want, 120,
             "%d rows" % want, interval=0.5)
    time.sleep(1)  # a row too many would show now
    check_eq(h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"], want,
             "exactly %d rows more" % TOTAL)
    per = h.db_query("SELECT t.token, count(p.id) AS n FROM tracked_messages t LEFT JOIN"
                     " pixel_opens p ON p.tracked_id = t.id WHERE t.token IN (%s)"
                     " GROUP BY t.token" % ",".join("?" * CONNS), tuple(state["tokens"]))
    check_eq(sorted(r["n"] for r in per), [PER_CONN] * CONNS, "%d rows per token" % PER_CONN)
    check_eq(metric(t, "postmeter_tracker_rows_dropped_total"), 0, "nothing dropped")
    check_eq(metric(t, "postmeter_tracker_opens_discarded_total"), 0, "nothing discarded")
    check_eq(metric(t, "postmeter_tracker_opens_capped_total"), 0, "nothing capped")


def test_teardown(h):
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("the tracker, 50 tracked tokens", test_setup),
        ("10,000 requests over 50 connections, the database locked 5 s", test_load),
        ("teardown", test_teardown),
    ], name="tracker-load", milter_conf={"tracking_base_url": "http://127.0.0.1:%d/px" % PORT})
