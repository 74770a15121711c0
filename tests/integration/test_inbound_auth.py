#!/usr/bin/python3
"""test_inbound_auth.py - SPF, DKIM and DMARC through real Postfix.

Inbound mail (from 127.0.0.2, not trusted) goes through Postfix with
postmeter-milter; the delivered copy is read back over IMAP and must
carry ONE Authentication-Results header with our authserv-id saying:

  SPF   pass / fail / softfail / none / permerror / temperror (a zone
        whose name server never answers);
  DKIM  RSA-2048 and Ed25519 signatures made by python3-dkim pass, a
        tampered body fails, a missing key is permerror, a revoked key
        fails, two signatures with one bad are reported each;
  DMARC aligned pass, relaxed alignment passes where strict fails,
        sp= for a subdomain, p=reject -> the SMTP client sees 550 5.7.1,
        p=quarantine -> the message waits in Postfix's hold queue;
  and an Authentication-Results field forged with our authserv-id is
  removed while another receiver's is kept. The ledger holds each
  result and the action.
  From fields a reader could take for victim.test (p=reject) while DMARC
  cannot evaluate them - encoded-words, a literal, a no-break space, an
  obsolete route, 9 domains, 17 (or 2) From fields - are refused with
  550 5.7.1, and the reason is in the ledger and in postmeter auth's
  header; display names and comments that look like addresses are not
  identities (normal DMARC for attacker.test: delivered).
"""
import os
import re
import sys
import time

import dkim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (HOSTNAME, INBOUND_IP, SMTPFailure, check, check_eq,
                            main_with_harness, make_message, new_message_id, norm_mid,
                            header_value, wait_for)
from pmtest.unbound import SilentUDP, free_port, key_record, txt

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dkim")
RCPT = "alice@example.test"
SILENT = SilentUDP(free_port())


ZONES = [(z, "static") for z in ("spf.test", "dkim.test", "dmarc.test", "strict.test",
                                 "subpol.test", "quar.test", "victim.test", "attacker.test")] + \
    [("dead.test", "transparent")]
ZONE_DATA = [
    txt("pass.spf.test", "v=spf1 ip4:127.0.0.2 -all"),
    txt("fail.spf.test", "v=spf1 -all"),
    txt("soft.spf.test", "v=spf1 ~all"),
    "none.spf.test. 300 IN A 192.0.2.1",
    txt("perm.spf.test", "v=spf1 frobnicate -all"),
    txt("dkim.test", "v=spf1 -all"),
    txt("_dmarc.dkim.test", "v=DMARC1; p=none"),
    txt("rsa2048._domainkey.dkim.test", key_record("rsa2048._domainkey.example.test")),
    txt("ed25519._domainkey.dkim.test", key_record("ed25519._domainkey.example.test")),
    txt("revoked._domainkey.dkim.test", "v=DKIM1; k=rsa; p="),
    txt("dmarc.test", "v=spf1 ip4:127.0.0.2 -all"),
    txt("_dmarc.dmarc.test", "v=DMARC1; p=reject"),
    "news.dmarc.test. 300 IN A 192.0.2.1",
    txt("strict.test", "v=spf1 ip4:127.0.0.2 -all"),
    txt("_dmarc.strict.test", "v=DMARC1; p=reject; aspf=s; adkim=s"),
    "news.strict.test. 300 IN A 192.0.2.1",
    txt("subpol.test", "v=spf1 -all"),
    txt("_dmarc.subpol.test", "v=DMARC1; p=none; sp=reject"),
    "x.subpol.test. 300 IN A 192.0.2.1",
    txt("quar.test", "v=spf1 -all"),
    txt("_dmarc.quar.test", "v=DMARC1; p=quarantine"),
    txt("victim.test", "v=spf1 -all"),
    txt("_dmarc.victim.test", "v=DMARC1; p=reject"),
    txt("attacker.test", "v=spf1 ip4:127.0.0.2 -all"),
    txt("_dmarc.attacker.test", "v=DMARC1; p=none"),
]
UNBOUND_EXTRA = ["forward-zone:", '    name: "dead.test."', "    forward-addr: %s" % SILENT.server]


def key(name):
    with open(os.path.join(DATA, "keys", name + ".key"), "rb") as f:
        return f.read().strip()


def signed(msg, selector, keyname, alg=b"rsa-sha256", domain=b"dkim.test"):
    """msg with a DKIM-Signature from python3-dkim prepended"""
    sig = dkim.sign(msg, selector, domain, key(keyname), signature_algorithm=alg,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg


def message(from_addr, subject, extra=(), body="inbound auth test\n"):
    mid = new_message_id()
    headers = list(extra) + [("From", from_addr), ("To", RCPT), ("Subject", subject)]
    return mid, make_message(headers, body, message_id=mid)


def delivered(h, mid, timeout=60):
    """the delivered copy of <mid> in RCPT's mailbox"""
    def find():
        for m in h.imap_fetch_all(RCPT):
            if norm_mid(header_value(m, "Message-ID")) == mid:
                return m
        return None
    return wait_for(find, timeout, "delivery of <%s>" % mid, interval=0.3)


def our_authres(raw):
    """every Authentication-Results value claiming our authserv-id, unfolded"""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    out = []
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "authentication-results":
            v = value.strip()
            if v.split(";", 1)[0].strip().lower() == HOSTNAME:
                out.append(v)
    return out


def one_authres(raw):
    ars = our_authres(raw)
    check_eq(len(ars), 1, "Authentication-Results fields with our authserv-id")
    return ars[0]


def expect(ar, *patterns):
    for p in patterns:
        check(re.search(p, ar), "header has /%s/" % p, ar)


def send_in(h, mail_from, msg):
    return h.send(mail_from, [RCPT], msg, source_ip=INBOUND_IP)


def ledger_auth(h, mid, method):
    """the ledger's results of one method for <mid> (waits for the row)"""
    def row():
        for r in h.ledger_rows():
            if norm_mid(r.get("message_id")) == mid:
                return r
        return None
    r = wait_for(row, 30, "ledger row of <%s>" % mid)
    return r, [a for a in r.get("auth", []) if a.startswith(method + "=")]


# --- SPF --------------------------------------------------------------

SPF_CASES = [
    ("x@pass.spf.test", "pass"),
    ("x@fail.spf.test", "fail"),
    ("x@soft.spf.test", "softfail"),
    ("x@none.spf.test", "none"),
    ("x@perm.spf.test", "permerror"),
    ("x@slow.dead.test", "temperror"),
]


def test_spf(h):
    for sender, want in SPF_CASES:
        mid, msg = message("Sender <%s>" % sender, "spf %s" % want)
        send_in(h, sender, msg)
        ar = one_authres(delivered(h, mid))
        expect(ar, r"spf=%s\b" % want, r"smtp\.mailfrom=%s" % re.escape(sender))
        _, spf = ledger_auth(h, mid, "spf")
        check_eq(len(spf), 1, "ledger spf rows for %s" % sender)
        check(spf[0].startswith("spf=%s identity=" % want), "ledger spf %s" % want, spf)


# --- DKIM -------------------------------------------------------------

def test_dkim(h):
    cases = []
    mid, msg = message("A <a@dkim.test>", "dkim rsa")
    cases.append((mid, signed(msg, b"rsa2048", "rsa2048"),
                  [r"dkim=pass \(2048-bit key\) header\.d=dkim\.test (header\.i=\S+ )?header\.s=rsa2048"
                   r" header\.a=rsa-sha256 header\.b=\S{8,}", r"dmarc=pass"]))
    mid, msg = message("A <a@dkim.test>", "dkim ed25519")
    cases.append((mid, signed(msg, b"ed25519", "ed25519", alg=b"ed25519-sha256"),
                  [r"dkim=pass \(256-bit key\) header\.d=dkim\.test (header\.i=\S+ )?header\.s=ed25519"
                   r" header\.a=ed25519-sha256", r"dmarc=pass"]))
    mid, msg = message("A <a@dkim.test>", "dkim tampered")
    s = signed(msg, b"rsa2048", "rsa2048").replace(b"inbound auth test", b"inbound auth TEST")
    cases.append((mid, s, [r"dkim=fail \([^)]*body hash", r"dmarc=fail"]))
    mid, msg = message("A <a@dkim.test>", "dkim no key")
    cases.append((mid, signed(msg, b"nokey", "rsa2048"),
                  [r"dkim=permerror \([^)]*no key[^)]*\) header\.d=dkim\.test (header\.i=\S+ )?header\.s=nokey"]))
    mid, msg = message("A <a@dkim.test>", "dkim revoked")
    cases.append((mid, signed(msg, b"revoked", "rsa2048"),
                  [r"dkim=fail \([^)]*revoked[^)]*\) header\.d=dkim\.test (header\.i=\S+ )?header\.s=revoked"]))
    mid, msg = message("A <a@dkim.test>", "dkim two signatures")
    two = signed(signed(msg, b"rsa2048", "other2048"), b"ed25519", "ed25519",
                 alg=b"ed25519-sha256")
    cases.append((mid, two, [r"dkim=pass [^;]*header\.s=ed25519",
                             r"dkim=fail \([^)]*bad signature[^)]*\) [^;]*header\.s=rsa2048",
                             r"dmarc=pass"]))
    for mid, msg, pats in cases:
        send_in(h, "a@dkim.test", msg)
        expect(one_authres(delivered(h, mid)), r"spf=fail", *pats)
    # The ledger: one row per signature, in header order.
    _, dk = ledger_auth(h, cases[-1][0], "dkim")
    check_eq([d.split()[0] for d in dk], ["dkim=pass", "dkim=fail"], "ledger dkim results")
    check("selector=ed25519" in dk[0] and "algorithm=ed25519-sha256" in dk[0],
          "ledger dkim selector and algorithm", dk)


# --- DMARC ------------------------------------------------------------

def test_dmarc_pass_aligned(h):
    mid, msg = message("a@dmarc.test", "dmarc aligned")
    send_in(h, "bounce@dmarc.test", msg)
    expect(one_authres(delivered(h, mid)), r"spf=pass", r"dmarc=pass \(p=reject\)",
           r"header\.from=dmarc\.test")


def test_dmarc_relaxed_vs_strict(h):
    mid, msg = message("a@news.dmarc.test", "dmarc relaxed")
    send_in(h, "bounce@dmarc.test", msg)
    expect(one_authres(delivered(h, mid)), r"dmarc=pass", r"header\.from=news\.dmarc\.test")
    mid, msg = message("a@news.strict.test", "dmarc strict")
    try:
        r = send_in(h, "bounce@strict.test", msg)
    except SMTPFailure as e:
        check_eq(e.code, 550, "strict alignment failure is refused")
        check("5.7.1" in e.resp and "news.strict.test" in e.resp, "550 text", e.resp)
    else:
        raise AssertionError("strict alignment failure accepted: %r" % r)


def test_dmarc_reject(h):
    mid, msg = message("a@dmarc.test", "dmarc reject")
    try:
        r = send_in(h, "x@fail.spf.test", msg)
    except SMTPFailure as e:
        check_eq((e.stage, e.code), ("DATA", 550), "p=reject answer")
        check("5.7.1" in e.resp, "enhanced status 5.7.1", e.resp)
    else:
        raise AssertionError("p=reject failure accepted: %r" % r)
    r = wait_for(lambda: [x for x in h.ledger_rows() if norm_mid(x.get("message_id")) == mid],
                 30, "ledger row of the refused message")[0]
    check_eq(r.get("action"), "reject", "ledger action")
    check_eq(r.get("dmarc"), "fail", "ledger dmarc")
    check(any(a.startswith("dmarc=fail") and "policy=reject" in a and "disposition=reject" in a
              for a in r.get("auth", [])), "ledger dmarc policy", r.get("auth"))


def test_dmarc_subdomain_policy(h):
    mid, msg = message("a@x.subpol.test", "dmarc sp=reject")
    try:
        send_in(h, "a@x.subpol.test", msg)
        raise AssertionError("sp=reject failure accepted")
    except SMTPFailure as e:
        check_eq(e.code, 550, "sp=reject for the subdomain")
    mid, msg = message("a@subpol.test", "dmarc p=none")
    send_in(h, "a@subpol.test", msg)
    expect(one_authres(delivered(h, mid)), r"dmarc=fail \(p=none dis=none\)",
           r"policy\.dmarc=none")


def test_dmarc_quarantine_hold(h):
    mid, msg = message("a@quar.test", "dmarc quarantine")
    r = send_in(h, "a@quar.test", msg)
    check(r.queue_id, "queue id", r)

    def held():
        return [e for e in h.postfix_queue() if e.get("queue_id") == r.queue_id and
                e.get("queue_name") == "hold"]
    wait_for(held, 30, "message %s in the hold queue" % r.queue_id)
    row, dm = ledger_auth(h, mid, "dmarc")
    check_eq(row.get("action"), "quarantine", "ledger action")
    check(dm and "disposition=quarantine" in dm[0], "ledger disposition", dm)
    time.sleep(1)
    check(all(norm_mid(header_value(m, "Message-ID")) != mid for m in h.imap_fetch_all(RCPT)),
          "held message not delivered")


def test_forged_authres_removed(h):
    extra = [("Authentication-Results", "%s; dkim=pass header.d=dmarc.test" % HOSTNAME),
             ("Authentication-Results", "other.example; spf=pass smtp.mailfrom=a@b.example"),
             ("Authentication-Results", " (sneaky) %s; dmarc=pass" % HOSTNAME.upper())]
    mid, msg = message("a@pass.spf.test", "forged A-R", extra=extra)
    send_in(h, "x@pass.spf.test", msg)
    raw = delivered(h, mid)
    ar = one_authres(raw)
    expect(ar, r"spf=pass", r"dkim=none")
    check("dkim=pass header.d=dmarc.test" not in raw.decode("utf-8", "replace"),
          "forged field gone")
    check(b"other.example; spf=pass" in raw, "another receiver's field kept")
    first = raw.split(b"\r\n")[0:8]
    check(any(l.lower().startswith(b"authentication-results: " + HOSTNAME.encode())
              for l in first), "ours is near the top", first)


def test_cli_auth_matches_milter(h):
    """postmeter auth prints the header the milter added, then the action"""
    mid, msg = message("A <a@dkim.test>", "cli auth")
    msg = signed(msg, b"ed25519", "ed25519", alg=b"ed25519-sha256")
    send_in(h, "a@dkim.test", msg)
    milter_ar = one_authres(delivered(h, mid))
    p = h.cli("auth", "--ip", INBOUND_IP, "--helo", "client.remote.test", "--mail-from",
              "a@dkim.test", input=msg)
    out = p.stdout.decode()
    check(out.startswith("Authentication-Results: "), "first line", out)
    head, _, rest = out.partition("\naction: ")
    cli_ar = re.sub(r"\n[ \t]+", " ", head)[len("Authentication-Results: "):]
    check_eq(cli_ar, milter_ar, "CLI header = milter header")
    check(rest.startswith("accept"), "action line", out)
    mid, msg = message("a@dmarc.test", "cli reject")
    p = h.cli("auth", "--ip", INBOUND_IP, "--mail-from", "x@fail.spf.test", input=msg)
    check("\naction: reject 550 5.7.1 " in p.stdout.decode(), "CLI says reject",
          p.stdout.decode())


# (name, From field values, action, dmarc result, reason in the 550 / header / ledger)
FROM_SHAPES = [
    ("9 mailboxes of 9 domains",
     [", ".join(["ceo@victim.test"] + ["x@d%d.attacker.test" % i for i in range(8)])],
     "reject", "fail", "more than 8 From domains"),
    ("17 From fields", ["x@attacker.test"] * 16 + ["ceo@victim.test"],
     "reject", "fail", "several From fields"),
    ("2 From fields", ["x@attacker.test", "x@attacker.test"],
     "reject", "fail", "several From fields"),
    ("encoded-word as the address", ["=?utf-8?b?Y2VvQHZpY3RpbS50ZXN0?="],
     "reject", "fail", "encoded-word in a From address"),
    ("encoded-word in angle brackets", ["CEO <=?utf-8?q?ceo=40victim.test?=>"],
     "reject", "fail", "encoded-word in a From address"),
    ("encoded-word local-part", ["=?utf-8?q?ceo=40victim.test?=@attacker.test"],
     "reject", "fail", "encoded-word in a From address"),
    ("domain literal", ["ceo@[victim.test]"],
     "reject", "fail", "From domain is a literal or invalid"),
    ("no-break space after the address", [b"ceo@victim.test\xc2\xa0"],
     "reject", "fail", "malformed From field"),
    ("obsolete route", ["<@attacker.test:ceo@victim.test>"],
     "reject", "fail", "malformed From field"),
    ("quoted local-part naming the victim", ['"x <ceo@victim.test>"@attacker.test'],
     "reject", "fail", "'@' inside a From local-part"),
    ("quoted local-part, DEL after its '@'", [b'"ceo@\x7fvictim.test"@attacker.test'],
     "reject", "fail", "'@' inside a From local-part"),
    ("comment with an '@' inside the address", ["ceo(ceo@victim.test)@attacker.test"],
     "reject", "fail", "malformed From field"),
    # display names and comments are not identities: normal DMARC for attacker.test
    ("address-like display name", ['"ceo@victim.test" <x@attacker.test>'],
     "accept", "pass", None),
    ("address in a comment", ["(ceo@victim.test) x@attacker.test"],
     "accept", "pass", None),
]


def test_from_shapes(h):
    """every From shape gets its required action, in SMTP, the ledger and postmeter auth"""
    for name, froms, action, result, reason in FROM_SHAPES:
        mid = new_message_id()
        msg = make_message([("From", f) for f in froms] +
                           [("To", RCPT), ("Subject", "from shape: %s" % name)],
                           "from shape\n", message_id=mid)
        p = h.cli("auth", "--ip", INBOUND_IP, "--helo", "client.remote.test", "--mail-from",
                  "x@attacker.test", input=msg)
        out = re.sub(r"\n[ \t]+", " ", p.stdout.decode("utf-8", "replace"))
        check(re.search(r"\bdmarc=%s\b" % result, out), "%s: postmeter auth dmarc=%s"
              % (name, result), out)
        if action == "accept":
            check("\naction: accept" in out, "%s: postmeter auth accepts" % name, out)
            send_in(h, "x@attacker.test", msg)
            expect(one_authres(delivered(h, mid)), r"dmarc=pass", r"header\.from=attacker\.test")
            continue
        check("\naction: reject 550 5.7.1 " in out and reason in out.split("\naction: ", 1)[1],
              "%s: postmeter auth says reject, %r" % (name, reason), out)
        if reason.startswith("DMARC policy"):
            expect(out, r"header\.from=victim\.test", r"policy\.dmarc=reject")
        else:
            check(reason in out.split("\naction: ", 1)[0], "%s: header names %r" % (name, reason),
                  out)
        try:
            r = send_in(h, "x@attacker.test", msg)
            raise AssertionError("%s: accepted (%r), want 550 5.7.1" % (name, r))
        except SMTPFailure as e:
            check_eq((e.stage, e.code), ("DATA", 550), "%s: refused at end of DATA" % name)
            check("5.7.1" in e.resp and reason in e.resp, "%s: 550 text" % name, e.resp)
        row, dm = ledger_auth(h, mid, "dmarc")
        check_eq(row.get("action"), "reject", "%s: ledger action" % name)
        check(len(dm) == 1 and dm[0].startswith("dmarc=%s" % result) and
              (reason in dm[0] or reason.startswith("DMARC policy")),
              "%s: ledger dmarc row" % name, dm)


def test_report_auth(h):
    """postmeter report auth counts what the cases above sent for dmarc.test"""
    import json
    rows = json.loads(h.cli("report", "auth", "--domain", "dmarc.test", "--format",
                            "json").stdout)
    got = {r["domain"]: r for r in rows}
    check_eq(sorted(got), ["dmarc.test", "news.dmarc.test"], "domains")
    d = got["dmarc.test"]
    check_eq((d["messages"], d["dmarc_pass"], d["dmarc_fail"], d["rejected"], d["spf_pass"],
              d["spf_fail"]), (2, 1, 1, 1, 1, 1), "dmarc.test counts")
    check_eq((got["news.dmarc.test"]["messages"], got["news.dmarc.test"]["dmarc_pass"]), (1, 1),
             "news.dmarc.test counts")
    table = h.cli("report", "auth").stdout.decode()
    check(table.splitlines()[0].split()[:3] == ["domain", "messages", "spf_pass"], "table header",
          table)


if __name__ == "__main__":
    with SILENT:
        main_with_harness([
            ("SPF results", test_spf),
            ("DKIM results", test_dkim),
            ("DMARC aligned pass", test_dmarc_pass_aligned),
            ("DMARC relaxed passes, strict refused", test_dmarc_relaxed_vs_strict),
            ("DMARC p=reject -> 550 at end of DATA", test_dmarc_reject),
            ("DMARC sp= for a subdomain", test_dmarc_subdomain_policy),
            ("DMARC p=quarantine -> Postfix hold queue", test_dmarc_quarantine_hold),
            ("forged Authentication-Results removed", test_forged_authres_removed),
            ("From shapes: refused or judged as a reader sees them", test_from_shapes),
            ("postmeter auth prints what the milter adds", test_cli_auth_matches_milter),
            ("postmeter report auth", test_report_auth),
        ], name="inbound", zones=ZONES, zone_data=ZONE_DATA, unbound_extra=UNBOUND_EXTRA,
            log_subject=True)
