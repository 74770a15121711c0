#!/usr/bin/python3
"""test_pixel_corpus.py - postmeter-pixelfilter --stdout over the pixel
corpus (tests/data/pixel/*.eml, written by gen.py), checked with Python's
email parser.

For every message: the exit code (0, or 65 for NOT_MESSAGE) and the
outcome line on stderr match expect.txt (outcome and number of HTML parts
injected). Every outcome but INJECTED must give the input back byte for
byte. For INJECTED output: the MIME tree has the same shape; every part
that is not an injected HTML part has the same headers and the same
decoded payload; each injected part decodes (in its charset, line ends
normalised) to the original plus exactly one tag at the place the rule
says (before the last </body> outside comments/script/style, else before
the last </html>, else at the end before trailing white space); only
text/html parts change and as many as expect.txt says; putting the
original raw bodies (and Content-Transfer-Encoding field) back into the
output gives the input byte for byte; no output line exceeds 998 octets;
line ends keep the input's style. Also: bad arguments exit 64, empty input
exits 65.

Prints 'N passed, M failed'; exits 1 if anything failed.
"""

import email
import email.policy
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("POSTMETER_SOURCE_DIR", os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("POSTMETER_BUILD_DIR", os.path.join(SOURCE, "build"))
TOOL = os.path.join(BUILD, "pixelfilter", "postmeter-pixelfilter")
CORPUS = os.path.join(SOURCE, "tests", "data", "pixel")
TOKEN = "Tok_123-abc"
BASE = "https://track.example.test/"
URL = "https://track.example.test/o/%s.gif" % TOKEN
TAG = ('<img src="%s" width="1" height="1" alt="" '
       'style="display:block;border:0;width:1px;height:1px">' % URL)

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return ok


def insert_point(s):
    """The engine's rule, written again in Python (the oracle)."""
    low = s.lower()
    n = len(s)
    i = 0
    last_body = last_html = None

    def tag_at(i, pfx, name):
        j = i + len(pfx) + len(name)
        return low.startswith(pfx + name, i) and j < n and low[j] in ">/ \t\r\n\f"

    while i < n:
        if s[i] != "<":
            i += 1
            continue
        if low.startswith("<!--", i):
            e = low.find("-->", i + 4)
            i = n if e < 0 else e + 3
        elif tag_at(i, "<", "script"):
            e = low.find("</script", i + 7)
            i = n if e < 0 else e
        elif tag_at(i, "<", "style"):
            e = low.find("</style", i + 6)
            i = n if e < 0 else e
        else:
            if tag_at(i, "</", "body"):
                last_body = i
            elif tag_at(i, "</", "html"):
                last_html = i
            i += 1
    if last_body is not None:
        return last_body
    if last_html is not None:
        return last_html
    return len(s.rstrip(" \t\r\n"))


def text_of(part):
    data = part.get_payload(decode=True)
    cs = (part.get_content_charset() or "us-ascii").lower()
    if cs == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        cs = "utf-16-be"
    return data.decode(cs).replace("\r\n", "\n")


def raw_body(part):
    return part._payload.encode("ascii", "surrogateescape")  # the raw body as parsed


def leaves(msg):
    out = []

    def walk(p):
        if p.is_multipart():
            for c in p.get_payload():
                walk(c)
        else:
            out.append(p)
    walk(msg)
    return out


def check_injected(name, data, out, parts):
    eol = b"\r\n" if b"\r\n" in data.split(b"\n", 1)[0] + b"\n" else b"\n"
    a = email.message_from_bytes(data, policy=email.policy.compat32)
    b = email.message_from_bytes(out, policy=email.policy.compat32)
    la, lb = leaves(a), leaves(b)
    if not check(len(la) == len(lb), name + ": same number of leaf parts"):
        return
    changed = 0
    restored = out
    for pa, pb in zip(la, lb):
        same_type = pa.get_content_type() == pb.get_content_type()
        check(same_type, name + ": same content types in order")
        ha = [(k, v) for k, v in pa.items() if k.lower() != "content-transfer-encoding"]
        hb = [(k, v) for k, v in pb.items() if k.lower() != "content-transfer-encoding"]
        check(ha == hb, name + ": part headers unchanged")
        da, db = pa.get_payload(decode=True), pb.get_payload(decode=True)
        if pa.get_content_type() == "message/rfc822":
            check(pa.as_bytes() == pb.as_bytes(), name + ": message/rfc822 untouched")
            continue
        if da == db or (da and db and da.replace(b"\r\n", b"\n") == db.replace(b"\r\n", b"\n")
                        and raw_body(pa) == raw_body(pb)):
            check(pa.get("Content-Transfer-Encoding") == pb.get("Content-Transfer-Encoding"),
                  name + ": unchanged part keeps its Content-Transfer-Encoding")
            continue
        changed += 1
        if not check(pa.get_content_type() == "text/html", name + ": only text/html changes"):
            continue
        ta, tb = text_of(pa), text_of(pb)
        ip = insert_point(ta)
        check(tb == ta[:ip] + TAG + ta[ip:],
              name + ": decoded HTML is the original plus one tag at %d" % ip)
        check(tb.count(TAG) == 1 + ta.count(TAG), name + ": exactly one tag added")
        # put the original raw body back
        rb, ra = raw_body(pb), raw_body(pa)
        check(restored.count(rb) == 1, name + ": new body found once in the output")
        restored = restored.replace(rb, ra, 1)
        cte_a, cte_b = pa.get("Content-Transfer-Encoding"), pb.get("Content-Transfer-Encoding")
        if cte_a != cte_b:
            check(cte_b == "quoted-printable", name + ": CTE changed only to quoted-printable")
            newf = b"Content-Transfer-Encoding: quoted-printable"
            if cte_a is None:
                restored = restored.replace(newf + eol, b"", 1)
            else:
                restored = restored.replace(
                    newf, b"Content-Transfer-Encoding: " + cte_a.encode(), 1)
    check(changed == parts, name + ": %d parts changed, expected %d" % (changed, parts))
    check(restored == data, name + ": bytes outside the modified bodies are the input's")
    long_lines = [ln for ln in out.split(b"\n") if len(ln.rstrip(b"\r")) > 998]
    check(not long_lines, name + ": no output line over 998 octets")
    if eol == b"\r\n":
        check(out.count(b"\n") == out.count(b"\r\n"), name + ": CRLF kept everywhere")
    else:
        check(b"\r" not in out, name + ": LF kept, no CR added")


def main():
    expect = []
    with open(os.path.join(CORPUS, "expect.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                fn, outcome, parts = line.split()
                expect.append((fn, outcome, int(parts)))
    check(len(expect) >= 30, "corpus has at least 30 messages")
    emls = sorted(f for f in os.listdir(CORPUS) if f.endswith(".eml"))
    check(emls == sorted(e[0] for e in expect), "expect.txt names every .eml exactly once")

    for fn, outcome, parts in expect:
        with open(os.path.join(CORPUS, fn), "rb") as f:
            data = f.read()
        r = subprocess.run([TOOL, "--stdout", "--token", TOKEN, "--base-url", BASE],
                           input=data, capture_output=True)
        err = r.stderr.decode(errors="replace").strip().splitlines()
        want_rc = 65 if outcome == "NOT_MESSAGE" else 0
        check(r.returncode == want_rc, "%s: exit %d, expected %d" % (fn, r.returncode, want_rc))
        check(len(err) == 1, "%s: one line on stderr, got %r" % (fn, err))
        got = err[0].split() if err else ["?"]
        check(got[0] == outcome, "%s: outcome %s, expected %s" % (fn, got[0], outcome))
        m = re.search(r"parts=(\d+)", err[0] if err else "")
        check(m is not None and int(m.group(1)) == parts, "%s: parts=%d expected" % (fn, parts))
        if outcome == "NOT_MESSAGE":
            check(r.stdout == b"", fn + ": nothing on stdout")
        elif outcome != "INJECTED":
            check(r.stdout == data, fn + ": output is the input byte for byte")
        else:
            check_injected(fn, data, r.stdout, parts)
            # the output fed in again gets a second tag, and is otherwise stable in shape
            r2 = subprocess.run([TOOL, "--stdout", "--token", TOKEN, "--base-url", BASE],
                                input=r.stdout, capture_output=True)
            check(r2.returncode == 0 and r2.stdout.count(URL.encode()) >= r.stdout.count(
                URL.encode()), fn + ": output can be processed again")

    for args in ([], ["--stdout"], ["--stdout", "--token", "a b", "--base-url", BASE],
                 ["--stdout", "--token", "x", "--base-url", "ftp://x"],
                 ["--stdout", "--token", "x", "--base-url", "https://x/\"y"],
                 ["--token", "x", "--base-url", BASE], ["--stdout", "--bogus"]):
        r = subprocess.run([TOOL] + args, input=b"", capture_output=True)
        check(r.returncode == 64, "args %r: exit 64, got %d" % (args, r.returncode))
    r = subprocess.run([TOOL, "--stdout", "--token", "x", "--base-url", BASE], input=b"",
                       capture_output=True)
    check(r.returncode == 65 and r.stdout == b"", "empty input: exit 65, nothing written")

    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
