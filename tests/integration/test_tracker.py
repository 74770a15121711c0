#!/usr/bin/python3
"""test_tracker.py - postmeter-tracker, the pixel endpoint, against a real
tracked mail.

Set-up: a tracking rule, a tracked HTML newsletter sent through Postfix
and postmeter-milter (tracking_base_url pointing at the tracker on
loopback), its token read from tracked_messages and found in the
delivered copy (IMAP); then postmeter-tracker on the same database:
  - -t prints the effective values and "configuration FILE OK"; a bad
    machine-networks line fails it with FILE:LINE;
  - GET of the pixel: 200, exactly the 43-byte GIF and exactly the
    headers the endpoint promises (keep-alive too);
  - an unknown token, malformed tokens and other paths under the prefix
    get the very same bytes (Date aside), for GET and for HEAD;
  - one open row per request for the real token, classified: a desktop
    Chrome (human), HEAD (scanner), "Mozilla/5.0" (prefetch), a
    "Purpose: prefetch" header (prefetch), Gmail's image proxy (proxy),
    curl (scanner); the address stored as its /24; the unknown token's
    open discarded (no row, counted in /metrics);
  - /healthz answers ok; /metrics has the counters and no token; from a
    client outside tracker_metrics_allow (set by SIGHUP) /metrics gets
    the answer of an unknown path;
  - garbage, a request without Host, an oversized header: 400/431, and
    the server still answers the pixel;
  - SIGTERM: a clean stop.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (OUTBOUND_IP, check, check_eq, free_port, main_with_harness,
                            make_message, new_message_id, wait_for)
from pmtest.tracker import (Tracker, get, log_tail, mint, split_response, token_key,
                           without_date)
import test_outbound_sign as sign  # delivered(): the copy read back over IMAP

PORT = free_port()
BASE = "http://127.0.0.1:%d/px" % PORT
GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000"
                    "010001000002024401003b")
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
HEADERS = [("Connection", "close"), ("Content-Type", "image/gif"),
           ("Cache-Control", "no-store, no-cache, must-revalidate, private, max-age=0"),
           ("Pragma", "no-cache"), ("Expires", "0"), ("Content-Length", "43")]
UNKNOWN = None  # minted under the database's key by test_setup: valid, in no tracked_messages row

state = {}


def pixel(token):
    return "/px/o/%s.gif" % token


def test_setup(h):
    p = h.cli("track", "add", "news@example.test")
    check(b"rule 1" in p.stdout, "track add", p.stdout)
    h.reload_milter()
    wait_for(lambda: "tracking: 1 enabled rule(s)" in open(h.milter_log(),
                                                           errors="replace").read(),
             20, "the milter to load the rule")
    mid = new_message_id("example.test")
    body = ("--b1\nContent-Type: text/plain\n\nNews.\n--b1\nContent-Type: text/html\n\n"
            "<html><body><p>News.</p></body></html>\n--b1--\n")
    m = make_message([("From", "news@example.test"), ("To", "carol@remote.test"),
                      ("Subject", "tracked"), ("MIME-Version", "1.0"),
                      ("Content-Type", 'multipart/alternative; boundary="b1"')], body,
                     message_id=mid)
    h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    rows = wait_for(lambda: h.db_query(
        "SELECT t.id, t.token FROM tracked_messages t JOIN messages m ON m.uid = t.message_uid"
        " WHERE m.message_id = ?", ("<%s>" % mid,)) or None, 30, "tracked_messages row",
        interval=0.3)
    state["id"], state["token"] = rows[0]["id"], rows[0]["token"]
    raw = sign.delivered(h, "carol@remote.test", mid)
    check(("%s/o/%s.gif" % (BASE, state["token"])).encode() in raw,
          "the delivered mail's pixel points at the tracker", raw[-600:])
    t = state["tracker"] = Tracker(h, PORT)
    t.start()
    global UNKNOWN
    UNKNOWN = mint(token_key(h.database))


def test_check_config(h):
    t = state["tracker"]
    p = t.check_config()
    out = p.stdout.decode()
    check_eq(p.returncode, 0, "-t exit status")
    check("tracker_listen = 127.0.0.1:%d\n" % PORT in out, "-t prints the effective values", out)
    check("open_ip_storage = truncate\n" in out, "-t prints the defaults", out)
    check(out.endswith("postmeter-tracker: configuration %s OK\n" % t.conf_path), "-t says OK",
          out[-300:])
    bad = h.path("bad-nets")
    with open(bad, "w") as f:
        f.write("# x\n10.0.0.1/8 scanner Someone\n")
    conf = h.path("bad.conf")
    with open(t.conf_path) as f, open(conf, "w") as g:
        g.write(re.sub(r"(?m)^tracker_networks_file = .*$", "tracker_networks_file = " + bad,
                       f.read()))
    p = t.check_config(conf)
    check(p.returncode != 0, "-t fails on a bad machine-networks line")
    check(("%s:2: 10.0.0.1/8 has host bits set" % bad).encode() in p.stderr, "FILE:LINE",
          p.stderr)


def test_gif(h):
    t = state["tracker"]
    raw = t.request(get(pixel(state["token"]), CHROME))
    status, headers, body = split_response(raw)
    check_eq(status, "HTTP/1.1 200 OK", "status")
    check_eq(body, GIF, "the 43-byte GIF")
    check_eq(len(GIF), 43, "GIF length")
    check_eq([kv for kv in headers if kv[0] != "Date"], HEADERS, "headers, in order")
    check(any(k == "Date" for k, _ in headers), "a Date header")
    # keep-alive: two answers on one connection
    two = t.request(get(pixel(state["token"]), CHROME).replace(b"Connection: close\r\n", b"") +
                    get(pixel(state["token"]), CHROME))
    check_eq(two.count(b"HTTP/1.1 200 OK"), 2, "two answers on one connection")


def test_no_oracle(h):
    t = state["tracker"]
    tok = state["token"]
    for method in ("GET", "HEAD"):
        want = without_date(t.request(get(pixel(tok), CHROME, method)))
        for path in (pixel(UNKNOWN), pixel(tok[:-1]), pixel(tok + "A"), pixel(tok[:-1] + "B"),
                     pixel(tok[:-2] + "+A"), "/px/o/%s.png" % tok, "/px/", "/px", "/px/o/",
                     "/px/x/%s.gif" % tok, "/px/o/%s.gif?x=1" % UNKNOWN, "/px/../px/o/a.gif"):
            got = without_date(t.request(get(path, CHROME, method)))
            check_eq(got, want, "%s %s: the same bytes as the real token's" % (method, path))
    out = t.request(get("/elsewhere", CHROME))
    check(out.startswith(b"HTTP/1.1 404 "), "outside the prefix: 404", out[:100])


def opens(h):
    return h.db_query("SELECT method, class, reason, ip, user_agent, host FROM pixel_opens"
                      " WHERE tracked_id = ? ORDER BY id", (state["id"],))


def settled(t):
    """settled - wait until every open handed to the writer is written or discarded"""
    def done():
        m = t.request(get("/metrics")).decode()
        handed = sum(int(n) for n in re.findall(r"(?m)^postmeter_opens_total\{[^}]*\} (\d+)$", m))
        gone = sum(int(re.search(r"(?m)^%s (\d+)$" % k, m).group(1)) for k in (
            "postmeter_tracker_rows_written_total", "postmeter_tracker_opens_discarded_total"))
        return gone == handed
    wait_for(done, 30, "the writer to settle", interval=0.1)


def test_opens(h):
    t = state["tracker"]
    tok = state["token"]
    settled(t)
    before = len(opens(h))
    # an open sooner than open_min_seconds (2) after acceptance is a scanner's: wait it out
    accepted = h.db_query("SELECT created_ms FROM tracked_messages WHERE id = ?",
                          (state["id"],))[0]["created_ms"]
    time.sleep(max(0.0, accepted / 1000 + 2.1 - time.time()))
    cases = [  # (method, agent, headers, class)
        ("GET", CHROME, (), "human"),
        ("HEAD", CHROME, (), "scanner"),
        ("GET", "Mozilla/5.0", (), "prefetch"),
        ("GET", CHROME, (("Purpose", "prefetch"),), "prefetch"),
        ("GET", GMAIL, (), "proxy"),
        ("GET", "curl/7.88.1", (), "scanner"),
    ]
    for method, agent, headers, _ in cases:
        check(t.request(get(pixel(tok), agent, method, headers)).startswith(b"HTTP/1.1 200 "),
              "answered")
    t.request(get(pixel(UNKNOWN), CHROME))
    rows = wait_for(lambda: (lambda r: r if len(r) >= before + len(cases) else None)(opens(h)),
                    30, "%d open rows" % len(cases), interval=0.2)[before:]
    check_eq([(r["method"], r["user_agent"], r["class"]) for r in rows],
             [(m, a, c) for m, a, _, c in cases], "one row per request, classified")
    check_eq(rows[3]["reason"], "Purpose: prefetch", "the reason names the rule")
    check_eq(set(r["ip"] for r in rows), {"127.0.0.0/24"}, "the address truncated to its /24")
    check(all(r["host"] for r in rows), "the tracker's host")
    settled(t)
    check_eq(len(opens(h)), before + len(cases), "no row for the unknown token")
    check_eq(h.db_query("SELECT count(*) AS n FROM pixel_opens p JOIN tracked_messages t"
                        " ON t.id = p.tracked_id WHERE t.token = ?", (UNKNOWN,))[0]["n"], 0,
             "nothing for the unknown token")
    metrics = wait_for(lambda: (lambda m: m if "postmeter_tracker_opens_discarded_total 0\n"
                                not in m else None)(t.request(get("/metrics")).decode()),
                       10, "the discarded open counted")
    check(state["token"] not in metrics and UNKNOWN not in metrics, "no token in /metrics")


def test_healthz_metrics(h):
    t = state["tracker"]
    status, _, body = split_response(t.request(get("/healthz")))
    check_eq((status, body), ("HTTP/1.1 200 OK", b"ok\n"), "/healthz")
    status, headers, body = split_response(t.request(get("/metrics")))
    check_eq(status, "HTTP/1.1 200 OK", "/metrics")
    text = body.decode()
    for want in ('postmeter_tracker_requests_total{method="GET",outcome="open"} ',
                 'postmeter_tracker_requests_total{method="HEAD",outcome="blank"} ',
                 'postmeter_opens_total{class="human"} ', 'postmeter_opens_total{class="proxy"} ',
                 'postmeter_tracker_request_duration_seconds_bucket{le="0.0001"} ',
                 'postmeter_tracker_request_duration_seconds_bucket{le="+Inf"} ',
                 "postmeter_tracker_queue_depth ", "postmeter_tracker_rows_written_total ",
                 "postmeter_tracker_rows_dropped_total 0\n",
                 "postmeter_tracker_opens_discarded_total "):
        check(want in text, "/metrics has " + want, text[:3000])
    opened = int(re.search(r'outcome="open"\} (\d+)', text).group(1))
    check(opened >= 8, "GET opens counted", opened)
    check(int(re.search(r'postmeter_opens_total\{class="proxy"\} (\d+)', text).group(1)) >= 1,
          "a proxy open counted")
    # outside tracker_metrics_allow (a reload): the answer of any unknown path
    t.reload(tracker_metrics_allow="192.0.2.0/24")
    wait_for(lambda: t.request(get("/metrics")).startswith(b"HTTP/1.1 404"), 10,
             "the reload to take /metrics away")
    check_eq(without_date(t.request(get("/metrics"))),
             without_date(t.request(get("/nothing-here"))), "denied /metrics = unknown path")
    check_eq(without_date(t.request(get("/healthz"))),
             without_date(t.request(get("/nothing-here"))), "denied /healthz = unknown path")
    t.reload(tracker_metrics_allow="127.0.0.0/8")
    wait_for(lambda: t.request(get("/metrics")).startswith(b"HTTP/1.1 200"), 10, "back")
    check("configuration reloaded" in t.log_text(), "the reload is logged")


def test_garbage(h):
    t = state["tracker"]
    for name, data, want in (
            # a request line libmicrohttpd cannot parse: closed without an answer
            ("TLS hello", b"\x16\x03\x01\x02\x00garbage\r\n\r\n", b""),
            ("garbage line", b"garbage\r\n\r\n", b""),
            ("no Host", b"GET /px/ HTTP/1.1\r\nConnection: close\r\n\r\n", b"HTTP/1.1 400 "),
            ("bad header line", b"GET /px/ HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
             b"HTTP/1.1 400 "),
            ("long request line", b"GET /px/" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
             b"HTTP/1.1 414 "),
            ("bad version", b"GET /px/ HTTP/9.9\r\nHost: x\r\n\r\n", b"HTTP/1.1 505 "),
            ("POST", b"POST /px/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
             b"HTTP/1.1 405 "),
            ("oversized header", get(pixel(state["token"]), "x" * 20000), b"HTTP/1.1 431 ")):
        out = t.request(data)
        check(out.startswith(want) and (want or not out), "%s: %r" % (name, want), out[:200])
        check(t.alive(), "still running after " + name)
        status, _, body = split_response(t.request(get(pixel(UNKNOWN), CHROME)))
        check_eq((status, body), ("HTTP/1.1 200 OK", GIF), "still answering after " + name)


def test_stop(h):
    t = state["tracker"]
    check_eq(t.stop(), 0, "exit status after SIGTERM")
    check(re.search(r"stopped: \d+ open\(s\) in, \d+ written", t.log_text()), "the last line",
          t.log_text()[-500:])


def test_teardown(h):
    t = state.get("tracker")
    if t is not None and t.alive():
        log_tail(t)
        t.stop()


if __name__ == "__main__":
    main_with_harness([
        ("a tracked mail, the tracker on its database", test_setup),
        ("-t", test_check_config),
        ("the GIF and its headers", test_gif),
        ("unknown, malformed, other paths: the same bytes", test_no_oracle),
        ("opens recorded and classified", test_opens),
        ("/healthz, /metrics, tracker_metrics_allow by SIGHUP", test_healthz_metrics),
        ("garbage, oversized: answered, still serving", test_garbage),
        ("SIGTERM", test_stop),
        ("teardown", test_teardown),
    ], name="tracker", milter_conf={"tracking_base_url": BASE})
