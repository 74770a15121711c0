#!/usr/bin/python3
"""test_outbound_sign.py - DKIM signing of outbound mail through real Postfix.

Keys are made with `postmeter dkim keygen` (RSA and Ed25519 for
example.test) into the harness' database; a SIGHUP makes the milter load
them. Then, read back from Dovecot over IMAP:
  - mail from the trusted network, SASL-authenticated mail and a
    sendmail(1) submission (non_smtpd_milters) carry two DKIM-Signature
    fields (RSA and Ed25519) that python3-dkim verifies on the delivered
    copy, with the public keys derived from the key files by openssl;
  - mail relayed from outside with the same From domain is not signed;
  - a domain whose key file is gone: the mail is delivered unsigned and
    the problem is logged (on_sign_error = accept);
  - the ledger records which selectors signed each message.
"""
import base64
import os
import re
import subprocess
import sys

import dkim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, OUTBOUND_IP, check, check_eq, main_with_harness,
                            make_message, new_message_id, norm_mid, header_value, wait_for)

KEYS = {}  # selector -> (domain, TXT value derived independently)


def conf_with_keydir(h):
    """the harness' postmeter.conf plus dkim_key_dir (keygen writes there)"""
    keydir = h.path("keys")
    os.makedirs(keydir, exist_ok=True)
    os.chmod(keydir, 0o755)
    conf = h.path("postmeter-keys.conf")
    with open(h.milter_conf_path) as f, open(conf, "w") as out:
        out.write(f.read() + "dkim_key_dir = %s\n" % keydir)
    return conf, keydir


def public_txt(path):
    """k= and p= of a private key file, by openssl (not by postmeter)"""
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"],
                          capture_output=True, text=True).stdout
    if "ED25519" in text.upper():
        return "v=DKIM1; k=ed25519; p=" + base64.b64encode(der[-32:]).decode()
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def keygen(h, domain, algorithm):
    conf, keydir = conf_with_keydir(h)
    p = subprocess.run([h.cli_bin, "-c", conf, "dkim", "keygen", domain, "--algorithm",
                        algorithm], capture_output=True, text=True, timeout=60)
    check_eq(p.returncode, 0, "keygen %s %s: %s" % (domain, algorithm, p.stderr))
    check("PRIVATE KEY" not in p.stdout + p.stderr, "keygen never prints the key")
    files = [f for f in os.listdir(keydir) if f.startswith(domain + ".")]
    sel = re.search(r"(\S+)\._domainkey\.", p.stdout).group(1)
    path = os.path.join(keydir, "%s.%s.key" % (domain, sel))
    check(os.path.exists(path), "key file %s (have %s)" % (path, files))
    check_eq(oct(os.stat(path).st_mode & 0o777), oct(0o640), "key file mode")
    KEYS[sel] = (domain, public_txt(path))
    return sel, path


def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    for sel, (domain, txt) in KEYS.items():
        if n.rstrip(".") == "%s._domainkey.%s" % (sel, domain):
            return txt.encode()
    return None


def signatures(raw):
    """(selector, algorithm) of every DKIM-Signature, top first"""
    head = re.sub(rb"\r\n[ \t]+", b" ", raw.split(b"\r\n\r\n", 1)[0])
    out = []
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"dkim-signature:"):
            tags = dict(t.strip().split(b"=", 1) for t in line.split(b":", 1)[1].split(b";")
                        if b"=" in t)
            out.append((tags[b"s"].decode(), tags[b"a"].decode(), tags[b"h"].decode()))
    return out


def verify_all(raw):
    sigs = signatures(raw)
    d = dkim.DKIM(raw)
    for i in range(len(sigs)):
        check(d.verify(idx=i, dnsfunc=dnsfunc), "python3-dkim verifies signature %d %s" %
              (i, sigs[i][:2]))
    return sigs


def delivered(h, user, mid):
    def find():
        for m in h.imap_fetch_all(user):
            if norm_mid(header_value(m, "Message-ID")) == mid:
                return m
        return None
    return wait_for(find, 60, "delivery of <%s> to %s" % (mid, user), interval=0.3)


def msg(from_addr, to, subject):
    mid = new_message_id("example.test")
    return mid, make_message([("From", from_addr), ("To", to), ("Cc", "bob@example.test"),
                              ("Subject", subject), ("MIME-Version", "1.0"),
                              ("Content-Type", "text/plain; charset=utf-8")],
                             "Hello,\n\nsigned  by   postmeter.\n", message_id=mid)


def test_keys_loaded(h):
    rsa, _ = keygen(h, "example.test", "rsa")
    ed, _ = keygen(h, "example.test", "ed25519")
    check(rsa != ed, "two selectors")
    h.reload_milter()
    wait_for(lambda: "2 signing key(s) loaded" in open(h.milter_log(), errors="replace").read(),
             20, "the milter to load the keys")


def check_signed(h, mid, user="carol@remote.test"):
    raw = delivered(h, user, mid)
    sigs = verify_all(raw)
    check_eq(sorted(s[1] for s in sigs), ["ed25519-sha256", "rsa-sha256"], "two signatures")
    for s, a, hdrs in sigs:
        names = [x.strip().lower() for x in hdrs.split(":")]
        check(names.count("from") >= 2, "From oversigned in h=", hdrs)
        for want in ("to", "cc", "subject", "date", "message-id", "mime-version",
                     "content-type"):
            check(want in names, "%s signed" % want, hdrs)
    return raw


def test_trusted_network_signed(h):
    mid, m = msg("Alice <alice@example.test>", "carol@remote.test", "signed from trusted")
    h.send("alice@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    check_signed(h, mid)
    # the ledger's writer commits on its own schedule: delivered first is possible
    rows = wait_for(lambda: [r for r in h.ledger_rows() if norm_mid(r.get("message_id")) == mid],
                    20, "the message's ledger row")
    signed = [a for a in rows[0].get("auth", []) if a.startswith("dkim-sign=signed")]
    check_eq(len(signed), 2, "ledger dkim-sign rows: %s" % rows[0].get("auth"))
    check(all("identity=example.test" in a and "selector=" in a for a in signed),
          "ledger selectors", signed)


def test_sasl_signed(h):
    mid, m = msg("bob@example.test", "carol@remote.test", "signed after SASL")
    h.send("bob@example.test", ["carol@remote.test"], m, source_ip=INBOUND_IP,
           auth=("bob@example.test", h.password("bob@example.test")))
    check_signed(h, mid)


def test_sendmail_signed(h):
    mid, m = msg("alice@example.test", "carol@remote.test", "signed via sendmail")
    h.sendmail_local("alice@example.test", ["carol@remote.test"], m)
    check_signed(h, mid)


def test_inbound_not_signed(h):
    mid, m = msg("alice@example.test", "bob@example.test", "relayed from outside")
    h.send("alice@example.test", ["bob@example.test"], m, source_ip=INBOUND_IP)
    raw = delivered(h, "bob@example.test", mid)
    check_eq(signatures(raw), [], "no DKIM-Signature on mail from outside")


def test_missing_key_unsigned(h):
    _, path = keygen(h, "remote.test", "rsa")
    os.unlink(path)
    h.reload_milter()
    wait_for(lambda: "cannot be used" in open(h.milter_log(), errors="replace").read(), 20,
             "the missing key to be logged")
    mid = new_message_id("remote.test")
    m = make_message([("From", "carol@remote.test"), ("To", "alice@example.test"),
                      ("Subject", "key gone")], "unsigned\n", message_id=mid)
    h.send("carol@remote.test", ["alice@example.test"], m, source_ip=OUTBOUND_IP)
    raw = delivered(h, "alice@example.test", mid)
    check_eq(signatures(raw), [], "delivered unsigned")


if __name__ == "__main__":
    main_with_harness([
        ("keygen RSA + Ed25519, SIGHUP loads them", test_keys_loaded),
        ("trusted network: dual-signed, verified, in the ledger", test_trusted_network_signed),
        ("SASL-authenticated: signed", test_sasl_signed),
        ("sendmail(1) via non_smtpd_milters: signed", test_sendmail_signed),
        ("mail from outside: not signed", test_inbound_not_signed),
        ("key file gone: delivered unsigned, logged", test_missing_key_unsigned),
    ], name="sign")
