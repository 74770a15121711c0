#!/usr/bin/python3
"""test_pixel_pipe.py - postmeter-pixelfilter as a Postfix after-queue
content filter (pipe mode) through real Postfix, delivered to Dovecot and
read back over IMAP.

Set-up on top of the harness (with postconf -M/-P/-e and postfix reload,
as contrib/postfix-master.cf.snippet describes):
  - a "pixelfilter" pipe service running the filter as nobody (who owns
    the harness database), pixelfilter_destination_recipient_limit = 1;
  - --sendmail points at a relay script: as nobody, the real
    /usr/sbin/sendmail cannot use this instance's config directory (its
    set-gid postdrop only trusts a non-default MAIL_CONFIG that
    /etc/postfix/main.cf lists in alternate_config_directories, and the
    harness never touches /etc/postfix; pipe(8) refuses the postdrop
    group). The script hands its arguments and standard input to a
    thread of this test, which runs "/usr/sbin/sendmail -C CONFDIR" with
    exactly those arguments as root and returns its exit status;
  - a submission listener on a free port with content_filter =
    pixelfilter:dummy and no milters; the copies come back through
    sendmail -> pickup -> cleanup, where non_smtpd_milters (the harness
    default) signs them and writes the ledger;
  - postmeter.conf: tracking_base_url, tracking_mode = pipe,
    track_exclude = bob@example.test; DKIM keys (RSA + Ed25519) for
    example.test; the rule "sender alice@example.test".

Cases: two recipients get two different tokens, each copy exactly one
pixel, each token in tracked_messages (mode pipe, that one recipient, the
first pass's queue id), both copies DKIM-verified over the pixel and
recorded in the ledger once; an untracked sender's message arrives byte
for byte; X-Postmeter-Track: no; track_exclude leaves one recipient's copy
alone; the null sender stays the null sender; the database unreadable or
locked defers the mail (never a bounce) and it is delivered with a pixel
once fixed; a broken master.cf entry defers as well. Also, without
Postfix: exit codes and what reaches sendmail, with a fake sendmail.
"""
import json
import os
import pwd
import socket
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (BUILD_DIR, OUTBOUND_IP, SMTPSession, check, check_eq,
                            header_value, main_with_harness, make_message, new_message_id,
                            run, wait_for, wait_port)
from pmtest.unbound import free_port
import test_outbound_sign as sign  # keygen() and verify_all() with python3-dkim

TOOL = os.path.join(BUILD_DIR, "pixelfilter", "postmeter-pixelfilter")
BASE = "https://t.example.test/px"
PIXEL_RE = re.compile(rb'<img src="https://t\.example\.test/px/o/([A-Za-z0-9_-]{28})\.gif" '
                      rb'width="1" height="1" alt="" '
                      rb'style="display:block;border:0;width:1px;height:1px">')
HTML = ("<!DOCTYPE html>\n<html><head><title>News</title></head>\n<body>\n"
        "<p>Caf\u00e9 news for the pipe filter.</p>\n</body>\n</html>\n")
TRACKED = "alice@example.test"  # a local mailbox: a bounce to it would be seen
EXCLUDED = "bob@example.test"
STATE = {}


def html_message(from_addr, to, subject, extra=()):
    mid = new_message_id("example.test")
    headers = [("From", from_addr), ("To", to), ("Subject", subject), ("MIME-Version", "1.0"),
               ("Content-Type", "text/html; charset=utf-8"),
               ("Content-Transfer-Encoding", "8bit")] + list(extra)
    return mid, make_message(headers, HTML, message_id=mid)


def submit(h, mail_from, rcpts, msg):
    """submit - one transaction on the content-filtered listener; the queue id"""
    s = SMTPSession(STATE["port"], source_ip=OUTBOUND_IP)
    try:
        r = s.transaction(mail_from, rcpts, msg)
    finally:
        s.close()
    check(r.queue_id, "a queue id in %r" % r.resp)
    return r.queue_id


def delivered(h, user, mid):
    return sign.delivered(h, user, mid)


def tracked(h, where, params):
    return h.db_query(
        "SELECT t.*, (SELECT group_concat(address, ',') FROM tracked_recipients r"
        " WHERE r.tracked_id = t.id) AS rcpts FROM tracked_messages t WHERE " + where, params)


def strip_added(raw):
    """raw without the fields Postfix, Dovecot and the signer add on the way"""
    head, body = raw.split(b"\r\n\r\n", 1)
    fields = re.split(rb"\r\n(?![ \t])", head)
    added = (b"return-path", b"delivered-to", b"received", b"x-original-to", b"dkim-signature")
    keep = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in added]
    return b"\r\n".join(keep) + b"\r\n\r\n" + body


def bounced(h, qid):
    return re.search(r"\b%s: .*status=bounced" % re.escape(qid), h.maillog_text())


def ledger_for(h, mid):
    return [r for r in h.ledger_rows() if (r.get("message_id") or "").strip("<>") == mid]


def deferred_reasons(h, qid):
    """deferred_reasons - {recipient: delay_reason} of qid in the deferred queue"""
    check(not bounced(h, qid), "%s was bounced, not deferred" % qid)
    for e in h.postfix_queue():
        if e.get("queue_id") == qid and e.get("queue_name") == "deferred":
            return {r["address"]: r.get("delay_reason", "") for r in e.get("recipients", [])}
    return {}


# ----------------------------------------------------------------------
# set-up

RELAY = """#!/usr/bin/python3
# sendmail for the pipe service: arguments and message to the test's relay
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(%r)
head = json.dumps(sys.argv[1:]).encode()
s.sendall(len(head).to_bytes(4, "big") + head + sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR)
sys.exit(int(s.recv(16) or b"75"))
"""


def relay_serve(h, srv):
    """relay_serve - run each relayed sendmail call as root on this instance"""
    while True:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        with c:
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            n = int.from_bytes(data[:4], "big")
            args = json.loads(data[4:4 + n])
            STATE["calls"].append(args)
            p = subprocess.run(["/usr/sbin/sendmail", "-C", h.postfix_dir] + args,
                               input=data[4 + n:], capture_output=True, timeout=60)
            if p.returncode:
                sys.stderr.write("relayed sendmail %s: exit %d: %s\n" % (
                    args, p.returncode, p.stderr.decode(errors="replace")))
            c.sendall(str(p.returncode).encode())


def start_relay(h):
    sock = h.path("run", "sendmail-relay.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    os.chmod(sock, 0o777)
    srv.listen(16)
    STATE["calls"] = []
    threading.Thread(target=relay_serve, args=(h, srv), daemon=True).start()
    script = h.path("run", "sendmail-relay")
    with open(script, "w") as f:
        f.write(RELAY % sock)
    os.chmod(script, 0o755)
    return script


def postconf(h, *args):
    run(["postconf", "-c", h.postfix_dir] + list(args))


def test_setup(h):
    san = h.path("sanitizer")
    env = ("TZ MAIL_CONFIG LANG ASAN_OPTIONS=log_path=%s/pixelfilter:abort_on_error=0 "
           "UBSAN_OPTIONS=log_path=%s/pixelfilter:print_stacktrace=1 "
           "LSAN_OPTIONS=suppressions=%s/pmtest/lsan.supp" % (
               san, san, os.path.dirname(os.path.abspath(__file__))))
    postconf(h, "-e", "pixelfilter_destination_recipient_limit = 1", "export_environment = " + env)
    relay = start_relay(h)
    postconf(h, "-M", "-e", "pixelfilter/unix=pixelfilter unix - n n - 10 pipe flags=q "
             "user=nobody null_sender= argv=%s -c %s --sendmail %s -f ${sender} "
             "-q ${queue_id} -- ${recipient}" % (TOOL, h.milter_conf_path, relay))
    STATE["port"] = port = free_port()
    svc = "127.0.0.1:%d" % port
    postconf(h, "-M", "-e", "%s/inet=%s inet n - n - - smtpd" % (svc, svc))
    postconf(h, "-P", "%s/inet/content_filter=pixelfilter:dummy" % svc,
             "%s/inet/smtpd_milters=" % svc, "%s/inet/syslog_name=postfix-pmtest/sub" % svc)
    h.postfix("check")
    h.postfix("reload")
    wait_port(port, what="the submission listener")
    sign.keygen(h, "example.test", "rsa")
    sign.keygen(h, "example.test", "ed25519")
    h.reload_milter()
    wait_for(lambda: "2 signing key(s) loaded" in open(h.milter_log(), errors="replace").read(),
             20, "the milter to load the keys")
    p = h.cli("track", "add", TRACKED)
    check(b"rule 1: sender alice@example.test (enabled)" in p.stdout, "track add", p.stdout)


# ----------------------------------------------------------------------
# through Postfix


def test_two_recipients_two_tokens(h):
    mid, m = html_message("Alice <alice@example.test>", "carol@remote.test, dave@remote.test",
                          "tracked newsletter")
    ncalls = len(STATE["calls"])
    qid = submit(h, TRACKED, ["carol@remote.test", "dave@remote.test"], m)
    tokens = {}
    for user in ("carol@remote.test", "dave@remote.test"):
        raw = delivered(h, user, mid)
        found = PIXEL_RE.findall(raw)
        check_eq(len(found), 1, "%s: exactly one pixel" % user)
        tokens[user] = found[0].decode()
        check_eq(sorted(s[1] for s in sign.verify_all(raw)), ["ed25519-sha256", "rsa-sha256"],
                 "%s: both signatures verify over the body with the pixel" % user)
        check_eq(PIXEL_RE.sub(b"", strip_added(raw)), m,
                 "%s: the copy is the message plus the tag" % user)
    check(tokens["carol@remote.test"] != tokens["dave@remote.test"], "two different tokens",
          tokens)
    check_eq(sorted(STATE["calls"][ncalls:]),
             [["-G", "-i", "-f", TRACKED, "--", "carol@remote.test"],
              ["-G", "-i", "-f", TRACKED, "--", "dave@remote.test"]],
             "one sendmail run per recipient (recipient limit 1)")
    for user, token in tokens.items():
        rows = tracked(h, "token = ?", (token,))
        check_eq(len(rows), 1, "one row for %s's token" % user)
        r = rows[0]
        check_eq((r["mode"], r["outcome"], r["rcpts"]), ("pipe", "injected", user), "row")
        check_eq((r["queue_id"], r["mail_from"], r["header_from"]), (qid, TRACKED, TRACKED),
                 "queue id of the first pass, envelope and header sender")
        check_eq(r["subject"], None, "no subject with log_subject = no")
        check_eq(r["message_uid"], None, "no ledger uid in pipe mode")
    check_eq(len(tracked(h, "queue_id = ?", (qid,))), 2, "two rows for the message")
    # Each copy passed the milter once (on the reinjection path), never the first pass.
    rows = wait_for(lambda: (lambda x: x if len(x) >= 2 else None)(ledger_for(h, mid)), 30,
                    "two ledger rows")
    time.sleep(1)
    rows = ledger_for(h, mid)
    check_eq(sorted(tuple(r["recipients"]) for r in rows),
             [("carol@remote.test",), ("dave@remote.test",)], "one ledger row per copy")
    log = h.maillog_text()
    check(re.search(r"%s: to=<carol@remote.test>, relay=pixelfilter.*status=sent \(delivered via "
                    r"pixelfilter service \(postmeter-pixelfilter: 1 recipient\(s\) reinjected: "
                    r"1 tracked \(injected=1\), 0 not tracked\)\)" % qid, log),
          "the filter's line in Postfix's log")
    check(tokens["carol@remote.test"] not in log and tokens["dave@remote.test"] not in log,
          "no token in the mail log")


def test_untracked_identical(h):
    mid, m = html_message("Carol <carol@remote.test>", "dave@remote.test", "not tracked")
    qid = submit(h, "carol@remote.test", ["dave@remote.test"], m)
    raw = delivered(h, "dave@remote.test", mid)
    check_eq(strip_added(raw), m, "byte-identical apart from the trace and signature fields")
    check_eq(tracked(h, "queue_id = ?", (qid,)), [], "no tracked_messages row")


def test_opt_out(h):
    mid, m = html_message(TRACKED, "carol@remote.test", "opted out",
                          extra=[("X-Postmeter-Track", "no")])
    qid = submit(h, TRACKED, ["carol@remote.test"], m)
    raw = delivered(h, "carol@remote.test", mid)
    check(PIXEL_RE.search(raw) is None and b"/o/" not in raw, "no pixel")
    check_eq(header_value(raw, "X-Postmeter-Track"), None, "the opt-out field is removed")
    check_eq(strip_added(raw), m.replace(b"X-Postmeter-Track: no\r\n", b""),
             "otherwise byte-identical")
    check_eq(tracked(h, "queue_id = ?", (qid,)), [], "not tracked")


def test_excluded_recipient(h):
    mid, m = html_message(TRACKED, "carol@remote.test, bob@example.test", "one excluded",
                          extra=[("X-Postmeter-Track", "yes")])
    qid = submit(h, TRACKED, ["carol@remote.test", EXCLUDED], m)
    plain = m.replace(b"X-Postmeter-Track: yes\r\n", b"")
    carol = delivered(h, "carol@remote.test", mid)
    bob = delivered(h, EXCLUDED, mid)
    check_eq(len(PIXEL_RE.findall(carol)), 1, "carol's copy has the pixel")
    check_eq(strip_added(bob), plain, "bob's copy: no pixel, the field gone, nothing else")
    check_eq(header_value(carol, "X-Postmeter-Track"), None, "field gone from carol's copy too")
    rows = tracked(h, "queue_id = ?", (qid,))
    check_eq([(r["rcpts"], r["outcome"]) for r in rows], [("carol@remote.test", "injected")],
             "only carol's copy is tracked")


def test_null_sender(h):
    mid = new_message_id("example.test")
    m = make_message([("From", "MAILER-DAEMON@example.test"), ("To", "carol@remote.test"),
                      ("Subject", "a notification")], "null sender\n", message_id=mid)
    ncalls = len(STATE["calls"])
    submit(h, "<>", ["carol@remote.test"], m)
    raw = delivered(h, "carol@remote.test", mid)
    check_eq(STATE["calls"][ncalls:], [["-G", "-i", "-f", "", "--", "carol@remote.test"]],
             "sendmail -f ''")
    check_eq(header_value(raw, "Return-Path"), "<>", "still the null sender after reinjection")


def check_no_bounce(h, qid):
    check(not bounced(h, qid), "%s was not bounced" % qid)
    check_eq(h.imap_count(TRACKED), 0, "no bounce or delay notice for the sender")


def test_database_unreadable(h):
    mode = stat.S_IMODE(os.stat(h.database).st_mode)
    os.chmod(h.database, 0)
    try:
        mid, m = html_message(TRACKED, "carol@remote.test", "database unreadable")
        qid = submit(h, TRACKED, ["carol@remote.test"], m)
        why = wait_for(lambda: deferred_reasons(h, qid).get("carol@remote.test"), 60,
                       "%s to be deferred" % qid)
        check("database" in why and "mail deferred" in why and "4.3.0" in h.maillog_text(),
              "deferred with the filter's reason", why)
        check_no_bounce(h, qid)
    finally:
        os.chmod(h.database, mode)
    h.flush()
    raw = delivered(h, "carol@remote.test", mid)
    token = PIXEL_RE.findall(raw)
    check_eq(len(token), 1, "delivered with a pixel once the database is back")
    check_eq([r["rcpts"] for r in tracked(h, "token = ?", (token[0].decode(),))],
             ["carol@remote.test"], "its row")
    check_no_bounce(h, qid)


def test_database_locked(h):
    con = sqlite3.connect(h.database, timeout=10, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")  # a writer that does not let go (a long report, a backup)
    try:
        mid, m = html_message(TRACKED, "dave@remote.test", "database locked")
        qid = submit(h, TRACKED, ["dave@remote.test"], m)
        why = wait_for(lambda: deferred_reasons(h, qid).get("dave@remote.test"), 60,
                       "%s to be deferred" % qid)
        check("locked" in why or "busy" in why, "deferred: the database is locked", why)
        check_eq(tracked(h, "queue_id = ?", (qid,)), [], "no row while locked")
    finally:
        con.rollback()
        con.close()
    h.flush()
    raw = delivered(h, "dave@remote.test", mid)
    check_eq(len(PIXEL_RE.findall(raw)), 1, "delivered with a pixel once unlocked")
    check_eq(len(tracked(h, "queue_id = ?", (qid,))), 1, "one row")
    check_no_bounce(h, qid)


def test_broken_entry_defers(h):
    """a master.cf entry without -f: deferred (EX_TEMPFAIL), not bounced (EX_USAGE would)"""
    good = run(["postconf", "-c", h.postfix_dir, "-M", "pixelfilter/unix"]).stdout.decode()
    broken = good.replace(" -f ${sender}", "")
    check(broken != good, "the entry has -f ${sender}", good)
    postconf(h, "-M", "-e", "pixelfilter/unix=" + broken.strip())
    h.postfix("reload")
    try:
        mid, m = html_message(TRACKED, "carol@remote.test", "broken entry")
        qid = submit(h, TRACKED, ["carol@remote.test"], m)
        why = wait_for(lambda: deferred_reasons(h, qid).get("carol@remote.test"), 60,
                       "%s to be deferred" % qid)
        check("no -f SENDER" in why, "the reason names the problem", why)
    finally:
        postconf(h, "-M", "-e", "pixelfilter/unix=" + good.strip())
        h.postfix("reload")
    h.flush()
    check_eq(len(PIXEL_RE.findall(delivered(h, "carol@remote.test", mid))), 1,
             "delivered once the entry is fixed")
    check_no_bounce(h, qid)


# ----------------------------------------------------------------------
# without Postfix: a fake sendmail records what it gets


FAKE = """#!/bin/sh
n=$(ls "$0".out.* 2>/dev/null | wc -l)
printf '%s\\n' "$@" > "$0".args.$n
cat > "$0".out.$n
exit ${FAKE_RC:-0}
"""


def fake_run(h, args, msg, rc=0, conf=None):
    """Run the filter as Postfix's pipe(8) would: as the user of its master.cf
    entry (nobody), never root - as root it does not open a database in a
    directory that user owns."""
    d = tempfile.mkdtemp(dir=h.state)
    fake = os.path.join(d, "sendmail")
    with open(fake, "w") as f:
        f.write(FAKE)
    os.chmod(fake, 0o755)
    os.chown(d, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    env = dict(os.environ, FAKE_RC=str(rc))
    p = subprocess.run([TOOL, "-c", conf or h.milter_conf_path, "--sendmail", fake] + args,
                       input=msg, capture_output=True, env=env, timeout=60,
                       user="nobody", group=pwd.getpwnam("nobody").pw_gid, extra_groups=[])
    calls = []
    for i in range(10):
        if not os.path.exists("%s.args.%d" % (fake, i)):
            break
        with open("%s.args.%d" % (fake, i)) as a, open("%s.out.%d" % (fake, i), "rb") as o:
            calls.append((a.read().split("\n")[:-1], o.read()))
    return p, calls


def test_direct_exit_codes(h):
    m = html_message(TRACKED, "carol@remote.test", "direct")[1].replace(b"\r\n", b"\n")
    p, calls = fake_run(h, ["-f", TRACKED, "-q", "Q1", "--", "carol@remote.test",
                            "dave@remote.test", EXCLUDED], m)
    check_eq(p.returncode, 0, "exit 0: %s" % p.stderr)
    check_eq([c[0] for c in calls], [
        ["-G", "-i", "-f", TRACKED, "--", "carol@remote.test"],
        ["-G", "-i", "-f", TRACKED, "--", "dave@remote.test"],
        ["-G", "-i", "-f", TRACKED, "--", EXCLUDED]], "one run per tracked copy, then the rest")
    check_eq(calls[2][1], m, "the excluded copy is the input, byte for byte (LF)")
    check(len(PIXEL_RE.findall(calls[0][1])) == 1 and b"\r\n" not in calls[0][1],
          "a pixel, line ends kept")
    check_eq(p.stderr.decode().strip().splitlines()[-1],
             "postmeter-pixelfilter: 3 recipient(s) reinjected: 2 tracked (injected=2), "
             "1 not tracked", "the summary line")
    p, calls = fake_run(h, ["-f", "", "--", "carol@remote.test"], m)
    check_eq((p.returncode, calls[0][0]), (0, ["-G", "-i", "-f", "", "--", "carol@remote.test"]),
             "the null sender is passed as -f ''")
    for args, what in ((["--", "carol@remote.test"], "no -f"),
                       (["-f", TRACKED], "no recipients"),
                       (["-f", TRACKED, "--bogus", "--", "x@y.test"], "unknown option")):
        p, calls = fake_run(h, args, m)
        check_eq((p.returncode, calls), (75, []), what + ": EX_TEMPFAIL, nothing sent")
    p, calls = fake_run(h, ["-f", TRACKED, "-q", "QFAIL", "--", "carol@remote.test"], m, rc=1)
    check_eq(p.returncode, 75, "sendmail failing: EX_TEMPFAIL")
    check(b"exited with status 1: mail deferred" in p.stderr, "says so", p.stderr)
    check_eq(len(calls), 1, "the copy was offered to sendmail")
    check_eq(tracked(h, "queue_id = ?", ("QFAIL",)), [],
             "the row of a copy sendmail refused is gone (its retry gets a new token)")
    bad = h.path("bad.conf")
    with open(bad, "w") as f:
        f.write("no_such_key = 1\n")
    p, calls = fake_run(h, ["-f", TRACKED, "--", "carol@remote.test"], m, conf=bad)
    check_eq((p.returncode, calls), (75, []), "bad config file: EX_TEMPFAIL, nothing sent")


if __name__ == "__main__":
    main_with_harness([
        ("set-up: pipe service, filtered listener, keys, rule", test_setup),
        ("two recipients: two tokens, signed after the pixel", test_two_recipients_two_tokens),
        ("untracked sender: byte-identical", test_untracked_identical),
        ("X-Postmeter-Track: no", test_opt_out),
        ("track_exclude: one copy tracked, one not", test_excluded_recipient),
        ("null sender stays null", test_null_sender),
        ("database unreadable: deferred, then delivered", test_database_unreadable),
        ("database locked: deferred, then delivered", test_database_locked),
        ("master.cf entry without -f: deferred", test_broken_entry_defers),
        ("direct runs: sendmail arguments and exit codes", test_direct_exit_codes),
    ], name="pipe", log_subject=False,
        milter_conf={"tracking_base_url": BASE, "tracking_mode": "pipe",
                     "track_exclude": EXCLUDED})
