#!/usr/bin/python3
"""test_auth_settings.py - the inbound DMARC policy settings through real Postfix.

Each case rewrites postmeter.conf with one group of settings, reloads the
milter (SIGHUP) and sends inbound mail (from 127.0.0.2 and other loopback
addresses, none trusted) that fails DMARC of a p=reject and a
p=quarantine domain, with a control that passes. What it checks comes
from postmeter.conf(5) and postmeter-milter(8), DMARC: the SMTP answer
(250, 550 5.7.1, 451 4.7.5), where the mail went (delivered and read back
over IMAP, or in Postfix's hold queue), ONE Authentication-Results field
with our authserv-id (read from the delivered copy, or with postcat from
the held queue file) and the ledger row's action and DMARC result.

  dmarc_enforce = quarantine   a p=reject failure (and a From DMARC cannot
                               evaluate) is held, not refused
  dmarc_enforce = none         failures are delivered, still dmarc=fail
  dmarc_quarantine = header    a p=quarantine failure (and, with the two
                               keys below at quarantine, a bad From or
                               two From fields; with dmarc_enforce =
                               quarantine a p=reject failure) is delivered
                               with X-Postmeter-Quarantine, not held
  on_temperror = tempfail      a DMARC temperror (a _dmarc name whose
                               name server never answers) gets 451 4.7.5;
                               the default (accept) delivers it
  dmarc_bad_from = quarantine  a From without a domain is held, one whose
                               read-out domain says p=reject still refused,
                               one whose lookups time out gets 451 4.7.5
  dmarc_multiple_from          quarantine holds two From fields (unless a
                               domain in them says p=reject); evaluate
                               judges every domain, the strictest applies;
                               17 From fields are refused either way
  auth_allow                   listed client networks and From domains
                               (subdomains, any case, a trailing dot) are
                               never refused, held or delayed (temperror);
                               a name that merely ends or starts with a
                               listed one's text, a From with one unlisted
                               domain, one with 9 listed domains and an
                               unlisted client are
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (HOSTNAME, INBOUND_IP, SMTPFailure, check, check_eq, header_value,
                            log, main_with_harness, make_message, new_message_id, norm_mid,
                            wait_for)
from pmtest.unbound import SilentUDP, free_port, txt

RCPT = "alice@example.test"
SILENT = SilentUDP(free_port())

# pass.test's SPF lets every loopback client pass (aligned: dmarc=pass);
# the others fail SPF and have no DKIM, so they fail DMARC under their policy.
ZONES = [(z, "static") for z in ("pass.test", "rej.test", "quar.test", "none.test",
                                 "allowed.test", "notallowed.test")] + \
    [("dead.test", "transparent")]
ZONE_DATA = [
    txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all"),
    txt("_dmarc.pass.test", "v=DMARC1; p=reject"),
    txt("rej.test", "v=spf1 -all"),
    txt("_dmarc.rej.test", "v=DMARC1; p=reject"),
    txt("quar.test", "v=spf1 -all"),
    txt("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
    txt("none.test", "v=spf1 -all"),
    txt("_dmarc.none.test", "v=DMARC1; p=none"),
    txt("allowed.test", "v=spf1 -all"),
    txt("_dmarc.allowed.test", "v=DMARC1; p=reject"),
    txt("notallowed.test", "v=spf1 -all"),
    txt("_dmarc.notallowed.test", "v=DMARC1; p=reject"),
]
# dead.test's name server never answers: DMARC for it is temperror.
UNBOUND_EXTRA = ["forward-zone:", '    name: "dead.test."', "    forward-addr: %s" % SILENT.server]


# --- configuration ----------------------------------------------------

def configure(h, **keys):
    """configure - postmeter.conf = the harness's keys + keys (nothing else changed); SIGHUP;
    wait until the milter logs the reload"""
    h.milter_conf_extra = dict(keys)
    with open(h.milter_log(), errors="replace") as f:
        before = f.read().count("configuration reloaded from")
    h.write_milter_conf()
    h.reload_milter()
    wait_for(lambda: open(h.milter_log(), errors="replace").read().count(
        "configuration reloaded from") > before, 20, "the milter to reload %r" % (keys,))


# --- sending and looking ----------------------------------------------

def message(from_values, subject):
    """message - (message id, bytes) with one From field per value in from_values"""
    mid = new_message_id()
    if isinstance(from_values, str):
        from_values = [from_values]
    headers = [("From", v) for v in from_values] + [("To", RCPT), ("Subject", subject)]
    return mid, make_message(headers, "auth settings: %s\n" % subject, message_id=mid)


def our_authres(raw):
    """our_authres - every Authentication-Results value claiming our authserv-id, unfolded"""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n").decode("utf-8", "replace")
    head = re.sub(r"\n[ \t]+", " ", head)
    out = []
    for line in head.split("\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "authentication-results":
            v = value.strip()
            if v.split(";", 1)[0].strip().lower() == HOSTNAME:
                out.append(v)
    return out


def one_authres(raw, what, *patterns):
    """one_authres - check raw has ONE of our Authentication-Results fields matching patterns"""
    ars = our_authres(raw)
    check_eq(len(ars), 1, "%s: Authentication-Results fields with our authserv-id" % what)
    log("%s: %s" % (what, ars[0]))
    for p in patterns:
        check(re.search(p, ars[0]), "%s: Authentication-Results has /%s/" % (what, p), ars[0])
    return ars[0]


def ledger_row(h, mid, what):
    """ledger_row - the one ledger row of <mid> (waits for it)"""
    rows = wait_for(lambda: [r for r in h.ledger_rows() if norm_mid(r.get("message_id")) == mid],
                    30, "%s: ledger row of <%s>" % (what, mid))
    check_eq(len(rows), 1, "%s: ledger rows" % what)
    return rows[0]


def check_ledger(h, mid, what, action, dmarc):
    """check_ledger - the row of <mid> has this action and DMARC result (a|b: either)"""
    row = ledger_row(h, mid, what)
    check_eq(row.get("action"), action, "%s: ledger action" % what)
    dm = [a for a in row.get("auth", []) if a.startswith("dmarc=")]
    check(len(dm) == 1 and re.match(r"dmarc=(%s)\b" % dmarc, dm[0]),
          "%s: ledger dmarc=%s" % (what, dmarc), row)
    return row


def send(h, mail_from, msg, ip=INBOUND_IP):
    return h.send(mail_from, [RCPT], msg, source_ip=ip)


def delivered_copy(h, mid, timeout=60):
    """delivered_copy - RCPT's delivered copy of <mid>"""
    def find():
        for m in h.imap_fetch_all(RCPT):
            if norm_mid(header_value(m, "Message-ID")) == mid:
                return m
        return None
    try:
        return wait_for(find, timeout, "delivery of <%s>" % mid, interval=0.3)
    except TimeoutError:
        raise AssertionError("<%s> not delivered; queue: %s" % (mid, h.postfix_queue()))


def expect_delivered(h, what, mail_from, msg, mid, ip=INBOUND_IP, action="accept", dmarc="pass",
                     ar=(), quarantine_header=False):
    """expect_delivered - 250, delivered (not held) with ONE A-R, the ledger action"""
    try:
        r = send(h, mail_from, msg, ip)
    except SMTPFailure as e:
        raise AssertionError("%s: refused (%s), want it delivered" % (what, e))
    raw = delivered_copy(h, mid)
    one_authres(raw, what, r"\bdmarc=%s\b" % dmarc, *ar)
    q = header_value(raw, "X-Postmeter-Quarantine")
    if quarantine_header:
        check(q is not None, "%s: delivered with X-Postmeter-Quarantine" % what)
    else:
        check(q is None, "%s: no X-Postmeter-Quarantine header" % what, q)
    check(not [e for e in h.postfix_queue() if e.get("queue_id") == r.queue_id and
               e.get("queue_name") == "hold"], "%s: not in the hold queue" % what,
          h.postfix_queue())
    check_ledger(h, mid, what, action, dmarc)
    return raw


def expect_refused(h, what, mail_from, msg, mid, ip=INBOUND_IP, code=550, xcode="5.7.1",
                   action="reject", dmarc="fail"):
    """expect_refused - the SMTP client gets code xcode at the end of DATA; the ledger row"""
    try:
        r = send(h, mail_from, msg, ip)
    except SMTPFailure as e:
        check_eq((e.stage, e.code), ("DATA", code), "%s: answer at the end of DATA" % what)
        check(xcode in e.resp, "%s: enhanced status %s" % (what, xcode), e.resp)
    else:
        raise AssertionError("%s: accepted (%r), want %d %s" % (what, r, code, xcode))
    check_ledger(h, mid, what, action, dmarc)


def held_headers(h, qid):
    """held_headers - the header of queue file qid as postcat shows it (CRLF bytes)"""
    p = subprocess.run(["postcat", "-c", h.postfix_dir, "-h", "-q", qid],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    check_eq(p.returncode, 0, "postcat -q %s (%s)" % (qid, p.stderr.decode(errors="replace")))
    lines = [ln for ln in p.stdout.split(b"\n") if not ln.startswith(b"*** ")]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def expect_held(h, what, mail_from, msg, mid, ip=INBOUND_IP, dmarc="fail", ar=()):
    """expect_held - 250, the message waits in Postfix's hold queue with ONE A-R, not
    delivered; the ledger says quarantine"""
    try:
        r = send(h, mail_from, msg, ip)
    except SMTPFailure as e:
        raise AssertionError("%s: refused (%s), want it held" % (what, e))
    check(r.queue_id, "%s: queue id" % what, r)

    def held():
        return [e for e in h.postfix_queue() if e.get("queue_id") == r.queue_id and
                e.get("queue_name") == "hold"]
    try:
        wait_for(held, 20, "%s in the hold queue" % r.queue_id)
    except TimeoutError:
        raise AssertionError("%s: %s not in the hold queue: queue %s, delivered: %s" % (
            what, r.queue_id, h.postfix_queue(),
            mid in [norm_mid(header_value(m, "Message-ID")) for m in h.imap_fetch_all(RCPT)]))
    one_authres(held_headers(h, r.queue_id), what + " (held)", r"\bdmarc=%s\b" % dmarc, *ar)
    check_ledger(h, mid, what, "quarantine", dmarc)
    return r.queue_id


def control(h, what, ip=INBOUND_IP):
    """control - aligned mail of pass.test (p=reject) is delivered, dmarc=pass"""
    mid, msg = message("a@pass.test", "control " + what)
    expect_delivered(h, "control (%s)" % what, "a@pass.test", msg, mid, ip=ip,
                     ar=[r"header\.from=pass\.test"])


# --- dmarc_enforce ----------------------------------------------------

def test_enforce_quarantine(h):
    configure(h, dmarc_enforce="quarantine")
    control(h, "dmarc_enforce = quarantine")
    mid, msg = message("a@rej.test", "enforce quarantine, p=reject")
    expect_held(h, "p=reject failure, dmarc_enforce = quarantine", "a@rej.test", msg, mid,
                ar=[r"header\.from=rej\.test", r"policy\.dmarc=reject"])
    mid, msg = message("a@quar.test", "enforce quarantine, p=quarantine")
    expect_held(h, "p=quarantine failure, dmarc_enforce = quarantine", "a@quar.test", msg, mid,
                ar=[r"header\.from=quar\.test"])
    # "dmarc_enforce caps all of it": a From without a mailbox (dmarc_bad_from = reject)
    mid, msg = message("Just A Name", "enforce quarantine, bad From")
    expect_held(h, "From without an address, dmarc_enforce = quarantine", "a@rej.test", msg, mid,
                dmarc="permerror")


def test_enforce_none(h):
    configure(h, dmarc_enforce="none")
    control(h, "dmarc_enforce = none")
    mid, msg = message("a@rej.test", "enforce none, p=reject")
    expect_delivered(h, "p=reject failure, dmarc_enforce = none", "a@rej.test", msg, mid,
                     dmarc="fail", ar=[r"header\.from=rej\.test", r"policy\.dmarc=reject"])
    mid, msg = message("a@quar.test", "enforce none, p=quarantine")
    expect_delivered(h, "p=quarantine failure, dmarc_enforce = none", "a@quar.test", msg, mid,
                     dmarc="fail", ar=[r"header\.from=quar\.test"])
    mid, msg = message("Just A Name", "enforce none, bad From")
    expect_delivered(h, "From without an address, dmarc_enforce = none", "a@rej.test", msg, mid,
                     dmarc="permerror")


# --- dmarc_quarantine -------------------------------------------------

def test_quarantine_header(h):
    configure(h, dmarc_quarantine="header")
    control(h, "dmarc_quarantine = header")
    mid, msg = message("a@quar.test", "quarantine header, p=quarantine")
    expect_delivered(h, "p=quarantine failure, dmarc_quarantine = header", "a@quar.test", msg,
                     mid, action="quarantine", dmarc="fail", ar=[r"header\.from=quar\.test"],
                     quarantine_header=True)
    # p=reject is still refused (dmarc_enforce = reject)
    mid, msg = message("a@rej.test", "quarantine header, p=reject")
    expect_refused(h, "p=reject failure, dmarc_quarantine = header", "a@rej.test", msg, mid)


def test_enforce_quarantine_header(h):
    configure(h, dmarc_enforce="quarantine", dmarc_quarantine="header")
    mid, msg = message("a@rej.test", "enforce quarantine by header, p=reject")
    expect_delivered(h, "p=reject failure, dmarc_enforce = quarantine, dmarc_quarantine = header",
                     "a@rej.test", msg, mid, action="quarantine", dmarc="fail",
                     ar=[r"header\.from=rej\.test"], quarantine_header=True)


# --- on_temperror -----------------------------------------------------

def test_temperror_default_accept(h):
    configure(h)
    mid, msg = message("a@slow.dead.test", "temperror, default")
    expect_delivered(h, "DMARC temperror, on_temperror = accept (default)", "a@pass.test", msg,
                     mid, dmarc="temperror")


def test_temperror_tempfail(h):
    configure(h, on_temperror="tempfail")
    control(h, "on_temperror = tempfail")
    mid, msg = message("a@slow.dead.test", "temperror, tempfail")
    expect_refused(h, "DMARC temperror, on_temperror = tempfail", "a@pass.test", msg, mid,
                   code=451, xcode="4.7.5", action="tempfail", dmarc="temperror")
    # a plain failure is not a temperror
    mid, msg = message("a@rej.test", "tempfail, p=reject")
    expect_refused(h, "p=reject failure, on_temperror = tempfail", "a@rej.test", msg, mid)


# --- dmarc_bad_from / dmarc_multiple_from -----------------------------

def test_bad_from_quarantine(h):
    configure(h, dmarc_bad_from="quarantine")
    control(h, "dmarc_bad_from = quarantine")
    mid, msg = message("Just A Name", "bad from: no address")
    expect_held(h, "From without an address, dmarc_bad_from = quarantine", "a@rej.test", msg,
                mid, dmarc="permerror")
    # a read-out domain with p=none counts as failing; dmarc_bad_from holds it
    mid, msg = message("ceo@[none.test]", "bad from: literal of a p=none domain")
    expect_held(h, "literal [none.test], dmarc_bad_from = quarantine", "a@rej.test", msg, mid,
                ar=[r"header\.from=none\.test"])
    # a read-out domain that publishes p=reject is refused even with quarantine
    mid, msg = message("ceo@[rej.test]", "bad from: literal of a p=reject domain")
    expect_refused(h, "literal [rej.test], dmarc_bad_from = quarantine", "a@rej.test", msg, mid)
    # a bad From whose lookups timed out, which would only be held, is answered 451 4.7.5
    mid, msg = message("ceo@[slow.dead.test]", "bad from: literal of a timing-out domain")
    expect_refused(h, "literal [slow.dead.test], dmarc_bad_from = quarantine", "a@pass.test", msg,
                   mid, code=451, xcode="4.7.5", action="tempfail", dmarc="temperror|fail")
    # two From fields are dmarc_multiple_from's (default reject), not this key's
    mid, msg = message(["a@none.test", "b@none.test"], "bad from: two From fields")
    expect_refused(h, "two From fields, dmarc_bad_from = quarantine", "a@none.test", msg, mid)


def test_multiple_from_quarantine(h):
    configure(h, dmarc_multiple_from="quarantine")
    control(h, "dmarc_multiple_from = quarantine")
    mid, msg = message(["a@none.test", "b@none.test"], "two From, p=none")
    expect_held(h, "two From fields of a p=none domain, dmarc_multiple_from = quarantine",
                "a@none.test", msg, mid, ar=[r"header\.from=none\.test"])
    # every domain counts as failing under its policy: pass.test says p=reject
    mid, msg = message(["a@pass.test", "b@pass.test"], "two From, p=reject domain")
    expect_refused(h, "two From fields of a p=reject domain, dmarc_multiple_from = quarantine",
                   "a@pass.test", msg, mid)
    # a bad From is still dmarc_bad_from's (default reject)
    mid, msg = message("Just A Name", "multiple quarantine, bad From")
    expect_refused(h, "From without an address, dmarc_multiple_from = quarantine", "a@rej.test",
                   msg, mid, dmarc="permerror")


def test_bad_from_quarantine_header(h):
    """dmarc_bad_from and dmarc_multiple_from quarantine as dmarc_quarantine says"""
    configure(h, dmarc_bad_from="quarantine", dmarc_multiple_from="quarantine",
              dmarc_quarantine="header")
    mid, msg = message("Just A Name", "bad from by header")
    expect_delivered(h, "From without an address, dmarc_bad_from = quarantine, "
                     "dmarc_quarantine = header", "a@rej.test", msg, mid, action="quarantine",
                     dmarc="permerror", quarantine_header=True)
    mid, msg = message(["a@none.test", "b@none.test"], "two From by header")
    expect_delivered(h, "two From fields of a p=none domain, dmarc_multiple_from = quarantine, "
                     "dmarc_quarantine = header", "a@none.test", msg, mid, action="quarantine",
                     dmarc="fail", quarantine_header=True)


def test_multiple_from_evaluate(h):
    configure(h, dmarc_multiple_from="evaluate")
    mid, msg = message(["a@pass.test", "b@sub.pass.test"], "evaluate: both pass")
    expect_delivered(h, "two From fields, both aligned, dmarc_multiple_from = evaluate",
                     "x@pass.test", msg, mid)
    mid, msg = message(["a@pass.test", "b@quar.test"], "evaluate: one p=quarantine fails")
    expect_held(h, "two From fields, quar.test fails, dmarc_multiple_from = evaluate",
                "x@pass.test", msg, mid, ar=[r"header\.from=quar\.test"])
    mid, msg = message(["a@pass.test", "b@rej.test"], "evaluate: one p=reject fails")
    expect_refused(h, "two From fields, rej.test fails, dmarc_multiple_from = evaluate",
                   "x@pass.test", msg, mid)
    # more than 16 From fields are refused whatever this key says, even if all would pass
    mid, msg = message(["a%d@pass.test" % i for i in range(17)], "evaluate: 17 From fields")
    expect_refused(h, "17 From fields of pass.test, dmarc_multiple_from = evaluate",
                   "x@pass.test", msg, mid)


# --- auth_allow -------------------------------------------------------

def test_auth_allow(h):
    configure(h, auth_allow="127.0.0.4/31, allowed.test")
    # listed client networks: 127.0.0.4 and 127.0.0.5
    for ip in ("127.0.0.4", "127.0.0.5"):
        mid, msg = message("a@rej.test", "allowed client %s, p=reject" % ip)
        expect_delivered(h, "p=reject failure from listed client %s" % ip, "a@rej.test", msg,
                         mid, ip=ip, dmarc="fail", ar=[r"header\.from=rej\.test"])
    mid, msg = message("a@quar.test", "allowed client, p=quarantine")
    expect_delivered(h, "p=quarantine failure from listed client 127.0.0.4", "a@quar.test", msg,
                     mid, ip="127.0.0.4", dmarc="fail")
    # listed From domain and its subdomain
    for frm in ("a@allowed.test", "a@sub.allowed.test", "a@allowed.test, b@sub.allowed.test",
                "a@SUB.Allowed.TEST", "a@allowed.test."):
        mid, msg = message(frm, "allowed From %s" % frm)
        expect_delivered(h, "p=reject failure, From %s listed" % frm, "a@allowed.test", msg, mid,
                         dmarc="fail", ar=[r"(?i)header\.from=(sub\.)?allowed\.test"])
    # a From DMARC cannot evaluate (dmarc_bad_from = reject) whose one domain is listed
    mid, msg = message("ceo@[allowed.test]", "listed domain as a literal")
    expect_delivered(h, "literal [allowed.test], allowed.test listed", "a@allowed.test", msg, mid,
                     dmarc="fail", ar=[r"header\.from=allowed\.test"])
    # a From DMARC cannot evaluate (dmarc_bad_from = reject) from a listed client
    mid, msg = message("Just A Name", "allowed client, bad From")
    expect_delivered(h, "From without an address from listed client 127.0.0.4", "a@rej.test",
                     msg, mid, ip="127.0.0.4", dmarc="permerror")
    control(h, "auth_allow")
    # no leak: unlisted clients, names that merely end or start with the listed text,
    # a From with one unlisted domain
    for ip in (INBOUND_IP, "127.0.0.6", "127.0.0.3"):
        mid, msg = message("a@rej.test", "unlisted client %s" % ip)
        expect_refused(h, "p=reject failure from unlisted client %s" % ip, "a@rej.test", msg,
                       mid, ip=ip)
    for frm, env in (("a@notallowed.test", "a@notallowed.test"),
                     ("a@allowed.test.rej.test", "a@rej.test"),
                     ("a@allowed.test, b@rej.test", "a@allowed.test")):
        mid, msg = message(frm, "unlisted From %s" % frm)
        expect_refused(h, "p=reject failure, From %s not (all) listed" % frm, env, msg, mid)
    # never a From with more than 8 domains, even if every one is listed
    nine = ", ".join("a@d%d.allowed.test" % i for i in range(9))
    mid, msg = message(nine, "9 listed domains")
    expect_refused(h, "From with 9 domains under allowed.test", "a@allowed.test", msg, mid)
    mid, msg = message("a@quar.test", "unlisted, p=quarantine")
    expect_held(h, "p=quarantine failure, unlisted", "a@quar.test", msg, mid)


def test_auth_allow_temperror(h):
    """auth_allow: never delayed either (on_temperror = tempfail)"""
    configure(h, on_temperror="tempfail", auth_allow="127.0.0.4/31, slow.dead.test")
    mid, msg = message("a@slow.dead.test", "temperror, listed From")
    expect_delivered(h, "DMARC temperror, From slow.dead.test listed", "a@pass.test", msg, mid,
                     dmarc="temperror")
    mid, msg = message("a@other.dead.test", "temperror, listed client")
    expect_delivered(h, "DMARC temperror from listed client 127.0.0.4", "a@pass.test", msg, mid,
                     ip="127.0.0.4", dmarc="temperror")
    mid, msg = message("a@other.dead.test", "temperror, unlisted")
    expect_refused(h, "DMARC temperror, unlisted", "a@pass.test", msg, mid, code=451,
                   xcode="4.7.5", action="tempfail", dmarc="temperror")


if __name__ == "__main__":
    with SILENT:
        main_with_harness([
            ("dmarc_enforce = quarantine", test_enforce_quarantine),
            ("dmarc_enforce = none", test_enforce_none),
            ("dmarc_quarantine = header", test_quarantine_header),
            ("dmarc_enforce = quarantine, dmarc_quarantine = header",
             test_enforce_quarantine_header),
            ("on_temperror = accept (default)", test_temperror_default_accept),
            ("on_temperror = tempfail", test_temperror_tempfail),
            ("dmarc_bad_from = quarantine", test_bad_from_quarantine),
            ("dmarc_multiple_from = quarantine", test_multiple_from_quarantine),
            ("dmarc_bad_from, dmarc_multiple_from = quarantine, dmarc_quarantine = header",
             test_bad_from_quarantine_header),
            ("dmarc_multiple_from = evaluate", test_multiple_from_evaluate),
            ("auth_allow", test_auth_allow),
            ("auth_allow with on_temperror = tempfail", test_auth_allow_temperror),
        ], name="authset", zones=ZONES, zone_data=ZONE_DATA, unbound_extra=UNBOUND_EXTRA)
