#!/usr/bin/python3
"""test_dkim_partial_body.py - a DKIM pass over part of the body does not
make DMARC pass (RFC 6376 8.2; dkim_partial_body = ignore, the default).

Inbound mail through real Postfix and postmeter-milter, From a domain
whose SPF fails (so only DKIM can align) and whose DMARC policy is
p=none (so every message is delivered and read back over IMAP):

  - signed by python3-dkim without l=: dkim=pass, dmarc=pass (control);
  - signed with l= and text appended after signing - the attack of RFC
    6376 8.2: dkim=pass with "l=N partial body; ignored for DMARC" in its
    comment, and dmarc=fail;
  - signed with l= equal to the body, nothing appended: dkim=pass
    ("l=N"), dmarc=pass.
"""
import os
import re
import sys

import dkim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (HOSTNAME, INBOUND_IP, check, check_eq, header_value,  # noqa: E402
                            main_with_harness, make_message, new_message_id, norm_mid, wait_for)
from pmtest.unbound import key_record, txt  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "dkim")
RCPT = "alice@example.test"

ZONES = [("partial.test", "static")]
ZONE_DATA = [
    txt("partial.test", "v=spf1 -all"),
    txt("_dmarc.partial.test", "v=DMARC1; p=none"),
    txt("rsa2048._domainkey.partial.test", key_record("rsa2048._domainkey.example.test")),
]


def signed(msg, length):
    """msg with a python3-dkim DKIM-Signature (l= when length) prepended"""
    with open(os.path.join(DATA, "keys", "rsa2048.key"), "rb") as f:
        key = f.read()
    sig = dkim.sign(msg, b"rsa2048", b"partial.test", key, length=length,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + msg


def authres(h, mid):
    """our Authentication-Results value of the delivered <mid>, unfolded"""
    def find():
        for m in h.imap_fetch_all(RCPT):
            if norm_mid(header_value(m, "Message-ID")) == mid:
                return m
        return None
    raw = wait_for(find, 60, "delivery of <%s>" % mid, interval=0.3)
    head = re.sub(r"\r\n[ \t]+", " ", raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace"))
    ours = [line.partition(":")[2].strip() for line in head.split("\r\n")
            if line.lower().startswith("authentication-results:") and
            line.partition(":")[2].strip().split(";", 1)[0].strip().lower() == HOSTNAME]
    check_eq(len(ours), 1, "Authentication-Results fields with our authserv-id")
    return ours[0] if ours else ""


def send(h, subject, length, appended):
    mid = new_message_id()
    msg = make_message([("From", "Shop <news@partial.test>"), ("To", RCPT),
                        ("Subject", subject)], "the signed text\n", message_id=mid)
    msg = signed(msg, length) + appended
    h.send("news@partial.test", [RCPT], msg, source_ip=INBOUND_IP)
    return authres(h, mid)


def test_partial_body(h):
    ar = send(h, "whole body", False, b"")
    check(re.search(r"dkim=pass \(2048-bit key\) header\.d=partial\.test", ar), "control: dkim=pass",
          ar)
    check(re.search(r"dmarc=pass\b", ar), "control: dmarc=pass", ar)

    ar = send(h, "appended", True, b"Appended after signing: http://evil.example/\r\n")
    check(re.search(r"dkim=pass \(2048-bit key; l=\d+ partial body; ignored for DMARC\) "
                    r"header\.d=partial\.test", ar), "appended: dkim=pass, partial body, ignored", ar)
    check(re.search(r"dmarc=fail\b", ar), "appended: dmarc=fail", ar)

    ar = send(h, "l= equal", True, b"")
    check(re.search(r"dkim=pass \(2048-bit key; l=\d+\) header\.d=partial\.test", ar),
          "l= equal: dkim=pass", ar)
    check(re.search(r"dmarc=pass\b", ar), "l= equal: dmarc=pass", ar)


if __name__ == "__main__":
    main_with_harness([("l= and DMARC", test_partial_body)], name="partial", zones=ZONES,
                      zone_data=ZONE_DATA)
