#!/usr/bin/python3
"""gen.py - make the DKIM verification fixtures in this directory.

Run with Debian's /usr/bin/python3 (python3-dkim, python3-nacl, openssl).
The outputs are checked in; rerun only to change them:

    keys/*.key      private keys (test only: they sign nothing real)
    keys.txt        the key records, "NAME<TAB>TXT" (NAME without the dot);
                    served by the integration test's unbound and by the
                    unit test's lookup function
    *.eml           messages (CRLF line ends), described in MESSAGES below
    expect.txt      "FILE<TAB>RESULT<TAB>COMMENT" per signature, header order;
                    a file without signatures is "FILE<TAB>none<TAB>"

python3-dkim signs every message; the expectations are ours (python3-dkim
accepts rsa-sha1 and short keys, which RFC 8301 and our policy refuse).

Where we are deliberately stricter than python3-dkim (it says pass, we do
not; tests/integration/test_dkim_verify.py keeps the same list, STRICTER):
  rsa-sha1 not accepted     sha1.eml          RFC 8301 3.1
  several key records       multi.eml         RFC 6376 3.6.2.2
  l= longer than the body   length-long.eml   RFC 6376 3.5, l=: "MUST NOT be
                                              larger than the actual number
                                              of octets in the canonicalized
                                              message body"
  too many h= names         h-too-many.eml    our bound (DKIM_SIG_H_MAX, 512
                                              names), so that a stranger's h=
                                              cannot cost more than that
A pass whose body goes on past l= (length.eml, length-simple.eml) stays a
pass but is "ignored for DMARC" (RFC 6376 8.2); python3-dkim only verifies.
"""

import base64
import os
import subprocess
import sys

import dkim
import nacl.signing

# A fixed t= in the past (the Date: of BASE), so no clock sees it in the future.
SIGN_TIME = 1704189600
dkim.time.time = lambda: SIGN_TIME

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "keys")
D = b"example.test"

BASE = (b"From: Alice Example <alice@example.test>\r\n"
        b"To: Bob <bob@example.org>\r\n"
        b"Subject: DKIM test message\r\n"
        b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <dkim-test-%s@example.test>\r\n"
        b"\r\n"
        b"Hello Bob,\r\n"
        b"\r\n"
        b"this message is signed.  Twice  spaced  words stay.\r\n"
        b"-- \r\n"
        b"Alice\r\n")

# Headers a simple/simple signature must see exactly: a fold, a tab after
# the colon, two spaces after the colon.
SIMPLE_BASE = (b"From: Alice Example <alice@example.test>\r\n"
               b"To: Bob <bob@example.org>\r\n"
               b"Subject: a subject that is long enough to be\r\n"
               b"\tfolded over two lines\r\n"
               b"X-Tab:\tvalue after a tab\r\n"
               b"X-Two:  two spaces\r\n"
               b"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n"
               b"Message-ID: <dkim-test-simple@example.test>\r\n"
               b"\r\n"
               b"Simple canonicalization keeps   every   space.\r\n"
               b"\r\n"
               b"\r\n")

SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def run(*cmd, data=None):
    return subprocess.run(cmd, input=data, check=True, capture_output=True).stdout


def rsa_key(name, bits):
    """(private PEM, public base64 DER) of keys/NAME.key, made if missing."""
    path = os.path.join(KEYS, name + ".key")
    if not os.path.exists(path):
        pem = run("openssl", "genrsa", "-traditional", str(bits))
        with open(path, "wb") as f:
            f.write(pem)
    pem = open(path, "rb").read()
    der = run("openssl", "rsa", "-pubout", "-outform", "DER", "-in", path)
    return pem, base64.b64encode(der).decode()


def ed_key(name):
    """(private seed base64, public base64) of keys/NAME.key, made if missing."""
    path = os.path.join(KEYS, name + ".key")
    if not os.path.exists(path):
        seed = base64.b64encode(os.urandom(32))
        with open(path, "wb") as f:
            f.write(seed + b"\n")
    seed = open(path, "rb").read().strip()
    pub = nacl.signing.SigningKey(base64.b64decode(seed)).verify_key.encode()
    return seed, base64.b64encode(pub).decode()


def sign(msg, sel, key, alg=b"rsa-sha256", canon=(b"relaxed", b"relaxed"), domain=D,
         length=False, headers=SIGNED_HEADERS):
    sig = dkim.sign(msg, sel, domain, key, canonicalize=canon, signature_algorithm=alg,
                    include_headers=headers, length=length)
    return sig + msg


class LongBytes(bytes):
    """A canonical body that claims EXTRA more bytes: python3-dkim's l= = len(body)."""
    EXTRA = 10

    def __len__(self):
        return bytes.__len__(self) + self.EXTRA


def sign_l_too_long(msg, sel, key):
    """msg signed with l= EXTRA bytes past its canonical body, bh= over all of it"""
    policy = dkim.CanonicalizationPolicy
    real = policy.canonicalize_body
    policy.canonicalize_body = lambda self, body: LongBytes(real(self, body))
    try:
        return sign(msg, sel, key, length=True)
    finally:
        policy.canonicalize_body = real


def base(tag):
    return BASE % tag.encode()


def main():
    os.makedirs(KEYS, exist_ok=True)
    rsa2048, rsa2048_pub = rsa_key("rsa2048", 2048)
    other, _ = rsa_key("other2048", 2048)
    rsa512, rsa512_pub = rsa_key("rsa512", 512)
    rsa4096, rsa4096_pub = rsa_key("rsa4096", 4096)
    ed, ed_pub = ed_key("ed25519")

    records = [
        ("rsa2048._domainkey.example.test", "v=DKIM1; k=rsa; p=" + rsa2048_pub),
        ("ed25519._domainkey.example.test", "v=DKIM1; k=ed25519; p=" + ed_pub),
        ("rsa512._domainkey.example.test", "v=DKIM1; k=rsa; p=" + rsa512_pub),
        # "wrong" publishes rsa2048's key; messages are signed with other2048
        ("wrong._domainkey.example.test", "v=DKIM1; k=rsa; p=" + rsa2048_pub),
        ("revoked._domainkey.example.test", "v=DKIM1; k=rsa; p="),
        # longer than libopendkim's 1024-byte key buffer until n= is dropped
        ("rsa4096._domainkey.example.test",
         "v=DKIM1; k=rsa; n=" + "notes " * 60 + "; p=" + rsa4096_pub),
        ("multi._domainkey.example.test", "v=DKIM1; k=rsa; p=" + rsa2048_pub),
        ("multi._domainkey.example.test", "v=DKIM1; k=ed25519; p=" + ed_pub),
        ("garbage._domainkey.example.test", "this is not a key record"),
        # an Ed25519 key where an RSA signature looks
        ("edkey._domainkey.example.test", "v=DKIM1; k=ed25519; p=" + ed_pub),
        # RFC 8463 appendix A (the keys of python3-dkim's rfc6376.signed.msg)
        ("brisbane._domainkey.football.example.com",
         "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="),
        ("test._domainkey.football.example.com",
         open("/usr/lib/python3/dist-packages/dkim/tests/data/test.txt").read().strip()),
    ]

    msgs = {}
    expect = []
    msgs["rsa-relaxed.eml"] = sign(base("rsa-relaxed"), b"rsa2048", rsa2048)
    expect.append(("rsa-relaxed.eml", "pass", ""))
    msgs["rsa-simple.eml"] = sign(SIMPLE_BASE, b"rsa2048", rsa2048, canon=(b"simple", b"simple"),
                                  headers=SIGNED_HEADERS + [b"x-tab", b"x-two"])
    expect.append(("rsa-simple.eml", "pass", ""))
    msgs["ed25519.eml"] = sign(base("ed25519"), b"ed25519", ed, alg=b"ed25519-sha256")
    expect.append(("ed25519.eml", "pass", ""))
    msgs["ed25519-simple.eml"] = sign(SIMPLE_BASE, b"ed25519", ed, alg=b"ed25519-sha256",
                                      canon=(b"simple", b"simple"),
                                      headers=SIGNED_HEADERS + [b"x-tab", b"x-two"])
    expect.append(("ed25519-simple.eml", "pass", ""))
    good = msgs["rsa-relaxed.eml"]
    msgs["body-tampered.eml"] = good.replace(b"Hello Bob", b"Hello Rob")
    expect.append(("body-tampered.eml", "fail", "body hash mismatch"))
    msgs["header-tampered.eml"] = good.replace(b"Subject: DKIM test message",
                                               b"Subject: DKIM test massage")
    expect.append(("header-tampered.eml", "fail", "bad signature"))
    two = sign(base("two"), b"ed25519", ed, alg=b"ed25519-sha256")
    msgs["two-sigs.eml"] = sign(two, b"wrong", other)
    expect.append(("two-sigs.eml", "fail", "bad signature"))  # the top one: wrong key
    expect.append(("two-sigs.eml", "pass", ""))
    msgs["nokey.eml"] = sign(base("nokey"), b"missing", rsa2048)
    expect.append(("nokey.eml", "permerror", "no key for signature"))
    msgs["revoked.eml"] = sign(base("revoked"), b"revoked", rsa2048)
    expect.append(("revoked.eml", "fail", "key revoked"))
    msgs["short512.eml"] = sign(base("short"), b"rsa512", rsa512)
    expect.append(("short512.eml", "fail", "key too short (512 bits)"))
    msgs["sha1.eml"] = sign(base("sha1"), b"rsa2048", rsa2048, alg=b"rsa-sha1")
    expect.append(("sha1.eml", "fail", "rsa-sha1 not accepted"))
    def l_tag(signed):
        return int(signed.split(b"; l=", 1)[1].split(b";", 1)[0])

    signed = sign(base("length"), b"rsa2048", rsa2048, length=True)
    msgs["length.eml"] = signed + b"Appended after signing.\r\n"
    expect.append(("length.eml", "pass",
                   "l=%d partial body; ignored for DMARC" % l_tag(signed)))
    # l= covers all: collapsed spaces, trailing white space and blank lines
    # make the raw body longer than the canonical one, yet nothing is unsigned
    signed = sign(base("length-full") + b"trailing white space \t \r\n\r\n\r\n",
                  b"rsa2048", rsa2048, length=True)
    msgs["length-full.eml"] = signed
    expect.append(("length-full.eml", "pass", "l=%d" % l_tag(signed)))
    signed = sign(base("length-simple"), b"rsa2048", rsa2048, length=True,
                  canon=(b"simple", b"simple"))
    msgs["length-simple.eml"] = signed + b"\r\nAppended after signing.\r\n"
    expect.append(("length-simple.eml", "pass",
                   "l=%d partial body; ignored for DMARC" % l_tag(signed)))
    # l= equal to the body: nothing unsigned
    signed = sign(base("length-equal"), b"rsa2048", rsa2048, length=True)
    msgs["length-equal.eml"] = signed
    expect.append(("length-equal.eml", "pass", "l=%d" % l_tag(signed)))
    # l= longer than the body (RFC 6376 3.5: MUST NOT): python3-dkim passes it
    signed = sign_l_too_long(base("length-long"), b"rsa2048", rsa2048)
    msgs["length-long.eml"] = signed
    expect.append(("length-long.eml", "fail", "l= longer than the body; l=%d" % l_tag(signed)))
    # h= at our bound (DKIM_SIG_H_MAX = 512 names, From oversigned) and one past it
    many = SIGNED_HEADERS + [b"from"] * (512 - len(SIGNED_HEADERS))
    msgs["h-max.eml"] = sign(base("h-max"), b"rsa2048", rsa2048, headers=many)
    expect.append(("h-max.eml", "pass", ""))
    msgs["h-too-many.eml"] = sign(base("h-too-many"), b"rsa2048", rsa2048,
                                  headers=many + [b"from"])
    expect.append(("h-too-many.eml", "permerror", "too many h= names"))
    msgs["rsa4096-notes.eml"] = sign(base("rsa4096"), b"rsa4096", rsa4096)
    expect.append(("rsa4096-notes.eml", "pass", ""))
    msgs["multi.eml"] = sign(base("multi"), b"multi", rsa2048)
    expect.append(("multi.eml", "permerror", "several key records"))
    msgs["garbage-key.eml"] = sign(base("garbage"), b"garbage", rsa2048)
    expect.append(("garbage-key.eml", "permerror", "key record syntax error"))
    msgs["key-type.eml"] = sign(base("keytype"), b"edkey", rsa2048)
    expect.append(("key-type.eml", "permerror", "key unusable for the algorithm"))
    msgs["rfc8463.eml"] = open(
        "/usr/lib/python3/dist-packages/dkim/tests/data/rfc6376.signed.msg", "rb").read()
    expect.append(("rfc8463.eml", "pass", ""))
    expect.append(("rfc8463.eml", "pass", ""))
    msgs["syntax.eml"] = (b"DKIM-Signature: v=1; a=rsa-sha256; d=example.test; s=rsa2048;\r\n"
                          b"\th=from; bh=; b=; this is = not ; a tag list\r\n") + base("syntax")
    expect.append(("syntax.eml", "neutral", "signature syntax error"))
    msgs["unsigned.eml"] = base("unsigned")
    expect.append(("unsigned.eml", "none", ""))

    for name, data in msgs.items():
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "keys.txt"), "w") as f:
        for name, txt in records:
            f.write("%s\t%s\n" % (name, txt))
    with open(os.path.join(HERE, "expect.txt"), "w") as f:
        for row in expect:
            f.write("\t".join(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
