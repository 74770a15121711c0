#!/usr/bin/python3
"""test_tracker_hostile.py - postmeter-tracker against a hostile
client on the Internet (adversarial review of issue 24).

  - slowloris: a few addresses (127.0.0.11-14) fill every connection
    slot and each connection sends one byte a second, never finishing
    its request header. tracker_timeout_s is 2 s; after three times that
    no slow connection may still be open, and a good client must be
    answered (the issue: "a slowloris client cannot hold a slot");
  - the time limit is per request: a keep-alive client asking once a
    second is served past tracker_timeout_s, however long it stays;
  - a GET whose body never ends (chunked) or never comes (a
    Content-Length): 400 at once, the body never waited for;
  - a User-Agent with terminal escapes, BEL, a bare CR and bytes that are
    not UTF-8: the stored user_agent is valid UTF-8 without control
    characters (whatever later prints it - a report, a terminal, a
    Python sqlite3 reader - gets text, not escape sequences or a
    decoding error).
"""
import os
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, free_port, main_with_harness, wait_for
from pmtest.tracker import Tracker, get, log_tail, mint, token_key

PORT = free_port()
BASE = "http://127.0.0.1:%d/px" % PORT
TOKEN = None  # minted under the database's key and put into tracked_messages by test_setup
TIMEOUT_S = 2
SLOW_IPS = ["127.0.0.%d" % i for i in range(11, 15)]
PER_IP = 5

state = {}


def test_setup(h):
    t = state["tracker"] = Tracker(h, PORT, conf={
        "tracker_max_connections": str(len(SLOW_IPS) * PER_IP),
        "tracker_max_per_ip": str(PER_IP),
        "tracker_timeout_s": str(TIMEOUT_S),
        "open_ip_storage": "full",
    })
    t.start()  # migrates the database
    global TOKEN
    TOKEN = mint(token_key(h.database))
    con = sqlite3.connect(h.database, timeout=10)
    con.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                " VALUES (?, 'pipe', 'injected', 0)", (TOKEN,))
    con.commit()
    con.close()


def good_client():
    """good_client - the first bytes of an answer to a normal pixel request, or why not"""
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=3) as s:
            s.sendall(get("/px/o/%s.gif" % TOKEN, agent="good Chrome/120"))
            return s.recv(64)
    except OSError as e:
        return repr(e).encode()


def test_slowloris(h):
    socks, stop = [], threading.Event()
    for ip in SLOW_IPS:
        for _ in range(PER_IP):
            s = socket.socket()
            s.bind((ip, 0))
            s.settimeout(2)
            s.connect(("127.0.0.1", PORT))
            socks.append(s)
    line = b"GET /px/o/%s.gif HTTP/1.1\r\nHost: x\r\nX-Slow: " % TOKEN.encode()

    def trickle():
        i = 0
        while not stop.is_set():
            for s in socks:
                try:
                    s.send(line[i:i + 1] if i < len(line) else b"a")
                except OSError:
                    pass
            i += 1
            stop.wait(1)

    th = threading.Thread(target=trickle, daemon=True)
    th.start()
    try:
        time.sleep(3 * TIMEOUT_S)
        answer = good_client()
        held = 0
        for s in socks:
            try:
                s.send(b"a")
                s.settimeout(0.2)
                s.recv(1)  # b"": closed; bytes: the server answered (and closes)
            except socket.timeout:
                held += 1  # still open, nothing said: the slot is held
            except OSError:
                pass
    finally:
        stop.set()
        th.join(5)
        for s in socks:
            s.close()
    check(answer.startswith(b"HTTP/1.1 200"),
          "a good client is answered while slow clients trickle (after %d s)" % (3 * TIMEOUT_S),
          answer)
    check(held == 0, "no connection that never finished its header survives %d s with "
          "tracker_timeout_s = %d" % (3 * TIMEOUT_S, TIMEOUT_S), "%d of %d still open" %
          (held, len(socks)))


def test_keepalive_per_request(h):
    req = (b"GET /px/o/%s.gif HTTP/1.1\r\nHost: x\r\nUser-Agent: good Chrome/120\r\n\r\n"
           % TOKEN.encode())  # keep-alive: no Connection: close
    answers = []
    with socket.create_connection(("127.0.0.1", PORT), timeout=3) as s:
        for _ in range(3 * TIMEOUT_S):
            try:
                s.sendall(req)
            except OSError as e:
                answers.append(repr(e).encode())  # cut: this and every later one unanswered
                continue
            data = b""
            while b"GIF89a" not in data:
                try:
                    more = s.recv(4096)
                except OSError:
                    more = b""
                if not more:
                    break
                data += more
            answers.append(data)
            time.sleep(1)
    served = sum(1 for a in answers if a.startswith(b"HTTP/1.1 200") and b"GIF89a" in a)
    check(served == len(answers), "a keep-alive client asking once a second is served for %d s "
          "(tracker_timeout_s = %d counts per request)" % (3 * TIMEOUT_S, TIMEOUT_S),
          "%d of %d answered" % (served, len(answers)))


def body_answer(head, first):
    """body_answer - what the tracker says within 1 s to a GET announcing a body it never finishes"""
    with socket.create_connection(("127.0.0.1", PORT), timeout=3) as s:
        s.sendall(b"GET /px/o/%s.gif HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n%s" %
                  (TOKEN.encode(), head, first))
        s.settimeout(1)
        try:
            return s.recv(64)
        except socket.timeout:
            return b"(nothing within 1 s)"


def test_get_with_body(h):
    for head, first in [(b"Transfer-Encoding: chunked", b"5\r\nhello\r\n"),
                        (b"Content-Length: 1000", b"abc")]:
        answer = body_answer(head, first)
        check(answer.startswith(b"HTTP/1.1 400"), "a GET with %s is refused with 400 at once"
              % head.decode(), answer)
    check(good_client().startswith(b"HTTP/1.1 200"), "a GET without a body is still served", b"")


def test_agent_stored_clean(h):
    t = state["tracker"]
    agent = b"\x1b[2J\x1b]0;owned\x07 caf\xe9 \xff\xfe bare\rCR Chrome/120"
    raw = (b"GET /px/o/" + TOKEN.encode() + b".gif HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent +
           b"\r\nConnection: close\r\n\r\n")
    check(t.request(raw).startswith(b"HTTP/1.1 200"), "the pixel is served", b"")

    def row():
        con = sqlite3.connect("file:%s?mode=ro" % h.database, uri=True, timeout=10)
        con.text_factory = bytes
        try:
            r = con.execute("SELECT user_agent FROM pixel_opens WHERE user_agent LIKE '%Chrome/120'"
                            " AND user_agent NOT LIKE 'good %' ORDER BY id DESC").fetchone()
        finally:
            con.close()
        return r
    stored = wait_for(row, 20, "the open row", interval=0.2)[0]
    try:
        text = stored.decode("utf-8")
        ok_utf8 = True
    except UnicodeDecodeError:
        text, ok_utf8 = stored.decode("latin-1"), False
    check(ok_utf8, "the stored user agent is valid UTF-8", stored)
    bad = [c for c in text if ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0]
    check(not bad, "the stored user agent holds no control characters", stored)


def test_teardown(h):
    t = state.get("tracker")
    if t is not None and t.alive():
        log_tail(t)
        t.stop()


if __name__ == "__main__":
    main_with_harness([
        ("the tracker, a tracked token", test_setup),
        ("slowloris cannot hold the slots", test_slowloris),
        ("a GET with a body gets 400 unread", test_get_with_body),
        ("the time limit is per request on keep-alive", test_keepalive_per_request),
        ("a hostile user agent is stored as clean text", test_agent_stored_clean),
        ("teardown", test_teardown),
    ], name="tracker-hostile", milter_conf={"tracking_base_url": BASE})
