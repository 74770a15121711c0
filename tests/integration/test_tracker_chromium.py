#!/usr/bin/python3
"""test_tracker_chromium.py - real clients against postmeter-tracker: a
person's browser (headless Chromium) and curl, on a tracked newsletter
delivered through real Postfix and Dovecot.

Set-up: a tracking rule, a tracked HTML newsletter sent through Postfix
and postmeter-milter (tracking_base_url pointing at the tracker on
loopback), read back over IMAP; its HTML part written to a file; the
pixel URL (and so the token) taken from that part, never made up; then
postmeter-tracker on the same database. open_min_seconds keeps its
default (2): the test waits until the message was accepted more than
that long ago before the first open, as a person's open would be.
  - Chromium (Debian's `chromium`, headless, with a desktop Chrome's
    --user-agent as a person's browser sends) renders the HTML part:
    exactly one open for the token, class human, with that agent;
  - curl with a Sec-Purpose: prefetch header (prefetch), with the bare
    agent Mozilla/5.0 (prefetch: Apple Mail Privacy Protection), a HEAD
    (scanner) and a scanner's agent (Barracuda): four more opens, in
    order, with those classes;
  - the same token with its first character changed (so unknown):
    the same bytes as the real token's (status line, headers but Date,
    body) for GET and HEAD, and no row.
Rows are awaited by polling the database with a deadline (Chromium may
take seconds to start), then the writer is let settle (every open the
tracker handed over is written or discarded) before rows are counted.
"""
import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (OUTBOUND_IP, check, check_eq, free_port, main_with_harness,
                            make_message, new_message_id, wait_for)
from pmtest.tracker import Tracker, get, stop_checked, split_response, without_date
import test_outbound_sign as sign  # delivered(): the copy read back over IMAP

PORT = free_port()
BASE = "http://127.0.0.1:%d/px" % PORT
PIXEL_RE = re.compile(r'<img src="(%s/o/([A-Za-z0-9_-]+)\.gif)"' % re.escape(BASE))
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"  # "Barracuda": classify.c's list
OPEN_MIN_SECONDS = 2  # open_min_seconds: the default, kept in this test's configuration
CHROMIUM_TIMEOUT = 120  # seconds for Chromium to start, render and exit
ROW_TIMEOUT = 60        # seconds for an open to reach the database
HTML = ("<!DOCTYPE html>\n<html><head><title>News</title></head>\n<body>\n"
        "<h1>Our newsletter</h1>\n<p>Caf\u00e9 news, read in a browser.</p>\n</body>\n</html>\n")

state = {}


def opens(h, token):
    """opens - (method, user agent, class, reason) of the token's opens, oldest first"""
    return [(r["method"], r["user_agent"], r["class"], r["reason"]) for r in h.db_query(
        "SELECT o.method, o.user_agent, o.class, o.reason FROM pixel_opens o"
        " JOIN tracked_messages t ON t.id = o.tracked_id WHERE t.token = ? ORDER BY o.id",
        (token,))]


def all_opens(h):
    return h.db_query("SELECT count(*) AS n FROM pixel_opens")[0]["n"]


def settled(t):
    """settled - wait until every open handed to the writer is written or discarded"""
    def done():
        m = t.request(get("/metrics")).decode()
        handed = sum(int(n) for n in re.findall(r"(?m)^postmeter_opens_total\{[^}]*\} (\d+)$", m))
        gone = sum(int(re.search(r"(?m)^%s (\d+)$" % k, m).group(1)) for k in (
            "postmeter_tracker_rows_written_total", "postmeter_tracker_opens_discarded_total"))
        return gone == handed
    wait_for(done, 30, "the writer to settle", interval=0.1)


def wait_rows(h, token, n):
    """wait_rows - the token's opens once there are at least n (deadline ROW_TIMEOUT)"""
    return wait_for(lambda: (lambda r: r if len(r) >= n else None)(opens(h, token)),
                    ROW_TIMEOUT, "%d open row(s) for the token" % n, interval=0.2)


def html_part(raw):
    """html_part - the decoded text/html part of a delivered message"""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("html",))
    check(part is not None, "the delivered mail has an HTML part", raw[:600])
    return part.get_content()


def curl(url, *args):
    """curl - curl's bytes for url: the status line, the headers and the body (-i)"""
    p = subprocess.run(["curl", "-sS", "-i", "--max-time", "20"] + list(args) + [url],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    check_eq(p.returncode, 0, "curl %s exit status (%s)" % (" ".join(args), p.stderr.decode()))
    return p.stdout


def test_setup(h):
    check(shutil.which("chromium") is not None, "chromium is installed "
          "(packaging/debian-packages.txt)")
    check(shutil.which("curl") is not None, "curl is installed")
    p = h.cli("track", "add", "news@example.test")
    check(b"rule 1" in p.stdout, "track add", p.stdout)
    h.reload_milter()
    wait_for(lambda: "tracking: 1 enabled rule(s)" in open(h.milter_log(),
                                                           errors="replace").read(),
             20, "the milter to load the rule")
    mid = new_message_id("example.test")
    body = ("--b1\nContent-Type: text/plain; charset=utf-8\n\nCaf\u00e9 news.\n--b1\n"
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
            HTML + "--b1--\n")
    m = make_message([("From", "news@example.test"), ("To", "carol@remote.test"),
                      ("Subject", "newsletter"), ("MIME-Version", "1.0"),
                      ("Content-Type", 'multipart/alternative; boundary="b1"')], body,
                     message_id=mid)
    h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    html = html_part(sign.delivered(h, "carol@remote.test", mid))
    found = PIXEL_RE.findall(html)
    check_eq(len(found), 1, "one pixel in the delivered HTML part")
    state["url"], state["token"] = found[0]
    # The milter answers once the row is journaled; its writer commits
    # within ledger_flush_ms.
    rows = wait_for(lambda: h.db_query("SELECT created_at FROM tracked_messages WHERE token = ?",
                                       (state["token"],)),
                    10, "the delivered pixel's token in tracked_messages")
    check_eq(len(rows), 1, "the delivered pixel's token is in tracked_messages")
    state["accepted"] = rows[0]["created_at"]
    state["html"] = h.path("newsletter.html")
    with open(state["html"], "w", encoding="utf-8") as f:
        f.write(html)
    t = state["tracker"] = Tracker(h, PORT)
    t.start()


def test_chromium(h):
    t, token = state["tracker"], state["token"]
    settled(t)
    before = all_opens(h)
    check_eq(opens(h, token), [], "no open before the mail is read")
    # a person opens it later than open_min_seconds (whole seconds: one more)
    while time.time() < state["accepted"] + OPEN_MIN_SECONDS + 1:
        time.sleep(0.1)
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--user-agent=" + CHROME,
            "--user-data-dir=" + h.path("chromium"), "--dump-dom", "file://" + state["html"]]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=CHROMIUM_TIMEOUT)
    check_eq(p.returncode, 0,
             "chromium exit status (%s)" % p.stderr.decode(errors="replace")[-800:])
    check(state["url"].encode() in p.stdout, "the DOM Chromium rendered has the pixel",
          p.stdout[-600:])
    wait_rows(h, token, 1)  # Chromium may take seconds: polled with a deadline
    settled(t)
    rows = opens(h, token)
    check_eq([(m, a, c) for m, a, c, _ in rows], [("GET", CHROME, "human")],
             "exactly one open, Chromium's, human")
    check_eq(all_opens(h), before + 1, "no other row")


def test_curl(h):
    t, token, url = state["tracker"], state["token"], state["url"]
    cases = [  # (curl arguments, method, agent, class)
        (["-A", CHROME, "-H", "Sec-Purpose: prefetch"], "GET", CHROME, "prefetch"),
        (["-A", "Mozilla/5.0"], "GET", "Mozilla/5.0", "prefetch"),
        (["-A", CHROME, "-I"], "HEAD", CHROME, "scanner"),
        (["-A", SCANNER], "GET", SCANNER, "scanner"),
    ]
    answers = []
    for args, _, _, _ in cases:
        out = curl(url, *args)
        check(out.startswith(b"HTTP/1.1 200 OK\r\n"), "curl %s: 200" % " ".join(args), out[:200])
        answers.append(out)
    state["get"], state["head"] = answers[0], answers[2]
    wait_rows(h, token, 1 + len(cases))
    settled(t)
    rows = opens(h, token)[1:]
    check_eq([(m, a, c) for m, a, c, _ in rows], [(m, a, c) for _, m, a, c in cases],
             "one row per curl request, classified")
    check_eq([r for _, _, _, r in rows],
             ["Sec-Purpose: prefetch", "Apple Mail Privacy Protection agent", "HEAD request",
              "agent: Barracuda"], "the reasons name the rules")


def test_unknown(h):
    t, token, url = state["tracker"], state["token"], state["url"]
    unknown = ("B" if token[0] != "B" else "C") + token[1:]
    check_eq(h.db_query("SELECT count(*) AS n FROM tracked_messages WHERE token = ?",
                        (unknown,))[0]["n"], 0, "the changed token is unknown")
    other = url[:-len(token + ".gif")] + unknown + ".gif"
    settled(t)
    before = all_opens(h)
    got = curl(other, "-A", CHROME, "-H", "Sec-Purpose: prefetch")
    check_eq(without_date(got), without_date(state["get"]),
             "GET: the unknown token's bytes are the real token's")
    body = split_response(got)[2]
    check(len(body) == 43 and body.startswith(b"GIF89a"), "the 43-byte GIF", body)
    got = curl(other, "-A", CHROME, "-I")
    check_eq(without_date(got), without_date(state["head"]),
             "HEAD: the unknown token's bytes are the real token's")
    settled(t)
    check_eq(all_opens(h), before, "no row for the unknown token")
    check_eq(len(opens(h, token)), 5, "still five opens for the real token")


def test_teardown(h):
    stop_checked(state.get("tracker"))


if __name__ == "__main__":
    main_with_harness([
        ("a tracked newsletter delivered, read over IMAP; the tracker", test_setup),
        ("headless Chromium renders it: one human open", test_chromium),
        ("curl: prefetch, Mozilla/5.0, HEAD, a scanner", test_curl),
        ("an unknown token: the same bytes, no row", test_unknown),
        ("teardown", test_teardown),
    ], name="tracker_chromium", milter_conf={"tracking_base_url": BASE})
