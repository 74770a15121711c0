#!/usr/bin/python3
"""test_milter_kill.py - SIGKILL of postmeter-milter never loses or doubles mail.

With milter_default_action = tempfail, a milter that dies while Postfix
holds mail makes Postfix answer 4xx; the client retries once the milter
is back, and every message ends up delivered exactly once (IMAP) and
logged exactly once (ledger). Scenarios:

  mid-DATA       the client has sent half the message when the milter dies
  between        a session is open, one transaction done, the milter dies
                 (and is restarted) before the next MAIL FROM
  while down     new connections while no milter listens
"""
import os
import signal
import smtplib
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, SMTPFailure, check, check_eq, crlf, log,
                            main_with_harness, make_message, new_message_id, rows_by_mid)

RCPT = "alice@example.test"
SENDER = "sender@remote.test"
MIDS = []          # every Message-ID the server accepted (exactly once each)
TEMPFAILS = []     # (scenario, code, text)


def message(tag):
    mid = new_message_id()
    msg = make_message([("From", SENDER), ("To", RCPT), ("Subject", "kill test " + tag)],
                       ("body line of %s\n" % tag) * 200, message_id=mid)
    return mid, msg


def retry_send(h, mid, msg, deadline_s=90):
    """retry_send - what a well-behaved client does: retry on 4xx / drop"""
    deadline = time.monotonic() + deadline_s
    delay = 0.5
    while True:
        try:
            r = h.send(SENDER, [RCPT], msg, source_ip=INBOUND_IP)
            MIDS.append(mid)
            return r
        except SMTPFailure as e:
            check(e.temporary, "retry got a permanent failure: %s" % e)
            last = e
        except (smtplib.SMTPException, OSError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("message <%s> not accepted after %d s: %s"
                                 % (mid, deadline_s, last))
        time.sleep(delay)
        delay = min(delay * 2, 4)


def wait_rows_written(h, n, timeout=30):
    """wait until the db holds n rows, so a SIGKILL cannot take any with it"""
    h.wait_ledger_rows(n, timeout)


def test_warmup(h):
    mid, msg = message("warmup")
    h.send(SENDER, [RCPT], msg, source_ip=INBOUND_IP)
    MIDS.append(mid)
    wait_rows_written(h, len(MIDS))


def test_kill_mid_data(h):
    mid, msg = message("mid-data")
    s = h.session(source_ip=INBOUND_IP)
    smtp = s.smtp
    try:
        check_eq(smtp.mail(SENDER)[0], 250, "MAIL FROM")
        check_eq(smtp.rcpt(RCPT)[0], 250, "RCPT TO")
        smtp.putcmd("data")
        code, _ = smtp.getreply()
        check_eq(code, 354, "DATA")
        data = crlf(msg)
        half = len(data) // 2
        half = data.rfind(b"\r\n", 0, half) + 2
        smtp.send(data[:half])
        time.sleep(0.3)
        pid = h.milter_pid
        h.kill_milter(signal.SIGKILL)
        log("killed postmeter-milter %d mid-DATA" % pid)
        smtp.send(data[half:] + b".\r\n")
        code, text = smtp.getreply()
        TEMPFAILS.append(("mid-DATA", code, text))
        log("end of DATA after the kill: %d %s" % (code, text.decode(errors="replace")))
        check(400 <= code < 500, "end of DATA after the kill: want 4xx, got %d %s" % (code, text))
    finally:
        s.close()
    h.start_milter()
    r = retry_send(h, mid, msg)
    check(r.queue_id, "queue id after the retry")
    wait_rows_written(h, len(MIDS))


def test_kill_between_transactions(h):
    mid1, msg1 = message("between-1")
    mid2, msg2 = message("between-2")
    s = h.session(source_ip=INBOUND_IP)
    try:
        s.transaction(SENDER, [RCPT], msg1)
        MIDS.append(mid1)
        wait_rows_written(h, len(MIDS))
        pid = h.milter_pid
        h.kill_milter(signal.SIGKILL)
        log("killed postmeter-milter %d between transactions" % pid)
        h.start_milter()
        try:
            s.transaction(SENDER, [RCPT], msg2)
        except SMTPFailure as e:
            TEMPFAILS.append(("between", e.code, e.resp))
            log("second transaction on the old session: %s" % e)
            check(e.temporary, "second transaction: want 4xx, got %s" % e)
        except smtplib.SMTPServerDisconnected as e:
            TEMPFAILS.append(("between", 421, str(e)))
            log("old session dropped: %s" % e)
        else:
            # Postfix may also reconnect to the milter for the new
            # transaction; then the message is simply accepted.
            MIDS.append(mid2)
            log("second transaction accepted on the old session (milter reconnected)")
            mid2 = None
    finally:
        s.close()
    if mid2 is not None:
        retry_send(h, mid2, msg2)
    wait_rows_written(h, len(MIDS))


def test_connect_while_down(h):
    mid, msg = message("while-down")
    h.kill_milter(signal.SIGKILL)
    try:
        h.send(SENDER, [RCPT], msg, source_ip=INBOUND_IP)
    except SMTPFailure as e:
        TEMPFAILS.append(("down", e.code, e.resp))
        log("while the milter is down: %s" % e)
        check(e.temporary, "while down: want 4xx, got %s" % e)
    except smtplib.SMTPServerDisconnected as e:
        TEMPFAILS.append(("down", 421, str(e)))
    else:
        raise AssertionError("mail accepted while the milter was down "
                             "(milter_default_action = tempfail)")
    h.start_milter()
    retry_send(h, mid, msg)
    wait_rows_written(h, len(MIDS))


def test_exactly_once(h):
    check(TEMPFAILS, "no 4xx was seen at all")
    h.wait_delivered(RCPT, len(MIDS), timeout=90)
    h.wait_queue_empty(60)
    time.sleep(2)   # let any straggler (a double delivery) land
    got = h.delivered_mids(RCPT)
    check_eq(sorted(got), sorted(MIDS), "Message-IDs delivered (each exactly once)")
    rows = h.ledger_rows()
    by = rows_by_mid(rows)
    for mid in MIDS:
        check_eq(len(by.get(mid, [])), 1, "ledger rows for <%s>" % mid)
    accepted = [r for r in rows if r.get("action") == "accept"]
    check_eq(len(accepted), len(MIDS), "accept rows in the ledger")
    check(h.milter_alive(), "postmeter-milter running at the end")


if __name__ == "__main__":
    main_with_harness([
        ("warm-up message", test_warmup),
        ("SIGKILL mid-DATA", test_kill_mid_data),
        ("SIGKILL between transactions of one session", test_kill_between_transactions),
        ("connections while the milter is down", test_connect_while_down),
        ("delivered and logged exactly once", test_exactly_once),
    ], name="kill", milter_default_action="tempfail")
