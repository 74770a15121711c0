#!/usr/bin/python3
"""test_tracker_cap.py - the cap on recorded opens of one token
(tracker_opens_per_network, tracker_opens_per_token; adversarial review
of issue 24: one real token wrote 121,218 rows in 10 s).

postmeter-tracker on the harness's database with two tracked tokens,
the per-network cap N = 3, the per-token cap P = 5, an hour's window:
  - N + 10 GETs of token A from 127.0.0.1: exactly N rows, every answer
    the same bytes (Date aside) as the first, /metrics counts 10 capped;
  - token B opened once from each of 8 /24s (127.0.1.1 ... 127.0.8.1):
    exactly P rows, 3 more capped;
  - N + 2 GETs of an unknown token: the very same answer as token A's,
    2 more capped (the cap is no oracle), no row;
  - the rows of A and B are written (the writer settled): nothing lost
    below the caps.
"""
import os
import re
import socket
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, free_port, main_with_harness, wait_for
from pmtest.tracker import Tracker, get, stop_checked, mint, token_key, without_date

PORT = free_port()
BASE = "http://127.0.0.1:%d/px" % PORT
N, P = 3, 5
TOKEN_A = TOKEN_B = UNKNOWN = None  # minted under the database's key by test_setup
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")

state = {}


def request_from(src, data):
    """request_from - data sent from address src to the tracker; the whole answer"""
    with socket.create_connection(("127.0.0.1", PORT), timeout=10,
                                  source_address=(src, 0)) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def pixel(token):
    return get("/px/o/%s.gif" % token, CHROME)


def rows(h, token):
    return h.db_query("SELECT count(*) AS n FROM pixel_opens p JOIN tracked_messages t"
                      " ON t.id = p.tracked_id WHERE t.token = ?", (token,))[0]["n"]


def metric(t, name):
    m = re.search(r"(?m)^%s (\d+)$" % name, t.request(get("/metrics")).decode())
    return int(m.group(1)) if m else None


def settled(t):
    """settled - every open handed to the writer is written or discarded"""
    def done():
        m = t.request(get("/metrics")).decode()
        handed = sum(int(n) for n in re.findall(r"(?m)^postmeter_opens_total\{[^}]*\} (\d+)$", m))
        gone = sum(int(re.search(r"(?m)^%s (\d+)$" % k, m).group(1)) for k in (
            "postmeter_tracker_rows_written_total", "postmeter_tracker_opens_discarded_total"))
        return gone == handed
    wait_for(done, 30, "the writer to settle", interval=0.1)


def test_setup(h):
    t = state["tracker"] = Tracker(h, PORT, conf={
        "tracker_opens_per_network": str(N),
        "tracker_opens_per_token": str(P),
        "tracker_opens_window_s": "3600",
    })
    t.start()  # migrates the database
    global TOKEN_A, TOKEN_B, UNKNOWN
    key = token_key(h.database)
    TOKEN_A, TOKEN_B = mint(key), mint(key)
    UNKNOWN = mint(key)  # a token a host made, in no tracked_messages row (pruned, say)
    con = sqlite3.connect(h.database, timeout=10)
    for tok in (TOKEN_A, TOKEN_B):
        con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                    " VALUES (?, 'pipe', 'injected', 0)", (tok,))
    con.commit()
    con.close()
    check_eq(metric(t, "postmeter_tracker_opens_capped_total"), 0, "nothing capped yet")


def test_per_network(h):
    t = state["tracker"]
    answers = [without_date(request_from("127.0.0.1", pixel(TOKEN_A))) for _ in range(N + 10)]
    check(answers[0].startswith(b"HTTP/1.1 200 OK"), "the GIF", answers[0][:100])
    check_eq(set(answers), {answers[0]}, "every answer the same bytes, capped or not")
    state["answer"] = answers[0]
    settled(t)
    check_eq(rows(h, TOKEN_A), N, "N rows for N + 10 requests from one network")
    check_eq(metric(t, "postmeter_tracker_opens_capped_total"), 10, "10 capped")


def test_per_token(h):
    t = state["tracker"]
    for i in range(1, 9):
        got = without_date(request_from("127.0.%d.1" % i, pixel(TOKEN_B)))
        check_eq(got, state["answer"], "127.0.%d.1: the same answer" % i)
    settled(t)
    check_eq(rows(h, TOKEN_B), P, "P rows from 8 networks")
    check_eq(metric(t, "postmeter_tracker_opens_capped_total"), 10 + 8 - P, "3 more capped")


def test_unknown(h):
    t = state["tracker"]
    for _ in range(N + 2):
        got = without_date(request_from("127.0.0.1", pixel(UNKNOWN)))
        check_eq(got, state["answer"], "the unknown token: the same answer")
    settled(t)
    check_eq(metric(t, "postmeter_tracker_opens_capped_total"), 10 + 8 - P + 2,
             "the unknown token capped the same way")
    check_eq(h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"], N + P,
             "only the rows under the caps")


def test_teardown(h):
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("the tracker, two tracked tokens", test_setup),
        ("N + 10 opens from one network: N rows, 10 capped", test_per_network),
        ("one open from each of 8 networks: P rows", test_per_token),
        ("an unknown token: capped alike, same answer", test_unknown),
        ("teardown", test_teardown),
    ], name="tracker-cap", milter_conf={"tracking_base_url": BASE})
