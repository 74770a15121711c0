#!/usr/bin/python3
"""test_malformed.py - odd and broken messages are delivered (or refused
as their From requires) and logged.

No Message-ID, a 900-character Subject (log_subject = yes: stored
intact), 8-bit garbage in headers and body, NUL bytes in headers and
body (raw SMTP over a socket), headers without a value, the null sender,
a very long unfoldable header line, a 3 MB body: each one must be
delivered and have exactly one ledger row. A From DMARC cannot evaluate
(empty, a name only, an empty group, none at all) or two From fields are
refused with 550 5.7.1 (dmarc_bad_from, dmarc_multiple_from: reject by
default; see postmeter-milter(8), DMARC) and still have exactly one
ledger row, with the header_from the ledger's reader gives and the
reason. postmeter-milter must be the same process at the end.
"""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, SMTPFailure, check, check_eq, crlf, header_value, log,
                            main_with_harness, make_message, new_message_id, norm_mid,
                            postfix_queue_id, wait_for)

RCPT = "bob@example.test"
SENT = []   # (name, queue_id)
REFUSED = []  # (name, message_id)
START_PID = []


def row_for_queue_id(h, qid, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in h.ledger_rows() if r.get("queue_id") == qid]
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    check_eq(len(rows), 1, "ledger rows with queue id %s" % qid)
    return rows[0]


def delivered_with_queue_id(h, qid, timeout=60):
    def find():
        for m in h.imap_fetch_all(RCPT):
            if postfix_queue_id(m) == qid:
                return m
        return None
    deadline = time.monotonic() + timeout
    while True:
        m = find()
        if m is not None:
            return m
        if time.monotonic() > deadline:
            raise AssertionError("message %s not delivered to %s; queue: %s"
                                 % (qid, RCPT, h.postfix_queue()))
        time.sleep(0.3)


def send_and_check(h, name, msg, mail_from="odd@remote.test"):
    r = h.send(mail_from, [RCPT], msg, source_ip=INBOUND_IP)
    check(r.queue_id, "%s: queue id in %r" % (name, r.resp))
    SENT.append((name, r.queue_id))
    m = delivered_with_queue_id(h, r.queue_id)
    row = row_for_queue_id(h, r.queue_id)
    check_eq(row.get("recipients"), [RCPT], "%s: recipients" % name)
    check_eq(row.get("action"), "accept", "%s: action" % name)
    check(isinstance(row.get("size"), int) and row["size"] > 0, "%s: size > 0" % name)
    check(h.milter_alive(), "%s: milter alive" % name)
    return r, m, row


def test_start(h):
    START_PID.append(h.milter_pid)
    check(START_PID[0], "milter running")


def test_no_message_id(h):
    msg = make_message([("From", "odd@remote.test"), ("To", RCPT), ("Subject", "no id")],
                       "no Message-ID here\n", message_id=False)
    check(b"message-id:" not in msg.split(b"\r\n\r\n", 1)[0].lower(),
          "test message has no Message-ID header")
    r, m, row = send_and_check(h, "no Message-ID", msg)
    # Postfix does not add one for a remote client; whatever the milter saw
    # is what it may log - but it must not invent another message's id.
    delivered = norm_mid(header_value(m, "Message-ID"))
    check(row.get("message_id") in (None, "") or norm_mid(row.get("message_id")) == delivered,
          "message_id of a message without one: %r (delivered: %r)"
          % (row.get("message_id"), delivered))
    check_eq(row.get("header_from"), "odd@remote.test", "header_from")


def test_long_subject(h):
    words = []
    rnd = random.Random(900)
    while len(" ".join(words)) < 900:
        words.append("".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in
                             range(rnd.randint(1, 12))))
    subject = " ".join(words)[:900].rstrip()
    subject = subject + "x" * (900 - len(subject))
    check_eq(len(subject), 900, "subject length")
    msg = make_message([("From", "odd@remote.test"), ("To", RCPT), ("Subject", subject)],
                       "long subject\n")
    r, m, row = send_and_check(h, "900-char Subject", msg)
    check_eq(row.get("subject"), subject, "subject stored intact (log_subject = yes)")
    check_eq(header_value(m, "Subject"), subject, "subject delivered intact")


def test_long_folded_subject(h):
    parts = ["part%03d-%s" % (i, "y" * 20) for i in range(40)]
    folded = "\r\n ".join(" ".join(parts[i:i + 3]) for i in range(0, len(parts), 3))
    msg = make_message([("From", "odd@remote.test"), ("To", RCPT), ("Subject", folded)],
                       "folded subject\n")
    r, m, row = send_and_check(h, "folded long Subject", msg)
    got = row.get("subject") or ""
    want = " ".join(parts)
    check(" ".join(got.split()) == want, "folded subject logged (whitespace-normalized)",
          "got:  %r" % got, "want: %r" % want)


def test_8bit_garbage(h):
    rnd = random.Random(8)
    junk = bytes(rnd.choice([b for b in range(0x80, 0x100)]) for _ in range(60))
    body = b"".join(bytes(rnd.choice([b for b in range(1, 256) if b not in (10, 13)])
                          for _ in range(70)) + b"\n" for _ in range(50))
    msg = make_message([("From", b"\xc3\xa9\xff\xfe Garbage <odd@remote.test>"),
                        ("To", RCPT),
                        ("Subject", b"8bit " + junk),
                        ("X-Junk", junk + b" \x80\x81\x82")],
                       body)
    r, m, row = send_and_check(h, "8-bit garbage", msg)
    check_eq(row.get("header_from"), "odd@remote.test", "header_from with an 8-bit name")
    check((row.get("subject") or "").startswith("8bit "), "8-bit subject logged: %r"
          % (row.get("subject"),))


def test_nul_bytes(h):
    mid = new_message_id()
    data = crlf(b"From: odd@remote.test\n"
                b"To: " + RCPT.encode() + b"\n"
                b"Subject: nul\x00in subject\n"
                b"X-Nul: a\x00b\x00c\n"
                b"Message-ID: <" + mid.encode() + b">\n"
                b"\n"
                b"body with a NUL \x00 here\n"
                b"\x00\x00\x00\n"
                b"end\n")
    replies = h.send_raw([b"EHLO nul.remote.test\r\n",
                          b"MAIL FROM:<odd@remote.test>\r\n",
                          b"RCPT TO:<" + RCPT.encode() + b">\r\n",
                          b"DATA\r\n",
                          data + b".\r\n",
                          b"QUIT\r\n"])
    log("NUL dialogue: %r" % replies)
    final = replies[5]
    check(final.startswith(b"250"), "end of DATA with NUL bytes: %r" % final)
    qid = final.split(b"queued as ")[1].split()[0].decode()
    SENT.append(("NUL bytes", qid))
    delivered_with_queue_id(h, qid)
    row = row_for_queue_id(h, qid)
    check_eq(norm_mid(row.get("message_id")), mid, "message_id after NUL headers")
    check(h.milter_alive(), "milter alive after NUL bytes")


def row_for_message_id(h, mid, timeout=30):
    rows = wait_for(lambda: [r for r in h.ledger_rows() if norm_mid(r.get("message_id")) == mid],
                    timeout, "ledger row of <%s>" % mid)
    check_eq(len(rows), 1, "ledger rows with message id %s" % mid)
    return rows[0]


# (name, header fields, header_from the ledger must hold, action, reason in the 550 / ledger)
ODD_HEADERS = [
    # no mailbox, no domain: nothing to evaluate (dmarc=permerror), dmarc_bad_from = reject
    ("empty From", [("From", ""), ("To", RCPT), ("Subject", "empty from")],
     None, "reject", "From field without a mailbox"),
    ("From without address", [("From", "Just A Name"), ("To", RCPT), ("Subject", "no address")],
     None, "reject", "malformed From field"),
    ("group syntax", [("From", "undisclosed-recipients:;"), ("To", RCPT), ("Subject", "group")],
     None, "reject", "From field without a mailbox"),
    ("no From at all", [("X-Only", "x")], None, "reject", "no From field"),
    # RFC 5322 allows one From field: dmarc_multiple_from = reject (the ledger keeps the first)
    ("two From headers", [("From", "a@remote.test"), ("From", "b@remote.test"), ("To", RCPT),
                          ("Subject", "two froms")],
     "a@remote.test", "reject", "several From fields"),
    # well-formed From, odd elsewhere: remote.test publishes no DMARC record -> accept
    ("very long header line", [("From", "odd@remote.test"), ("To", RCPT), ("X-Long", "z" * 5000),
                               ("Subject", "long line")],
     "odd@remote.test", "accept", None),
    ("header without space", [("From", "odd@remote.test"), ("To", RCPT), ("Subject", "nospace"),
                              ("X-Empty", "")],
     "odd@remote.test", "accept", None),
]


def test_odd_headers(h):
    for name, headers, header_from, action, reason in ODD_HEADERS:
        mid = new_message_id()
        msg = make_message(headers, "odd headers: %s\n" % name, message_id=mid)
        if action == "accept":
            r, m, row = send_and_check(h, name, msg)
            check_eq(row.get("header_from"), header_from, "%s: header_from" % name)
            continue
        try:
            r = h.send("odd@remote.test", [RCPT], msg, source_ip=INBOUND_IP)
            raise AssertionError("%s: accepted (%r), want 550 5.7.1" % (name, r))
        except SMTPFailure as e:
            check_eq((e.stage, e.code), ("DATA", 550), "%s: refused at end of DATA" % name)
            check("5.7.1" in e.resp and reason in e.resp, "%s: 550 5.7.1 says %r" % (name, reason),
                  e.resp)
        REFUSED.append((name, mid))
        row = row_for_message_id(h, mid)
        check_eq(row.get("action"), action, "%s: ledger action" % name)
        check_eq(row.get("header_from"), header_from, "%s: header_from" % name)
        dm = [a for a in row.get("auth", []) if a.startswith("dmarc=")]
        check(len(dm) == 1 and reason in dm[0], "%s: ledger dmarc row names %r" % (name, reason),
              dm)
        check(h.milter_alive(), "%s: milter alive" % name)


def test_null_sender(h):
    msg = (b"From: MAILER-DAEMON@remote.test\nTo: " + RCPT.encode() +
           b"\nSubject: bounce\n\nbare LF body\nline 2\r\n")
    r = h.send("", [RCPT], msg, source_ip=INBOUND_IP)
    SENT.append(("null sender", r.queue_id))
    delivered_with_queue_id(h, r.queue_id)
    row = row_for_queue_id(h, r.queue_id)
    check(row.get("mail_from") in ("", None), "mail_from of the null sender: %r"
          % (row.get("mail_from"),))


def test_big_body(h):
    body = ("0123456789" * 99 + "\n") * 3000  # ~3 MB
    msg = make_message([("From", "odd@remote.test"), ("To", RCPT), ("Subject", "big")], body)
    r, m, row = send_and_check(h, "3 MB body", msg)
    check(row["size"] >= len(msg) * 0.9, "size %d of a %d byte message" % (row["size"], len(msg)))


def test_all_logged_once(h):
    rows = h.ledger_rows()
    for name, qid in SENT:
        n = sum(1 for r in rows if r.get("queue_id") == qid)
        check_eq(n, 1, "%s: rows with queue id %s" % (name, qid))
    for name, mid in REFUSED:
        n = sum(1 for r in rows if norm_mid(r.get("message_id")) == mid)
        check_eq(n, 1, "%s (refused): rows with message id %s" % (name, mid))
    check_eq(len(rows), len(SENT) + len(REFUSED), "rows in the ledger")
    check_eq(h.milter_pid, START_PID[0], "postmeter-milter is the same process as at start")


if __name__ == "__main__":
    main_with_harness([
        ("milter started", test_start),
        ("no Message-ID", test_no_message_id),
        ("900-character Subject", test_long_subject),
        ("folded long Subject", test_long_folded_subject),
        ("8-bit garbage in headers and body", test_8bit_garbage),
        ("NUL bytes in headers and body", test_nul_bytes),
        ("odd headers", test_odd_headers),
        ("null sender", test_null_sender),
        ("3 MB body", test_big_body),
        ("all logged exactly once, milter still alive", test_all_logged_once),
    ], name="malformed", log_subject=True)
