#!/usr/bin/python3
"""test_track_milter.py - open tracking in postmeter-milter through real
Postfix, delivered to Dovecot and read back over IMAP.

Set-up: tracking_base_url in postmeter.conf, RSA and Ed25519 keys for
example.test (`postmeter dkim keygen`), tracking rules made with
`postmeter track add`, loaded by SIGHUP. Then:
  - a tracked sender's HTML mail (multipart/alternative, quoted-printable
    HTML) arrives with exactly one pixel whose token is in
    tracked_messages (mode milter, the ledger row's uid, both
    recipients), the HTML part decodes to the original plus the tag, the
    text part is untouched, and both DKIM signatures verify on the
    delivered copy (python3-dkim): the pixel went in before signing;
  - the same through sendmail(1) (non_smtpd_milters);
  - a recipient rule tracks mail from an untracked sender;
  - an untracked sender's mail is byte-identical apart from the headers
    Postfix and Dovecot add; no tracked_messages row;
  - "X-Postmeter-Track: no" is not tracked and the field is removed;
  - a tracked message without HTML is recorded as tracked, no-html, and
    delivered unchanged;
  - `postmeter track disable` + SIGHUP stops tracking.
"""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (OUTBOUND_IP, check, check_eq, header_value,
                            main_with_harness, make_message, new_message_id, norm_mid, wait_for)
import test_outbound_sign as sign  # keygen() and verify_all() with python3-dkim

BASE = "https://t.example.test/px"
PIXEL_RE = re.compile(rb'<img src="https://t\.example\.test/px/o/([A-Za-z0-9_-]{28})\.gif" '
                      rb'width="1" height="1" alt="" '
                      rb'style="display:block;border:0;width:1px;height:1px">')
HTML = ("<!DOCTYPE html>\n<html><head><title>News</title></head>\n<body>\n"
        "<p>Caf\u00e9 news: a line long enough that quoted-printable has to wrap it somewhere "
        "in the middle, so soft line breaks are part of the test as well.</p>\n"
        "</body>\n</html>\n")
TEXT = "Caf\u00e9 news as plain text.\n"


def qp(s):
    import quopri
    return quopri.encodestring(s.encode("utf-8")).decode("ascii")


def html_message(from_addr, to, subject, extra=()):
    mid = new_message_id("example.test")
    body = ("This is a multi-part message.\n\n--b1\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
            TEXT + "\n--b1\n"
            "Content-Type: text/html; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable\n\n" + qp(HTML) + "\n--b1--\n")
    headers = [("From", from_addr), ("To", to), ("Subject", subject), ("MIME-Version", "1.0"),
               ("Content-Type", 'multipart/alternative; boundary="b1"')] + list(extra)
    return mid, make_message(headers, body, message_id=mid)


def delivered(h, user, mid):
    return sign.delivered(h, user, mid)


def tracked_rows(h, mid):
    return h.db_query(
        "SELECT t.*, (SELECT group_concat(address, ',') FROM"
        " (SELECT address FROM tracked_recipients r WHERE r.tracked_id = t.id"
        " ORDER BY position)) AS rcpts FROM tracked_messages t"
        " JOIN messages m ON m.uid = t.message_uid WHERE m.message_id = ?", ("<%s>" % mid,))


def wait_tracked(h, mid):
    return wait_for(lambda: tracked_rows(h, mid) or None, 30, "tracked_messages row of " + mid,
                    interval=0.3)


def wait_ledger(h, mid):
    def row():
        rows = [r for r in h.ledger_rows() if norm_mid(r.get("message_id")) == mid]
        return rows[0] if rows else None
    return wait_for(row, 30, "ledger row of " + mid, interval=0.3)


def check_pixel_once(raw):
    """the one token in raw; the HTML decodes to the original plus the tag"""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {p.get_content_type(): p for p in msg.walk() if not p.is_multipart()}
    check_eq(sorted(parts), ["text/html", "text/plain"], "parts")
    check_eq(parts["text/plain"].get_content().replace("\r\n", "\n"), TEXT, "text part unchanged")
    html = parts["text/html"].get_content().encode("utf-8")
    tokens = PIXEL_RE.findall(html)
    check_eq(len(tokens), 1, "one pixel in the HTML part")
    check_eq(PIXEL_RE.sub(b"", html).replace(b"\r\n", b"\n"), HTML.encode("utf-8"),
             "HTML = original + the tag")
    check(html.replace(b"\r\n", b"\n").index(PIXEL_RE.search(html).group(0)) <
          html.replace(b"\r\n", b"\n").rindex(b"</body>"), "the tag is before </body>")
    check(all(len(line) <= 998 for line in raw.split(b"\r\n")), "no line over 998 octets")
    return tokens[0].decode()


def test_setup(h):
    sign.keygen(h, "example.test", "rsa")
    sign.keygen(h, "example.test", "ed25519")
    p = h.cli("track", "add", "news@example.test")
    check(b"rule 1: sender news@example.test (enabled)" in p.stdout, "track add", p.stdout)
    p = h.cli("track", "add", "--recipient", "bob@example.test", "--note", "bob's mail")
    check(b"rule 2: recipient bob@example.test" in p.stdout, "track add --recipient", p.stdout)
    p = h.cli("track", "add", "not an address", check=False)
    check_eq(p.returncode, 2, "a bad pattern is a usage error")
    h.reload_milter()
    wait_for(lambda: "tracking: 2 enabled rule(s)" in open(h.milter_log(),
                                                           errors="replace").read(),
             20, "the milter to load the rules")


def test_tracked_smtp(h):
    mid, m = html_message("News <news@example.test>", "carol@remote.test, dave@remote.test",
                          "tracked newsletter")
    h.send("news@example.test", ["carol@remote.test", "dave@remote.test"], m,
           source_ip=OUTBOUND_IP)
    raw = delivered(h, "carol@remote.test", mid)
    token = check_pixel_once(raw)
    check_eq(sorted(s[1] for s in sign.verify_all(raw)), ["ed25519-sha256", "rsa-sha256"],
             "both signatures verify over the body with the pixel")
    check_eq(check_pixel_once(delivered(h, "dave@remote.test", mid)), token,
             "one token per message in milter mode")
    rows = wait_tracked(h, mid)
    check_eq(len(rows), 1, "one tracked_messages row")
    r = rows[0]
    check_eq((r["token"], r["mode"], r["outcome"]), (token, "milter", "injected"), "row")
    check_eq(r["rcpts"], "carol@remote.test,dave@remote.test", "recipients")
    check_eq(r["mail_from"], "news@example.test", "mail_from")
    check(r["queue_id"], "queue id recorded")


def test_tracked_sendmail(h):
    mid, m = html_message("news@example.test", "carol@remote.test", "tracked via sendmail")
    h.sendmail_local("news@example.test", ["carol@remote.test"], m)
    raw = delivered(h, "carol@remote.test", mid)
    token = check_pixel_once(raw)
    check_eq(len(sign.verify_all(raw)), 2, "signed and verified")
    check_eq(wait_tracked(h, mid)[0]["token"], token, "token recorded")


def test_recipient_rule(h):
    mid, m = html_message("alice@example.test", "bob@example.test", "to a tracked recipient")
    h.send("alice@example.test", ["bob@example.test"], m, source_ip=OUTBOUND_IP)
    token = check_pixel_once(delivered(h, "bob@example.test", mid))
    check_eq(wait_tracked(h, mid)[0]["token"], token, "token recorded")


def strip_added_headers(raw):
    """raw without the header fields Postfix and Dovecot add on the way"""
    head, body = raw.split(b"\r\n\r\n", 1)
    fields = re.split(rb"\r\n(?![ \t])", head)
    added = (b"return-path", b"delivered-to", b"received", b"x-original-to")
    keep = [f for f in fields if f.split(b":", 1)[0].strip().lower() not in added]
    return b"\r\n".join(keep) + b"\r\n\r\n" + body


def test_untracked_identical(h):
    mid = new_message_id("remote.test")
    _, m = html_message("Carol <carol@remote.test>", "dave@remote.test", "not tracked")
    m = m.replace(re.search(rb"Message-ID: <[^>]+>", m).group(0),
                  ("Message-ID: <%s>" % mid).encode())
    h.send("carol@remote.test", ["dave@remote.test"], m, source_ip=OUTBOUND_IP)
    raw = delivered(h, "dave@remote.test", mid)
    check_eq(strip_added_headers(raw), m, "byte-identical apart from Postfix's headers")
    wait_ledger(h, mid)
    check_eq(tracked_rows(h, mid), [], "no tracked_messages row")


def test_opt_out(h):
    mid, m = html_message("news@example.test", "carol@remote.test", "opted out",
                          extra=[("X-Postmeter-Track", "no")])
    h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    raw = delivered(h, "carol@remote.test", mid)
    check(PIXEL_RE.search(raw) is None and b"/o/" not in raw, "no pixel")
    check_eq(header_value(raw, "X-Postmeter-Track"), None, "the opt-out field is removed")
    check_eq(len(sign.verify_all(raw)), 2, "still signed")
    wait_ledger(h, mid)
    check_eq(tracked_rows(h, mid), [], "not tracked")


def test_no_html(h):
    mid = new_message_id("example.test")
    m = make_message([("From", "news@example.test"), ("To", "carol@remote.test"),
                      ("Subject", "plain only")], "Just text.\n", message_id=mid)
    h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    raw = delivered(h, "carol@remote.test", mid)
    check(raw.endswith(b"\r\n\r\nJust text.\r\n"), "body unchanged")
    r = wait_tracked(h, mid)[0]
    check_eq(r["outcome"], "no-html", "tracked without a pixel")


def test_disable(h):
    h.cli("track", "disable", "1")
    h.reload_milter()
    wait_for(lambda: "tracking: 1 enabled rule(s)" in open(h.milter_log(),
                                                           errors="replace").read(),
             20, "the milter to reload the rules")
    mid, m = html_message("news@example.test", "carol@remote.test", "rule disabled")
    h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    raw = delivered(h, "carol@remote.test", mid)
    check(PIXEL_RE.search(raw) is None, "no pixel once the rule is disabled")
    wait_ledger(h, mid)
    check_eq(tracked_rows(h, mid), [], "not tracked")


if __name__ == "__main__":
    main_with_harness([
        ("keys, rules, SIGHUP", test_setup),
        ("tracked over SMTP: one pixel, signatures verify, recorded", test_tracked_smtp),
        ("tracked via sendmail(1)", test_tracked_sendmail),
        ("recipient rule", test_recipient_rule),
        ("untracked: byte-identical", test_untracked_identical),
        ("X-Postmeter-Track: no", test_opt_out),
        ("no HTML: tracked without a pixel", test_no_html),
        ("disabled rule", test_disable),
    ], name="track", milter_conf={"tracking_base_url": BASE})
