#!/usr/bin/python3
"""test_log_line.py - postmeter-milter's one log line per message, read in
the harness's milter log, looked up by Postfix's queue id as an admin
would look it up in mail.log:

  - inbound, SPF pass, DKIM pass (python3-dkim), DMARC p=reject pass:
    "QID: inbound from=<...> spf=pass dkim=pass (d=... s=...)
    dmarc=pass (header.from=... p=reject) action=accept";
  - inbound failing DMARC p=reject: Postfix's own milter-reject line is
    there, and ours says "... dmarc=fail (...) action=reject";
  - outbound, two keys made by `postmeter dkim keygen`: one
    "signed=yes (d=... s=... a=...)" per signature, action=accept;
  - outbound from a domain without a key: "signed=no (no key for the
    From domain)";
  - log_messages = no (SIGHUP) silences the line; = yes brings it back.
The line never holds the Subject or a recipient.
"""
import os
import re
import sys

import dkim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, OUTBOUND_IP, SMTPFailure, check, check_eq,  # noqa: E402
                            main_with_harness, make_message, new_message_id, wait_for)
from pmtest.unbound import key_record, txt  # noqa: E402
from test_outbound_sign import delivered, keygen  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dkim")
RCPT = "alice@example.test"
SUBJECT = "quarterly figures 7f3a"  # must never be in the line

ZONES = [("logpass.test", "static"), ("logfail.test", "static")]
ZONE_DATA = [
    txt("logpass.test", "v=spf1 ip4:127.0.0.2 -all"),
    txt("_dmarc.logpass.test", "v=DMARC1; p=reject"),
    txt("rsa2048._domainkey.logpass.test", key_record("rsa2048._domainkey.example.test")),
    txt("logfail.test", "v=spf1 -all"),
    txt("_dmarc.logfail.test", "v=DMARC1; p=reject"),
]


def milter_lines(h, qid):
    """our lines for queue id qid in the milter's log (stderr under -f)"""
    with open(h.milter_log(), errors="replace") as f:
        return re.findall(r"^postmeter-milter: (%s: (?:inbound|outbound) .*)$" % re.escape(qid),
                          f.read(), re.M)


def one_line(h, qid, rcpt):
    """the one line logged for qid (waits for it); neither the subject nor rcpt in it"""
    lines = wait_for(lambda: milter_lines(h, qid), 20, "the milter's line for %s" % qid)
    check_eq(len(lines), 1, "lines for %s: %s" % (qid, lines))
    check(SUBJECT not in lines[0] and rcpt not in lines[0], "no subject or recipient", lines[0])
    return lines[0]


def inbound_signed(subject):
    mid = new_message_id("logpass.test")
    msg = make_message([("From", "News <news@logpass.test>"), ("To", RCPT),
                        ("Subject", subject)], "log line test\n", message_id=mid)
    with open(os.path.join(DATA, "keys", "rsa2048.key"), "rb") as f:
        sig = dkim.sign(msg, b"rsa2048", b"logpass.test", f.read(),
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return mid, sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg


def test_inbound_pass(h):
    mid, msg = inbound_signed(SUBJECT)
    r = h.send("news@logpass.test", [RCPT], msg, source_ip=INBOUND_IP)
    check(r.queue_id, "queue id in the 250 reply", r)
    line = one_line(h, r.queue_id, RCPT)
    check_eq(line, "%s: inbound from=<news@logpass.test> spf=pass dkim=pass (d=logpass.test "
             "s=rsa2048) dmarc=pass (header.from=logpass.test p=reject) action=accept"
             % r.queue_id, "inbound line")
    delivered(h, RCPT, mid)


def test_inbound_reject(h):
    msg = make_message([("From", "ceo@logfail.test"), ("To", RCPT), ("Subject", SUBJECT)],
                       "forged\n", message_id=new_message_id("logfail.test"))
    try:
        h.send("ceo@logfail.test", [RCPT], msg, source_ip=INBOUND_IP)
        check(False, "p=reject message refused")
    except SMTPFailure as e:
        check_eq(e.code, 550, "SMTP reply to the p=reject message")
    rx = re.compile(r"\b([0-9A-Za-z]+): milter-reject: END-OF-MESSAGE .*from=<ceo@logfail\.test>")
    qid = wait_for(lambda: (rx.search(h.maillog_text()) or [None, None])[1], 20,
                   "Postfix's milter-reject line")
    line = one_line(h, qid, RCPT)
    check(re.fullmatch(r"%s: inbound from=<ceo@logfail\.test> spf=fail dkim=none "
                       r"dmarc=fail \(header\.from=logfail\.test p=reject(: [^()]*)?\) "
                       r"action=reject" % qid, line), "reject line", line)


def test_outbound_signed(h):
    rsa, _ = keygen(h, "example.test", "rsa")
    ed, _ = keygen(h, "example.test", "ed25519")
    h.reload_milter()
    wait_for(lambda: "2 signing key(s) loaded" in open(h.milter_log(), errors="replace").read(),
             20, "the milter to load the keys")
    mid = new_message_id("example.test")
    msg = make_message([("From", "alice@example.test"), ("To", "carol@remote.test"),
                        ("Subject", SUBJECT)], "outbound\n", message_id=mid)
    r = h.send("alice@example.test", ["carol@remote.test"], msg, source_ip=OUTBOUND_IP)
    line = one_line(h, r.queue_id, "carol@remote.test")
    m = re.fullmatch(r"%s: outbound from=<alice@example\.test> (signed=yes \(.*\)) "
                     r"action=accept" % r.queue_id, line)
    check(m, "outbound line", line)
    check_eq(sorted(re.findall(r"signed=yes \(d=example\.test s=(\S+) a=(\S+)\)", m.group(1))),
             sorted([(rsa, "rsa-sha256"), (ed, "ed25519-sha256")]), "one signed= per key")
    check_eq(m.group(1).count("signed="), 2, "two signed= in " + line)
    delivered(h, "carol@remote.test", mid)


def test_outbound_unsigned(h):
    msg = make_message([("From", "dave@remote.test"), ("To", "carol@remote.test"),
                        ("Subject", SUBJECT)], "no key\n", message_id=new_message_id())
    r = h.send("dave@remote.test", ["carol@remote.test"], msg, source_ip=OUTBOUND_IP)
    line = one_line(h, r.queue_id, "carol@remote.test")
    check_eq(line, "%s: outbound from=<dave@remote.test> signed=no (no key for the From domain) "
             "action=accept" % r.queue_id, "unsigned line")


def set_log_messages(h, value):
    """rewrite postmeter.conf with log_messages = value; SIGHUP; wait for the reload"""
    with open(h.milter_conf_path) as f:
        lines = [x for x in f if not x.startswith("log_messages")]
    with open(h.milter_conf_path, "w") as f:
        f.write("".join(lines) + "log_messages = %s\n" % value)

    def reloads():
        with open(h.milter_log(), errors="replace") as f:
            return f.read().count("configuration reloaded from")
    before = reloads()
    h.reload_milter()
    wait_for(lambda: reloads() > before, 20, "the milter to reload")


def test_log_messages_no(h):
    set_log_messages(h, "no")
    mid, msg = inbound_signed("silenced")
    r = h.send("news@logpass.test", [RCPT], msg, source_ip=INBOUND_IP)
    # the line is written before the milter answers: once delivered, it would be there
    delivered(h, RCPT, mid)
    check_eq(milter_lines(h, r.queue_id), [], "lines with log_messages = no")
    set_log_messages(h, "yes")
    mid, msg = inbound_signed("back on")
    r = h.send("news@logpass.test", [RCPT], msg, source_ip=INBOUND_IP)
    check(one_line(h, r.queue_id, RCPT).endswith(" action=accept"), "the line is back")


if __name__ == "__main__":
    main_with_harness([
        ("inbound pass: the line by queue id", test_inbound_pass),
        ("inbound DMARC p=reject: milter-reject and action=reject", test_inbound_reject),
        ("outbound, two keys: signed=yes for each", test_outbound_signed),
        ("outbound, no key: signed=no (why)", test_outbound_unsigned),
        ("log_messages = no silences it; yes brings it back", test_log_messages_no),
    ], name="logline", zones=ZONES, zone_data=ZONE_DATA)
