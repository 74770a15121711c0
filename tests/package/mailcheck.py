#!/usr/bin/python3
"""mailcheck.py - the mail side of test_install_mail.sh, run in its chroot
with Debian 12's python3-dkim and python3-dnslib (never postmeter's code).

    mailcheck.py get MBOX SUBJECT          the raw message of MBOX whose Subject
                                           is SUBJECT (exit 1 if none yet)
    mailcheck.py header FILE NAME          each NAME field of the message in FILE,
                                           unfolded, one a line
    mailcheck.py sign KEY SELECTOR DOMAIN  the message on stdin with a DKIM
                                           signature (relaxed/relaxed, rsa-sha256)
                                           by the PEM key KEY
    mailcheck.py verify PORT FILE [tamper] python3-dkim's verdict on the first
                                           DKIM signature of FILE, keys looked up
                                           on 127.0.0.1:PORT (zone_server.py);
                                           "tamper" changes a body line first.
                                           Prints dkim=pass|fail d= s=; exit 0
                                           on pass, 1 on fail
"""
import mailbox
import sys

import dkim
from dnslib import QTYPE, DNSRecord


def get(mbox, subject):
    """get - the raw bytes of the message with this Subject"""
    box = mailbox.mbox(mbox, create=False)
    for key in box.keys():
        raw = box.get_bytes(key)
        if header_values(raw, b"subject") == [subject.encode()]:
            sys.stdout.buffer.write(raw)
            return 0
    return 1


def header_values(raw, name):
    """header_values - each field NAME of the header block, unfolded"""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    fields = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()
        else:
            fields.append(line)
    out = []
    for f in fields:
        n, sep, v = f.partition(b":")
        if sep and n.strip().lower() == name:
            out.append(b" ".join(v.split()))
    return out


def dnsfunc_for(port):
    """dnsfunc_for - a python3-dkim DNS function asking 127.0.0.1:port over TCP"""

    def dnsfunc(name, timeout=5):
        q = DNSRecord.question(name.decode().rstrip("."), "TXT")
        a = DNSRecord.parse(q.send("127.0.0.1", port, tcp=True, timeout=timeout))
        return b"".join(b"".join(rr.rdata.data) for rr in a.rr if rr.rtype == QTYPE.TXT)

    return dnsfunc


def main(argv):
    """main - one subcommand"""
    if argv[1] == "get":
        return get(argv[2], argv[3])
    if argv[1] == "header":
        with open(argv[2], "rb") as f:
            for v in header_values(f.read(), argv[3].lower().encode()):
                print(v.decode("utf-8", "replace"))
        return 0
    if argv[1] == "sign":
        with open(argv[2], "rb") as f:
            key = f.read()
        msg = sys.stdin.buffer.read()
        sig = dkim.sign(msg, argv[3].encode(), argv[4].encode(), key,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        sys.stdout.buffer.write(sig + msg)
        return 0
    if argv[1] == "verify":
        with open(argv[3], "rb") as f:
            msg = f.read()
        if len(argv) > 4 and argv[4] == "tamper":
            msg = msg.replace(b"\nhello", b"\nHELLO", 1)
        why = ""
        try:
            ok = dkim.DKIM(msg).verify(dnsfunc=dnsfunc_for(int(argv[2])))
        except dkim.DKIMException as e:
            ok, why = False, " (%s)" % e
        sigs = header_values(msg, b"dkim-signature")
        tags = dict(t.strip().split(b"=", 1) for t in sigs[0].split(b";") if b"=" in t) if sigs else {}
        print("dkim=%s d=%s s=%s%s" % ("pass" if ok else "fail", tags.get(b"d", b"").decode(),
                                       tags.get(b"s", b"").decode(), why))
        return 0 if ok else 1
    print("mailcheck.py: unknown command", argv[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
