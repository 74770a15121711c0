#!/usr/bin/python3
"""test_forged_authres.py - Authentication-Results fields that claim our
authserv-id are all removed, however many; and the milter's connection
limit answered so that Postfix applies milter_default_action at once.

Through real Postfix, read back from Dovecot over IMAP:
  - outbound mail (trusted network, SASL, sendmail(1)) to local users
    with 10, 30 and 12 forged fields (some upper-case, with a comment
    before the id, folded) arrives with none of them; fields of other
    receivers stay (the milter kept only 8 of them before);
  - inbound mail with 10 forged fields arrives with exactly one field
    claiming our authserv-id: ours;
  - with milter_max_connections = 3 and three idle connections held
    open, a message gets Postfix's milter_default_action (tempfail) within
    seconds, not after milter_connect_timeout; once they close, mail
    flows again.
"""
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (HOSTNAME, INBOUND_IP, OUTBOUND_IP, check, check_eq,
                            main_with_harness, make_message, new_message_id, norm_mid,
                            header_value, wait_for)
from pmtest.smtpclient import SMTPFailure

MAX_CONNECTIONS = 3

# Ways to write our authserv-id: each must be recognised (RFC 8601: case-insensitive,
# CFWS before it, the value may be folded).
FORGED_FORMS = [
    "%s; dmarc=pass header.from=example.test" % HOSTNAME,
    "%s; dkim=pass header.d=example.test" % HOSTNAME.upper(),
    "(looks legit) %s; spf=pass smtp.mailfrom=example.test" % HOSTNAME,
    "%s;\n\tdmarc=pass (folded) header.from=example.test" % HOSTNAME,
]
OTHER = "other.example; spf=pass smtp.mailfrom=a@other.example"


def forged_message(from_addr, to, subject, n):
    """a message with n forged fields (cycling FORGED_FORMS) and one of another receiver"""
    mid = new_message_id("example.test")
    headers = [("Authentication-Results", FORGED_FORMS[i % len(FORGED_FORMS)]) for i in range(n)]
    headers.insert(n // 2, ("Authentication-Results", OTHER))
    headers += [("From", from_addr), ("To", to), ("Subject", subject)]
    return mid, make_message(headers, "forged A-R test\n", message_id=mid)


def authres_values(raw):
    """every Authentication-Results value of a delivered message, unfolded"""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    out = []
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "authentication-results":
            out.append(value.strip())
    return out


def claims_ours(value):
    """the value's authserv-id (after any comment) is ours"""
    v = re.sub(r"^\s*(\([^)]*\)\s*)*", "", value)
    return v.split(";", 1)[0].strip().lower() == HOSTNAME


def delivered(h, user, mid):
    def find():
        for m in h.imap_fetch_all(user):
            if norm_mid(header_value(m, "Message-ID")) == mid:
                return m
        return None
    return wait_for(find, 60, "delivery of <%s> to %s" % (mid, user), interval=0.3)


def check_none_left(h, user, mid, n):
    raw = delivered(h, user, mid)
    ars = authres_values(raw)
    ours = [a for a in ars if claims_ours(a)]
    check_eq(ours, [], "forged fields left of %d" % n)
    check_eq([a for a in ars if a.startswith("other.example;")], [OTHER],
             "another receiver's field kept")


def test_outbound_trusted_ten(h):
    mid, m = forged_message("alice@example.test", "bob@example.test", "ten forged", 10)
    h.send("alice@example.test", ["bob@example.test"], m, source_ip=OUTBOUND_IP)
    check_none_left(h, "bob@example.test", mid, 10)


def test_outbound_sasl_thirty(h):
    mid, m = forged_message("bob@example.test", "alice@example.test", "thirty forged", 30)
    h.send("bob@example.test", ["alice@example.test"], m, source_ip=INBOUND_IP,
           auth=("bob@example.test", h.password("bob@example.test")))
    check_none_left(h, "alice@example.test", mid, 30)


def test_outbound_sendmail_twelve(h):
    mid, m = forged_message("alice@example.test", "bob@example.test", "twelve via sendmail", 12)
    h.sendmail_local("alice@example.test", ["bob@example.test"], m)
    check_none_left(h, "bob@example.test", mid, 12)


def test_inbound_ten(h):
    mid, m = forged_message("carol@remote.test", "bob@example.test", "ten forged inbound", 10)
    h.send("carol@remote.test", ["bob@example.test"], m, source_ip=INBOUND_IP)
    raw = delivered(h, "bob@example.test", mid)
    ours = [a for a in authres_values(raw) if claims_ours(a)]
    check_eq(len(ours), 1, "fields claiming our authserv-id: only ours (%s)" % ours)
    check("dmarc=pass header.from=example.test" not in ours[0], "ours is not a forged one",
          ours[0])


def idle_connection(h):
    """a connection to the milter that negotiated and then says nothing"""
    s = socket.create_connection(("127.0.0.1", h.milter_port), timeout=10)
    s.sendall(struct.pack(">IcIII", 13, b"O", 6, 0x1ff, 0x1fffff))
    head = s.recv(5)
    check(len(head) == 5 and head[4:5] == b"O", "the milter answers the negotiation", head)
    return s


def test_connection_limit(h):
    idle = [idle_connection(h) for _ in range(MAX_CONNECTIONS)]
    mid, m = forged_message("carol@remote.test", "bob@example.test", "past the limit", 1)
    t0 = time.monotonic()
    try:
        h.send("carol@remote.test", ["bob@example.test"], m, source_ip=INBOUND_IP)
        refused = None
    except SMTPFailure as e:
        refused = e
    took = time.monotonic() - t0
    check(refused is not None, "mail past the connection limit gets milter_default_action")
    check(refused.temporary, "a temporary failure", str(refused))
    # Postfix's milter_connect_timeout in the harness is 5 s: a backlog would take that long
    check(took < 4, "refused within %.1f s, not after a connect timeout" % took)
    wait_for(lambda: "milter_max_connections" in open(h.milter_log(), errors="replace").read(),
             10, "the refusal to be logged")
    for s in idle:
        s.close()
    mid, m = forged_message("carol@remote.test", "bob@example.test", "below the limit", 1)
    wait_for(lambda: try_send(h, m), 20, "mail to be taken once the idle connections closed",
             interval=0.5)
    delivered(h, "bob@example.test", mid)


def try_send(h, m):
    try:
        h.send("carol@remote.test", ["bob@example.test"], m, source_ip=INBOUND_IP)
        return True
    except SMTPFailure:
        return False


if __name__ == "__main__":
    main_with_harness([
        ("outbound, trusted network: 10 forged fields all removed", test_outbound_trusted_ten),
        ("outbound, SASL: 30 forged fields all removed", test_outbound_sasl_thirty),
        ("outbound, sendmail(1): 12 forged fields all removed", test_outbound_sendmail_twelve),
        ("inbound: 10 forged fields, only ours left", test_inbound_ten),
        ("connection limit: milter_default_action at once, then served", test_connection_limit),
    ], name="forgedar", milter_conf={"milter_max_connections": str(MAX_CONNECTIONS)})
