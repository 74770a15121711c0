#!/usr/bin/python3
"""test_ledger_rows.py - one correct ledger row per message, every field.

Inbound (127.0.0.2, not trusted), outbound from a trusted network
(127.0.0.1), outbound SASL-authenticated (127.0.0.2 + AUTH) and a local
sendmail submission go through a private Postfix with postmeter-milter;
each row is checked field by field against what was sent and against
what Postfix did (queue id from the 250 reply, the maillog and the
Received header of the copy read back over IMAP). log_subject = no, so
no row may carry a subject.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, OUTBOUND_IP, check, check_eq, header_value,
                            main_with_harness, make_message, new_message_id, norm_mid,
                            parse_iso_utc, postfix_queue_id, rows_by_mid)

T0 = time.time()
SENT = {}   # name -> dict(mid, queue_id, expect...)


def one_row(h, mid, timeout=30):
    """one_row - wait for the row of Message-ID mid; exactly one must exist"""
    deadline = time.monotonic() + timeout
    while True:
        rows = rows_by_mid(h.ledger_rows()).get(mid, [])
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    check(len(rows) == 1, "exactly one ledger row for <%s>, got %d" % (mid, len(rows)), *rows)
    return rows[0]


def check_row(h, name, row, exp):
    """check_row - compare every field of a ledger row with what was sent"""
    def eq(field, want):
        check_eq(row.get(field), want, "%s: %s" % (name, field))
    eq("queue_id", exp["queue_id"])
    check_eq(norm_mid(row.get("message_id")), exp["mid"], "%s: message_id" % name)
    eq("direction", exp["direction"])
    eq("mail_from", exp["mail_from"])
    eq("header_from", exp["header_from"])
    check_eq(sorted(row.get("recipients") or []), sorted(exp["rcpts"]), "%s: recipients" % name)
    if "client_ip" in exp:
        eq("client_ip", exp["client_ip"])
    else:
        check(row.get("client_ip") in (None, "", "127.0.0.1"),
              "%s: client_ip of a local submission: %r" % (name, row.get("client_ip")))
    if "helo" in exp:
        eq("helo", exp["helo"])
    check_eq(row.get("sasl_user") or None, exp.get("sasl_user"), "%s: sasl_user" % name)
    size = row.get("size")
    check(isinstance(size, int) and size > 0, "%s: size %r > 0" % (name, size))
    # the milter counts header + body as received; Postfix's size differs
    # only by what it adds (Received etc.), so stay within a sane window.
    check(size >= exp["min_size"] // 2 and size <= exp["min_size"] * 2 + 4096,
          "%s: size %d vs %d bytes sent" % (name, size, exp["min_size"]))
    eq("action", "accept")
    try:
        t = parse_iso_utc(row.get("received_at"))
    except ValueError as e:
        raise AssertionError("%s: received_at: %s" % (name, e))
    check(T0 - 5 <= t <= time.time() + 5, "%s: received_at %s not within this run"
          % (name, row.get("received_at")))
    check(row.get("subject") in (None, ""), "%s: subject logged although log_subject = no: %r"
          % (name, row.get("subject")))


def check_delivered(h, name, exp):
    """check_delivered - each recipient got exactly one copy with our queue id"""
    for rcpt in exp["rcpts"]:
        msgs = h.wait_delivered(rcpt, 1, timeout=60)
        mine = [m for m in msgs if norm_mid(header_value(m, "Message-ID")) == exp["mid"]]
        deadline = time.monotonic() + 30
        while not mine and time.monotonic() < deadline:
            time.sleep(0.3)
            msgs = h.imap_fetch_all(rcpt)
            mine = [m for m in msgs if norm_mid(header_value(m, "Message-ID")) == exp["mid"]]
        check_eq(len(mine), 1, "%s: copies of <%s> in %s's INBOX" % (name, exp["mid"], rcpt))
        check_eq(postfix_queue_id(mine[0]), exp["queue_id"],
                 "%s: queue id in the Received header for %s" % (name, rcpt))
        check(exp["subject"] == header_value(mine[0], "Subject"),
              "%s: Subject read back over IMAP" % name)


def send_case(h, name, mail_from, rcpts, from_hdr, header_from, source_ip, helo,
              auth=None, direction="inbound"):
    mid = new_message_id()
    subject = "ledger test %s %s" % (name, mid)
    msg = make_message([("From", from_hdr), ("To", ", ".join(rcpts)), ("Subject", subject)],
                       "Hello %s,\n\nthis is %s.\n-- \npmtest\n" % (rcpts[0], name),
                       message_id=mid)
    r = h.send(mail_from, rcpts, msg, source_ip=source_ip, helo=helo, auth=auth)
    check(r.queue_id, "%s: queue id in the 250 reply %r" % (name, r.resp))
    check_eq(h.queue_id_for(mid), r.queue_id, "%s: queue id in Postfix's log" % name)
    exp = dict(mid=mid, queue_id=r.queue_id, direction=direction, mail_from=mail_from,
               header_from=header_from, rcpts=rcpts, client_ip=source_ip, helo=helo,
               sasl_user=auth[0] if auth else None, min_size=len(msg), subject=subject)
    SENT[name] = exp
    check_row(h, name, one_row(h, mid), exp)
    check_delivered(h, name, exp)


def test_inbound(h):
    send_case(h, "inbound", "sender@remote.test", ["alice@example.test", "bob@example.test"],
              '"Remote Sender" <sender@remote.test>', "sender@remote.test",
              INBOUND_IP, "client.remote.test")


def test_outbound_trusted(h):
    send_case(h, "outbound-trusted", "alice@example.test",
              ["carol@remote.test", "dave@remote.test"],
              "Alice <alice@example.test>", "alice@example.test",
              OUTBOUND_IP, "app.example.test", direction="outbound")


def test_outbound_sasl(h):
    send_case(h, "outbound-sasl", "bob@example.test", ["carol@remote.test"],
              "bob@example.test", "bob@example.test", INBOUND_IP, "laptop.example.test",
              auth=("bob@example.test", h.password("bob@example.test")),
              direction="outbound")


def test_sasl_wrong_password_stays_inbound(h):
    """a failed AUTH leaves the session unauthenticated: relaying is refused"""
    from pmtest.harness import SMTPFailure
    try:
        h.send("bob@example.test", ["carol@remote.test"], make_message(
            [("From", "bob@example.test"), ("Subject", "x")], "x\n"),
            source_ip=INBOUND_IP, auth=("bob@example.test", "wrong"))
    except SMTPFailure as e:
        check(e.stage == "AUTH" and e.code == 535, "wrong password: %s" % e)
    else:
        raise AssertionError("AUTH with a wrong password was accepted")


def test_local_sendmail(h):
    name = "local-sendmail"
    mid = new_message_id()
    subject = "ledger test %s %s" % (name, mid)
    rcpts = ["dave@remote.test"]
    msg = make_message([("From", "Alice <alice@example.test>"), ("To", rcpts[0]),
                        ("Subject", subject)], "local submission\n", message_id=mid)
    h.sendmail_local("alice@example.test", rcpts, msg)
    qid = h.queue_id_for(mid)
    exp = dict(mid=mid, queue_id=qid, direction="outbound", mail_from="alice@example.test",
               header_from="alice@example.test", rcpts=rcpts, sasl_user=None,
               min_size=len(msg), subject=subject)
    SENT[name] = exp
    check_row(h, name, one_row(h, mid), exp)
    check_delivered(h, name, exp)


def test_totals_and_filters(h):
    rows = h.ledger_rows()
    by = rows_by_mid(rows)
    for name, exp in SENT.items():
        check_eq(len(by.get(exp["mid"], [])), 1, "%s: rows in the full report" % name)
    check_eq(len(rows), len(SENT), "rows in the ledger (one per accepted message)")
    qids = [r["queue_id"] for r in rows]
    check_eq(len(set(qids)), len(qids), "queue ids unique")
    got = h.ledger_rows("--sender", "sender@remote.test")
    check_eq([norm_mid(r["message_id"]) for r in got], [SENT["inbound"]["mid"]],
             "report --sender sender@remote.test")
    got = h.ledger_rows("--recipient", "carol@remote.test")
    want = sorted(SENT[n]["mid"] for n in ("outbound-trusted", "outbound-sasl") if n in SENT)
    check_eq(sorted(norm_mid(r["message_id"]) for r in got), want,
             "report --recipient carol@remote.test")
    # Raw check on the database file: no subject stored with log_subject = no.
    # A query that fails (no such table or column, unreadable file) fails
    # the test; the row count shows it read the rows the report showed.
    raw = h.db_query("SELECT count(*) AS n, count(NULLIF(subject, '')) AS with_subject "
                     "FROM messages")
    check_eq(raw, [{"n": len(SENT), "with_subject": 0}],
             "rows, and rows with a subject, in the messages table")


if __name__ == "__main__":
    main_with_harness([
        ("inbound, 2 recipients", test_inbound),
        ("outbound from a trusted network, 2 recipients", test_outbound_trusted),
        ("outbound SASL-authenticated", test_outbound_sasl),
        ("failed SASL login", test_sasl_wrong_password_stays_inbound),
        ("local sendmail submission", test_local_sendmail),
        ("totals and report filters", test_totals_and_filters),
    ], name="ledger", log_subject=False)
