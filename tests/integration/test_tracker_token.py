#!/usr/bin/python3
"""test_tracker_token.py - tokens the tracker checks without the database
(issue 24, step 2: a flood of made-up well-formed tokens must not reach
the ledger writer).

postmeter-tracker on the harness's database; tokens minted under the
database's token key as postmeter-milter mints them (pmtest.tracker.mint),
two of them put into tracked_messages:
  - a valid token: one row per GET or HEAD, outcome "open";
  - forged tokens of a token's shape - one bit of a character flipped
    (in the random part, in the tag, the last character), the tag of
    another token, random well-formed strings, a token minted under
    another key - and malformed ones (cut, 22 characters as tokens were
    before tags): the very same bytes as the valid token's answer (Date
    aside), for GET and HEAD; not one of them reaches the writer (the
    opens handed over and the rows written count only the valid ones,
    nothing is discarded by the writer); /metrics counts the forged ones
    as outcome "bad_token" and shows no token;
  - a half-closed connection (the client shuts its write side after the
    request) and pipelined requests (two GETs in one write, a valid and a
    forged token) are answered correctly, and only the valid opens are
    rows;
  - open_min_seconds (2) end to end: a person's open of a message
    accepted just now is stored as a scanner's, with the milliseconds in
    its reason; of one accepted 2.1 s ago, as a person's.
"""
import os
import re
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, free_port, main_with_harness, wait_for
from pmtest.tracker import (Tracker, get, stop_checked, mint, split_response, token_key,
                            without_date)

PORT = free_port()
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
GIF_LEN = 43

state = {"valid": 0, "forged": 0}


def pixel(token):
    return "/px/o/%s.gif" % token


def flip(tok, i):
    """flip - tok with the lowest bit of character i's value flipped (still well-formed)"""
    return tok[:i] + B64[B64.index(tok[i]) ^ 1] + tok[i + 1:]


def metrics(t):
    return t.request(get("/metrics")).decode()


def metric(text, name):
    m = re.search(r"(?m)^%s (\d+)$" % re.escape(name), text)
    return int(m.group(1)) if m else None


def handed(text):
    """handed - opens handed to the writer (postmeter_opens_total, all classes)"""
    return sum(int(n) for n in re.findall(r"(?m)^postmeter_opens_total\{[^}]*\} (\d+)$", text))


def bad_tokens(text):
    """bad_tokens - requests answered as forged (outcome bad_token, GET and HEAD)"""
    return sum(metric(text, 'postmeter_tracker_requests_total{method="%s",outcome="bad_token"}'
                      % x) for x in ("GET", "HEAD"))


def rows(h, token):
    return h.db_query("SELECT count(*) AS n FROM pixel_opens p JOIN tracked_messages t"
                      " ON t.id = p.tracked_id WHERE t.token = ?", (token,))[0]["n"]


def settled(t):
    """settled - every open handed to the writer is written or discarded; the metrics text"""
    def done():
        m = metrics(t)
        gone = metric(m, "postmeter_tracker_rows_written_total") + metric(
            m, "postmeter_tracker_opens_discarded_total")
        return m if gone == handed(m) else None
    return wait_for(done, 30, "the writer to settle", interval=0.1)


def test_setup(h):
    t = state["tracker"] = Tracker(h, PORT)
    t.start()  # migrates the database
    key = token_key(h.database)
    check_eq(len(key), 32, "the token key's length")
    state["key"] = key
    state["a"], state["b"] = mint(key), mint(key)
    con = sqlite3.connect(h.database, timeout=10)
    for tok in (state["a"], state["b"]):
        con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                    " VALUES (?, 'pipe', 'injected', 0)", (tok,))
    con.commit()
    con.close()
    wait_for(lambda: metric(metrics(t), "postmeter_tracker_token_key_loaded") == 1, 10,
             "the tracker to hold the key")


def test_forged(h):
    t = state["tracker"]
    a, b = state["a"], state["b"]
    other_key = mint(bytes(32))  # a token of another database's key
    forged = [flip(a, 0), flip(a, 7), flip(a, 16), flip(a, 20), flip(a, 27),
              a[:16] + b[16:],  # b's tag on a's random part
              other_key]
    forged += ["".join(B64[c % 64] for c in os.urandom(28)) for _ in range(20)]
    malformed = [a[:-1], a[:22], a + "A", a[:-2] + "+A"]
    m0 = metrics(t)
    for method in ("GET", "HEAD"):
        want = without_date(t.request(get(pixel(a), CHROME, method)))
        state["valid"] += 1
        status, headers, body = split_response(want)
        check_eq(status, "HTTP/1.1 200 OK", "%s of the valid token" % method)
        check_eq(len(body), GIF_LEN if method == "GET" else 0, "%s body" % method)
        for tok in forged + malformed:
            got = without_date(t.request(get(pixel(tok), CHROME, method)))
            check_eq(got, want, "%s %s: the same bytes as the valid token's" % (method, tok))
    state["forged"] += 2 * len(forged)
    m = settled(t)
    check_eq(handed(m) - handed(m0), 2, "only the two valid opens handed to the writer")
    check_eq(metric(m, "postmeter_tracker_opens_discarded_total"), 0,
             "the writer discarded nothing: no forged token reached it")
    check_eq(rows(h, a), 2, "two rows for the valid token")
    check_eq(h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"], state["valid"],
             "no other row")
    check_eq(bad_tokens(m), state["forged"], "every forged token counted as bad_token")
    check(all(tok not in m for tok in forged + [a, b]), "no token in /metrics")
    check(all(tok not in t.log_text() for tok in forged), "no forged token in the log")


def read_answers(s, n):
    """read_answers - n HTTP answers from socket s (by Content-Length); [(head, body)]"""
    data, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return out
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?im)^content-length: *(\d+)", head).group(1))
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                return out
            rest += chunk
        out.append((head, rest[:length]))
        data = rest[length:]
    return out


def test_half_closed(h):
    t = state["tracker"]
    m0 = settled(t)
    keep = get(pixel(state["a"]), CHROME).replace(b"Connection: close\r\n", b"")
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(keep)
        s.shutdown(socket.SHUT_WR)  # nothing more: the request is all there is
        answers = read_answers(s, 1)
    check_eq(len(answers), 1, "an answer after the client shut its write side")
    check(answers[0][0].startswith(b"HTTP/1.1 200 OK"), "200", answers[0][0])
    check_eq(len(answers[0][1]), GIF_LEN, "the whole GIF")
    state["valid"] += 1
    # the same, with a forged token: the same answer, no open
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(keep.replace(state["a"].encode(), flip(state["a"], 3).encode()))
        s.shutdown(socket.SHUT_WR)
        forged = read_answers(s, 1)
    check_eq(len(forged), 1, "an answer to the forged token too")
    check_eq(without_date(forged[0][0]), without_date(answers[0][0]), "the same header")
    state["forged"] += 1
    m = settled(t)
    check_eq(handed(m) - handed(m0), 1, "one open handed over")
    check_eq(rows(h, state["a"]), 3, "the half-closed request's open is a row")


def test_pipelined(h):
    t = state["tracker"]
    m0 = settled(t)
    a, b = state["a"], state["b"]
    first = get(pixel(b), CHROME).replace(b"Connection: close\r\n", b"")
    second = get(pixel(flip(b, 25)), CHROME).replace(b"Connection: close\r\n", b"")
    third = get(pixel(b), "Mozilla/5.0")  # Connection: close
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(first + second + third)  # one write
        answers = read_answers(s, 3)
        rest = s.recv(65536)
    check_eq(len(answers), 3, "three answers to three pipelined requests")
    check(all(hd.startswith(b"HTTP/1.1 200 OK") and len(body) == GIF_LEN
              for hd, body in answers), "each the GIF", [hd for hd, _ in answers])
    check_eq(without_date(answers[1][0]), without_date(answers[0][0]),
             "the forged token's answer is the valid one's")
    check_eq(rest, b"", "the connection closed after the last")
    state["valid"] += 2
    state["forged"] += 1
    m = settled(t)
    check_eq(handed(m) - handed(m0), 2, "two opens handed over")
    got = h.db_query("SELECT p.class FROM pixel_opens p JOIN tracked_messages t"
                     " ON t.id = p.tracked_id WHERE t.token = ? ORDER BY p.id", (b,))
    check_eq([r["class"] for r in got], ["human", "prefetch"], "b's rows, in order")
    check_eq(rows(h, a), 3, "a's rows unchanged")
    check_eq(bad_tokens(m), state["forged"], "every forged token counted as bad_token")


def test_open_min(h):
    t = state["tracker"]
    key = state["key"]
    now_ms = int(time.time() * 1000)
    fresh, older = mint(key), mint(key)
    con = sqlite3.connect(h.database, timeout=10)
    for tok, ms in ((fresh, now_ms), (older, now_ms - 2100)):
        con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at, created_ms)"
                    " VALUES (?, 'pipe', 'injected', ?, ?)", (tok, ms // 1000, ms))
    con.commit()
    con.close()
    for tok in (fresh, older):
        check(t.request(get(pixel(tok), CHROME)).startswith(b"HTTP/1.1 200 OK"), "the GIF")
    settled(t)
    got = {}
    for tok in (fresh, older):
        got[tok] = h.db_query("SELECT p.class, p.reason FROM pixel_opens p JOIN tracked_messages"
                              " t ON t.id = p.tracked_id WHERE t.token = ?", (tok,))
    check_eq(len(got[fresh]), 1, "one row for the fresh message")
    check_eq(got[fresh][0]["class"], "scanner", "an open right after acceptance")
    m = re.fullmatch(r"opened (\d+) ms after acceptance \(open_min_seconds\)",
                     got[fresh][0]["reason"] or "")
    check(m is not None and int(m.group(1)) < 2000, "its reason", got[fresh][0]["reason"])
    check_eq([(r["class"], r["reason"]) for r in got[older]], [("human", "no machine signal")],
             "an open 2.1 s after acceptance")
    first = h.db_query("SELECT token, first_open_at, first_human_open_at FROM tracked_messages"
                       " WHERE token IN (?, ?)", (fresh, older))
    cols = {r["token"]: (r["first_open_at"] is not None, r["first_human_open_at"] is not None)
            for r in first}
    check_eq(cols, {fresh: (True, False), older: (True, True)}, "first_open_at, first_human")


def test_teardown(h):
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("the tracker, two tracked tokens minted under the key", test_setup),
        ("forged and malformed tokens: same bytes, never queued", test_forged),
        ("a half-closed connection", test_half_closed),
        ("pipelined requests", test_pipelined),
        ("open_min_seconds end to end", test_open_min),
        ("teardown", test_teardown),
    ], name="tracker-token", milter_conf={"tracking_base_url": "http://127.0.0.1:%d/px" % PORT})
