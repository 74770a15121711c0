#!/usr/bin/python3
"""test_dkim_sign.py - milter/dkim_sign through pm-dkimsign, checked by
independent verifiers.

pm-dkimsign signs a set of messages (plain, folded header fields, LF and
CRLF files, empty body, header only, long lines, 8-bit body and header,
with and without Cc / Reply-To, duplicate fields, multipart, white space
that relaxed canonicalization absorbs, no space or a tab after a colon, no
final line end) fed as the milter protocol feeds postmeter-milter: header fields
split, values as Postfix passes them without and with SMFIP_HDR_LEADSPC,
the body in chunks of 65535, 7 and 1 bytes. Each message is signed with
two keys at once (RSA-2048 and Ed25519: two DKIM-Signature fields) under
relaxed/relaxed and simple/simple, and once with a PKCS#1 RSA key under
every canonicalization pair.

The oracles: python3-dkim (dkim.DKIM(msg).verify(idx, dnsfunc)) with a
dnsfunc serving the public keys derived from the key files with the
openssl command, and our own verifier pm-dkimverify (auth/dkim_verify) with the
same records through -K and, once, through a loopback unbound. Both must
pass every signature. Then: a second From added above or below the header
breaks every signature (From is oversigned: h= names it once more than it
appears), while an added Subject does not (a control: the verifiers take
instances bottom-up); re-folding a header field passes under relaxed and
fails under simple; a changed body and a wrong key fail (the oracles can
say no); simple canonicalization of a field without a space after the
colon needs SMFIP_HDR_LEADSPC (the MTA drops the information
otherwise), relaxed does not; output is the same with and without
LEADSPC; with t= fixed, every message signs byte for byte the same (b=
included: RSA PKCS#1 v1.5 and Ed25519 are deterministic) under every
feeding and chunking, and the same twice; 16 threads sign alike; key files that are missing, garbage, too
short or encrypted stop pm-dkimsign with a reason that shows none of the
file; a message without From gets an error per key and is passed on
unsigned; a message abandoned at every stage frees cleanly. Runs that
check for leaks run with LeakSanitizer on and no suppression; the many
oracle runs turn it off for speed.

Prints 'N passed, M failed'; exits 1 if anything failed.
"""

import base64
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.unbound import Unbound, free_port  # noqa: E402

import dkim  # noqa: E402  (python3-dkim, the oracle)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("POSTMETER_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("POSTMETER_BUILD_DIR", os.path.join(SOURCE, "build"))
SIGN = os.path.join(BUILD, "tests", "tools", "pm-dkimsign")
VERIFY = os.path.join(BUILD, "tests", "tools", "pm-dkimverify")
KEYS = os.path.join(SOURCE, "tests", "data", "dkim-sign")
DOMAIN = "example.test"

# selector -> (algorithm, key file)
KEYFILES = {
    "rsa": ("rsa-sha256", "rsa2048.pem"),
    "rsa1": ("rsa-sha256", "rsa2048-pkcs1.pem"),
    "ed": ("ed25519-sha256", "ed25519.pem"),
}
DUAL = ["rsa", "ed"]
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")

passed = 0
failed = 0


def check(label, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print("ok   %s" % label)
    else:
        failed += 1
        print("FAIL %s\n     got:  %r\n     want: %r" % (label, got, want))


def env(leaks):
    """The environment for a tool: LeakSanitizer on (as built) or off."""
    e = dict(os.environ)
    if not leaks:
        e["ASAN_OPTIONS"] = ":".join(filter(None, [
            e.get("ASAN_OPTIONS", ""), "detect_leaks=0", "fast_unwind_on_malloc=1"]))
    return e


def public_key(path):
    """p= of a private key file, derived with the openssl command."""
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    if der.startswith(ED25519_SPKI_PREFIX):
        assert len(der) == len(ED25519_SPKI_PREFIX) + 32
        return "ed25519", base64.b64encode(der[len(ED25519_SPKI_PREFIX):]).decode()
    return "rsa", base64.b64encode(der).decode()


def records():
    """{selector: 'v=DKIM1; k=...; p=...'} for every key."""
    out = {}
    for sel, (_, f) in KEYFILES.items():
        k, p = public_key(os.path.join(KEYS, f))
        out[sel] = "v=DKIM1; k=%s; p=%s" % (k, p)
    return out


def sign(path, selectors, extra=(), leaks=False, expect_rc=0):
    """pm-dkimsign FILE with the keys named; its stdout (bytes)."""
    cmd = [SIGN] + list(extra)
    for sel in selectors:
        alg, f = KEYFILES[sel]
        cmd += ["-k", "%s:%s:%s:%s" % (DOMAIN, sel, alg, os.path.join(KEYS, f))]
    cmd.append(path)
    p = subprocess.run(cmd, capture_output=True, timeout=120, env=env(leaks))
    if p.returncode != expect_rc:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                   p.stderr.decode(errors="replace")))
    return p.stdout


def py_verify(msg, table):
    """python3-dkim on every DKIM-Signature, top down: True, or why not."""
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        rec = table.get(name)
        return rec.encode() if rec else None

    n = len(re.findall(rb"(?im)^dkim-signature:", msg.split(b"\r\n\r\n", 1)[0]))
    out = []
    for i in range(n):
        try:
            out.append(dkim.DKIM(msg, minkey=1024).verify(idx=i, dnsfunc=dnsfunc) or "bad")
        except Exception as e:  # python3-dkim raises for a body hash mismatch
            out.append("error: %s" % e)
    return out


def our_verify(path, keyfile, extra=("-l",)):
    """pm-dkimverify's results (first column) for a file."""
    p = subprocess.run([VERIFY, "-K", keyfile] + list(extra) + [path], capture_output=True,
                       text=True, timeout=120, env=env(False))
    if p.returncode != 0:
        raise AssertionError("pm-dkimverify exited %d: %s" % (p.returncode, p.stderr))
    return [line.split("\t")[0] for line in p.stdout.splitlines()
            if line and not line.startswith("skipped")]


def crlf(text):
    """A message from readable text: LF line ends become CRLF."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def messages():
    """[(name, bytes)]: the messages to sign."""
    base = ("From: Alice <alice@example.test>\n"
            "To: Bob <bob@example.org>\n"
            "Subject: plain message\n"
            "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
            "Message-ID: <plain@example.test>\n"
            "Received: from client.example.test (client.example.test [192.0.2.1])\n"
            "\tby mx.example.test with ESMTPSA\n"
            "\n"
            "Hello Bob,\n"
            "\n"
            "this is a test.\n")
    out = [("plain", crlf(base)),
           ("lf-file", base.encode()),
           ("folded", crlf(
               "From: Alice\n <alice@example.test>\n"
               "To: Bob <bob@example.org>,\n\tCarol <carol@example.org>,\n"
               "  Dave <dave@example.org>\n"
               "Subject: a subject that goes on\n and on\n\tand on\n"
               "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
               "Message-ID:\n <folded@example.test>\n"
               "\n"
               "body\n")),
           ("empty-body", crlf("From: alice@example.test\nTo: bob@example.org\n"
                               "Subject: nothing\n\n")),
           ("header-only", crlf("From: alice@example.test\nTo: bob@example.org\n"
                                "Subject: no empty line\n")),
           ("long-lines", crlf(
               "From: alice@example.test\n"
               "To: " + ",\n ".join("user%02d@example.org" % i for i in range(60)) + "\n"
               "Subject: " + "long " * 180 + "\n"
               "\n"
               + "x" * 5000 + "\n" + "y " * 3000 + "\n")),
           ("8bit", crlf(
               "From: =?utf-8?q?Ren=C3=A9?= <rene@example.test>\n"
               "To: bob@example.org\n"
               "Subject: caf\u00e9 \u2013 \u00fcber\n"
               "MIME-Version: 1.0\n"
               "Content-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: 8bit\n"
               "\n"
               "Gr\u00fc\u00dfe aus K\u00f6ln \u2603\n\u00e9\u00e8\u00ea\n")),
           ("cc-reply-to", crlf(
               "From: alice@example.test\nTo: bob@example.org\nCc: carol@example.org,\n"
               " dave@example.org\nReply-To: list@example.test\nSubject: with cc\n"
               "Date: Mon, 01 Jan 2024 10:00:00 +0000\nMessage-ID: <cc@example.test>\n"
               "\nhi\n")),
           ("duplicates", crlf(
               "Received: from a\nReceived: from b\nFrom: alice@example.test\n"
               "To: bob@example.org\nTo: carol@example.org\nSubject: two To fields\n\nhi\n")),
           ("multipart", crlf(
               "From: Alice <alice@example.test>\n"
               "To: bob@example.org\n"
               "Subject: multipart\n"
               "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
               "Message-ID: <mp@example.test>\n"
               "MIME-Version: 1.0\n"
               "Content-Type: multipart/alternative;\n boundary=\"=_b1\"\n"
               "\n"
               "This is a MIME message.\n"
               "\n"
               "--=_b1\n"
               "Content-Type: text/plain; charset=utf-8\n"
               "Content-Transfer-Encoding: quoted-printable\n"
               "\n"
               "Hello =C3=A9\n"
               "\n"
               "--=_b1\n"
               "Content-Type: text/html; charset=utf-8\n"
               "Content-Transfer-Encoding: 8bit\n"
               "\n"
               "<html><body><p>Hello \u00e9</p></body></html>\n"
               "\n"
               "--=_b1--\n")),
           ("white-space", crlf(
               "From: alice@example.test\nTo:   bob@example.org  \nSubject: spaces  inside\t\n"
               "\n"
               "trailing spaces   \n\ttab  and  runs\t \n\n\n\n")),
           ("no-final-line-end", crlf("From: alice@example.test\nSubject: x\n\nlast")),
           ]
    return out


# messages whose simple-canonicalized header needs SMFIP_HDR_LEADSPC to sign right
COLON = [("no-space-after-colon", crlf("From:alice@example.test\nTo:bob@example.org\n"
                                       "Subject:no space\n\nhi\n")),
         ("tab-after-colon", crlf("From:\talice@example.test\nSubject:\ttab\n\nhi\n"))]

FEEDS = [("", []), (" leadspc", ["-l"]), (" 1-byte chunks", ["-c", "1"]),
         (" leadspc 7-byte chunks", ["-l", "-c", "7"])]


def write(work, name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def main():
    for tool in (SIGN, VERIFY):
        if not os.access(tool, os.X_OK):
            print("FAIL %s is not built" % tool)
            return 1
    recs = records()
    table = {"%s._domainkey.%s." % (sel, DOMAIN): r for sel, r in recs.items()}
    with tempfile.TemporaryDirectory(prefix="pm-dkimsign-") as work:
        keyfile = write(work, "keys.txt", "".join(
            "%s._domainkey.%s\t%s\n" % (sel, DOMAIN, r) for sel, r in recs.items()).encode())
        run_cases(work, recs, table, keyfile)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def oracles(label, work, signed, table, keyfile, want):
    """Both verifiers on a signed message: want is True/False per signature."""
    path = write(work, "signed.eml", signed)
    got = py_verify(signed, table)
    verdicts = [g is True for g in got]
    check(label + ": python3-dkim", verdicts if verdicts == want else got, want)
    check(label + ": pm-dkimverify", our_verify(path, keyfile),
          ["pass" if w else "fail" for w in want])


def add_field(msg, field, where):
    """msg with a header field added at the top or the bottom of the header."""
    head, body = msg.split(b"\r\n\r\n", 1)
    if where == "top":
        return field + b"\r\n" + head + b"\r\n\r\n" + body
    return head + b"\r\n" + field + b"\r\n\r\n" + body


def h_tags(msg):
    """The h= lists of the DKIM-Signature fields, white space removed."""
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    return [re.sub(r"\s+", "", m) for m in re.findall(r"[;\s]h=([^;]*);", head)]


def run_cases(work, recs, table, keyfile):
    # the public keys pm-dkimsign derives are the ones openssl derives
    p = subprocess.run([SIGN, "-P"] + sum((["-k", "%s:%s:%s:%s" % (
        DOMAIN, s, KEYFILES[s][0], os.path.join(KEYS, KEYFILES[s][1]))] for s in KEYFILES), []),
        capture_output=True, text=True, env=env(True))
    ours = {line.split("\t")[1]: line.split("\t")[4] for line in p.stdout.splitlines()}
    check("pm-dkimsign -P p= equals openssl's", ours,
          {s: r.split("p=")[1] for s, r in recs.items()})

    # every message, every feeding, dual signing, relaxed and simple: both oracles pass
    for name, data in messages():
        path = write(work, name + ".eml", data)
        for canon in ("relaxed/relaxed", "simple/simple"):
            for flabel, extra in FEEDS:
                label = "%s %s%s" % (name, canon, flabel)
                try:
                    signed = sign(path, DUAL, ["-C", canon] + extra)
                    oracles(label, work, signed, table, keyfile, [True, True])
                except Exception as e:  # keep going: report every failure
                    check(label, repr(e), "signed and verified")

    # a PKCS#1 key, every canonicalization pair
    plain = write(work, "plain.eml", messages()[0][1])
    for canon in ("relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"):
        signed = sign(plain, ["rsa1"], ["-C", canon])
        check("pkcs1 %s: c= tag" % canon, ("c=%s;" % canon).encode() in signed, True)
        oracles("pkcs1 %s" % canon, work, signed, table, keyfile, [True])

    # no space or a tab after the colon: simple needs LEADSPC, relaxed does not
    for name, data in COLON:
        path = write(work, name + ".eml", data)
        for canon, flags, want in (("relaxed/relaxed", [], True),
                                   ("relaxed/relaxed", ["-l"], True),
                                   ("simple/simple", ["-l"], True),
                                   ("simple/simple", [], name == "tab-after-colon")):
            label = "%s %s%s" % (name, canon, " leadspc" if flags else "")
            signed = sign(path, DUAL, ["-C", canon] + flags)
            oracles(label, work, signed, table, keyfile, [want, want])

    # the signer sees the same fields with and without LEADSPC
    a = sign(plain, DUAL, ["-T", "1700000000"])
    b = sign(plain, DUAL, ["-T", "1700000000", "-l", "-c", "3"])
    check("same signatures with and without LEADSPC, any chunking", a, b)
    check("t= fixed", a.count(b"t=1700000000;"), 2)

    # determinism: t= fixed, every message, both canonicalizations, every feeding and
    # chunking (CRLF split between chunks included) and a second run: the same bytes
    for name, data in messages():
        path = write(work, name + ".eml", data)
        for canon in ("relaxed/relaxed", "simple/simple"):
            base = ["-C", canon, "-T", "1700000000"]
            want = sign(path, DUAL, base)
            outs = [sign(path, DUAL, base)] + [
                sign(path, DUAL, base + extra)
                for extra in (["-l"], ["-c", "1"], ["-c", "2"], ["-l", "-c", "3"], ["-c", "13"])]
            check("%s %s: byte-identical signatures across chunkings" % (name, canon),
                  [o == want for o in outs], [True] * len(outs))
            fields = re.findall(rb"(?s)DKIM-Signature:.*?\r\n(?![ \t])", want)
            b_values = [re.sub(rb"\s", b"", re.search(rb"[;\s]b=([^;]*)$", f).group(1))
                        for f in fields]
            check("%s %s: two b= values, RSA then Ed25519" % (name, canon),
                  [len(b) for b in b_values], [344, 88])

    # oversigning: h= names From once more than it appears
    for canon in ("relaxed/relaxed", "simple/simple"):
        signed = sign(plain, DUAL, ["-C", canon])
        check("h= %s" % canon, h_tags(signed), ["From:To:Subject:Date:Message-ID:From"] * 2)
        oracles("oversigned %s: as signed" % canon, work, signed, table, keyfile, [True, True])
        oracles("oversigned %s: From added on top" % canon, work,
                add_field(signed, b"From: Mallory <mallory@attacker.example>", "top"),
                table, keyfile, [False, False])
        oracles("oversigned %s: From added at the bottom" % canon, work,
                add_field(signed, b"From: Mallory <mallory@attacker.example>", "bottom"),
                table, keyfile, [False, False])
        oracles("control %s: Subject added on top still passes" % canon, work,
                add_field(signed, b"Subject: another subject", "top"),
                table, keyfile, [True, True])
    two = write(work, "two-from.eml", crlf("From: a@example.test\nFrom: b@example.test\n"
                                           "Subject: two\n\nx\n"))
    check("h= with two From fields", h_tags(sign(two, DUAL)), ["From:From:Subject:From"] * 2)

    # re-folding a field: relaxed survives, simple does not
    folded = write(work, "folded.eml", dict(messages())["folded"])
    for canon, want in (("relaxed/relaxed", True), ("simple/simple", False)):
        signed = sign(folded, DUAL, ["-C", canon])
        refolded = signed.replace(b"Subject: a subject that goes on\r\n and on\r\n\tand on",
                                  b"Subject: a subject\r\n that goes on and on and on")
        check("refold %s: Subject changed" % canon, refolded != signed, True)
        oracles("refold %s" % canon, work, refolded, table, keyfile, [want, want])
        unfolded = signed.replace(b"<bob@example.org>,\r\n\tCarol", b"<bob@example.org>, Carol")
        check("unfold %s: To changed" % canon, unfolded != signed, True)
        oracles("unfold To %s" % canon, work, unfolded, table, keyfile, [want, want])

    # the oracles can say no: a changed body, a wrong key
    signed = sign(plain, DUAL)
    oracles("body changed", work, signed.replace(b"this is a test.", b"this is a tesT."),
            table, keyfile, [False, False])
    wrong = dict(table)
    wrong["rsa._domainkey.%s." % DOMAIN] = recs["rsa1"]
    check("wrong RSA key: python3-dkim", [v is True for v in py_verify(signed, wrong)],
          [False, True])
    wrongfile = write(work, "wrong.txt", "".join(
        "%s._domainkey.%s\t%s\n" % (s, DOMAIN, recs["rsa1"] if s == "rsa" else r)
        for s, r in recs.items()).encode())
    check("wrong RSA key: pm-dkimverify",
          our_verify(write(work, "signed.eml", signed), wrongfile), ["fail", "pass"])

    # the records as published in DNS, through a loopback unbound
    try:
        u = Unbound(os.path.join(work, "unbound"), free_port(),
                    local_zones=[(DOMAIN, "static")],
                    local_data=["%s._domainkey.%s. 300 IN TXT %s" % (
                        s, DOMAIN, " ".join('"%s"' % r[i:i + 255] for i in range(0, len(r), 255)))
                        for s, r in recs.items()])
        u.start()
        try:
            p = subprocess.run([VERIFY, "-s", u.server, "-l", write(work, "signed.eml", signed)],
                               capture_output=True, text=True, timeout=60, env=env(False))
            check("through unbound: pm-dkimverify",
                  [line.split("\t")[:4] for line in p.stdout.splitlines()],
                  [["pass", DOMAIN, "rsa", "rsa-sha256"], ["pass", DOMAIN, "ed", "ed25519-sha256"]])
        finally:
            u.stop()
    except Exception as e:
        check("through unbound", repr(e), "verified")

    # leak-checked runs: dual signing of a multipart message, chunked, with LEADSPC; threads
    mp = write(work, "multipart.eml", dict(messages())["multipart"])
    signed = sign(mp, DUAL, ["-l", "-c", "5"], leaks=True)
    oracles("leak-checked multipart", work, signed, table, keyfile, [True, True])
    for canon in ("relaxed/relaxed", "simple/simple"):
        signed = sign(mp, DUAL, ["-C", canon, "-p", "16", "-T", "1700000000"], leaks=True)
        oracles("16 threads alike %s" % canon, work, signed, table, keyfile, [True, True])

    # abandoned at every stage
    for stage in ("begin", "header", "eoh", "body"):
        out = sign(mp, DUAL, ["-a", stage], leaks=True)
        check("abandoned after %s" % stage, out, b"aborted\n")

    # a message without From: an error per key, passed on unsigned, exit 3
    nofrom = write(work, "no-from.eml", crlf("To: bob@example.org\nSubject: x\n\nx\n"))
    p = subprocess.run([SIGN, "-k", "%s:rsa:rsa-sha256:%s" % (DOMAIN, os.path.join(
        KEYS, "rsa2048.pem")), "-k", "%s:ed:ed25519:%s" % (DOMAIN, os.path.join(
            KEYS, "ed25519.pem")), nofrom], capture_output=True, env=env(True))
    check("no From: exit 3, unsigned, a reason per key",
          (p.returncode, p.stdout, p.stderr.decode().count('required header "from" not found')),
          (3, open(nofrom, "rb").read(), 2))

    # key files that cannot be used: exit 1, a reason, nothing of the file
    for f, alg, why in (("missing.pem", "rsa", "No such file or directory"),
                        ("garbage.pem", "rsa", "no private key that can be read"),
                        ("empty.pem", "rsa", "empty file"),
                        ("rsa512.pem", "rsa", "RSA key of 512 bits"),
                        ("encrypted.pem", "rsa", "encrypted private keys are not supported"),
                        ("ec-p256.pem", "rsa", "not an RSA key"),
                        ("rsa2048.pem", "ed25519", "not an Ed25519 key")):
        path = os.path.join(KEYS, f)
        p = subprocess.run([SIGN, "-k", "%s:s:%s:%s" % (DOMAIN, alg, path), plain],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=30, env=env(True))
        lines = []
        if os.path.exists(path):
            lines = [ln for ln in open(path).read().splitlines() if len(ln) >= 16]
        check("key %s as %s: refused" % (f, alg),
              (p.returncode, p.stdout, why in p.stderr, f in p.stderr,
               any(ln in p.stderr for ln in lines)),
              (1, "", True, True, False))


if __name__ == "__main__":
    sys.exit(main())
