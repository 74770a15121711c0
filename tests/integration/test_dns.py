#!/usr/bin/python3
"""test_dns.py - lib/dns against a real unbound on loopback, via pm-dnsq.

Checks A, AAAA, TXT (single, multi-string, 600-byte DKIM-like, with NUL
bytes), MX (preferences, null MX), PTR, CNAME chasing, NXDOMAIN, NODATA,
bad names (permfail), a server that never answers and a port where nothing
listens (tempfail within the timeout), and many concurrent lookups.
Prints 'N passed, M failed'; exits 1 if anything failed.
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.unbound import SilentUDP, Unbound, free_port  # noqa: E402

BUILD = os.environ.get("POSTMETER_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DNSQ = os.path.join(BUILD, "tests", "tools", "pm-dnsq")

# A DKIM-like record longer than one character-string: 600 bytes.
DKIM = "v=DKIM1; k=rsa; p=" + "".join(chr(ord("A") + i % 26) for i in range(582))
DKIM_PARTS = [DKIM[i:i + 255] for i in range(0, len(DKIM), 255)]

ZONES = [("example.test", "static"), ("2.0.192.in-addr.arpa", "static")]
DATA = [
    "a.example.test. 300 IN A 192.0.2.1",
    "a.example.test. 300 IN A 192.0.2.2",
    "v6.example.test. 300 IN AAAA 2001:db8::1",
    'txt.example.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    'multi.example.test. 300 IN TXT "v=spf1 " "include:a.example.test" " -all"',
    "sel._domainkey.example.test. 300 IN TXT " + " ".join('"%s"' % p for p in DKIM_PARTS),
    'bin.example.test. 300 IN TXT "a\\000b\\\\c\\009"',
    'empty.example.test. 300 IN TXT ""',
    "mx.example.test. 300 IN MX 20 mx2.example.test.",
    "mx.example.test. 300 IN MX 10 mx1.example.test.",
    "nullmx.example.test. 300 IN MX 0 .",
    "alias.example.test. 300 IN CNAME a.example.test.",
    "1.2.0.192.in-addr.arpa. 300 IN PTR a.example.test.",
    "2.2.0.192.in-addr.arpa. 300 IN PTR a.example.test.",
    "2.2.0.192.in-addr.arpa. 300 IN PTR b.example.test.",
]

passed = 0
failed = 0


def dnsq(server, qtype, name, timeout_ms=3000, extra=()):
    """Run pm-dnsq; return (status, answers, seconds)."""
    cmd = [DNSQ, "-s", server, "-t", str(timeout_ms)] + list(extra) + [qtype, name]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
    lines = p.stdout.splitlines()
    if not lines:
        raise AssertionError("%s printed nothing" % " ".join(cmd))
    return lines[0], lines[1:], took


def check(label, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print("ok   %s" % label)
    else:
        failed += 1
        print("FAIL %s\n     got:  %r\n     want: %r" % (label, got, want))


def expect(server, qtype, name, status, answers=None, sort=False, **kw):
    try:
        st, ans, _ = dnsq(server, qtype, name, **kw)
    except Exception as e:  # keep going: report every failure
        check("%s %s" % (qtype, name), repr(e), status)
        return
    if sort:
        ans = sorted(ans)
    check("%s %s" % (qtype, name), (st, ans) if answers is not None else st,
          (status, answers) if answers is not None else status)


def main():
    if not os.access(DNSQ, os.X_OK):
        print("FAIL pm-dnsq not built at %s" % DNSQ)
        return 1
    with tempfile.TemporaryDirectory(prefix="pm-dns-") as work:
        ub = Unbound(work, free_port(), local_zones=ZONES, local_data=DATA)
        ub.start()
        try:
            s = ub.server
            expect(s, "A", "a.example.test", "ok", ["192.0.2.1", "192.0.2.2"], sort=True)
            expect(s, "A", "A.Example.TEST.", "ok", ["192.0.2.1", "192.0.2.2"], sort=True)
            expect(s, "AAAA", "v6.example.test", "ok", ["2001:db8::1"])
            expect(s, "TXT", "txt.example.test", "ok", ["v=spf1 ip4:192.0.2.0/24 -all"])
            expect(s, "TXT", "multi.example.test", "ok",
                   ["v=spf1 include:a.example.test -all"])
            expect(s, "TXT", "sel._domainkey.example.test", "ok", [DKIM])
            check("DKIM record is 600 bytes in 3 strings", (len(DKIM), len(DKIM_PARTS)),
                  (600, 3))
            expect(s, "TXT", "bin.example.test", "ok", ["a\\000b\\\\c\\t"])
            expect(s, "TXT", "empty.example.test", "ok", [""])
            expect(s, "MX", "mx.example.test", "ok",
                   ["10 mx1.example.test", "20 mx2.example.test"], sort=True)
            expect(s, "MX", "nullmx.example.test", "ok", ["0 ."])
            expect(s, "A", "alias.example.test", "ok", ["192.0.2.1", "192.0.2.2"], sort=True)
            expect(s, "PTR", "1.2.0.192.in-addr.arpa", "ok", ["a.example.test"])
            expect(s, "PTR", "2.2.0.192.in-addr.arpa", "ok",
                   ["a.example.test", "b.example.test"], sort=True)
            expect(s, "A", "nope.example.test", "nxdomain", [])
            expect(s, "PTR", "9.2.0.192.in-addr.arpa", "nxdomain", [])
            expect(s, "TXT", "a.example.test", "nodata", [])
            expect(s, "MX", "v6.example.test", "nodata", [])
            expect(s, "AAAA", "a.example.test", "nodata", [])
            expect(s, "A", "x" * 64 + ".example.test", "permfail", [])
            expect(s, "A", "a..example.test", "permfail", [])
            expect(s, "A", ("a" * 60 + ".") * 5 + "test", "permfail", [])
            expect(s, "A", "", "permfail", [])
            # 32 lookups in flight at once from 8 threads, all answered alike
            expect(s, "TXT", "sel._domainkey.example.test", "ok", [DKIM],
                   extra=("-p", "32"))
            expect(s, "A", "nope.example.test", "nxdomain", [], extra=("-p", "32"))

            # Cache: the answer above outlives the server inside one
            # process (-w: wait between the first and second lookup).
            stopper = subprocess.Popen(
                [DNSQ, "-s", s, "-t", "1500", "-w", "1500", "AAAA", "v6.example.test"],
                stdout=subprocess.PIPE, text=True)
            time.sleep(0.7)
            ub.stop()
            out, _ = stopper.communicate(timeout=30)
            check("AAAA v6.example.test answered from the cache after unbound stopped",
                  out.splitlines(), ["ok", "2001:db8::1", "ok", "2001:db8::1"])
        finally:
            ub.stop()

        with SilentUDP(free_port()) as silent:
            st, ans, took = dnsq(silent.server, "A", "a.example.test", timeout_ms=1500)
            check("silent server -> tempfail", (st, ans), ("tempfail", []))
            check("silent server: returned after 1.5s timeout (took %.2fs)" % took,
                  1.45 <= took < 3.0, True)
            st, ans, took = dnsq(silent.server, "TXT", "a.example.test", timeout_ms=500,
                                 extra=("-p", "16"))
            check("silent server, 16 parallel -> tempfail (took %.2fs)" % took,
                  (st, took < 2.0), ("tempfail", True))

        closed = free_port()
        st, ans, took = dnsq("127.0.0.1@%d" % closed, "MX", "mx.example.test", timeout_ms=1000)
        check("nothing listening -> tempfail", (st, ans), ("tempfail", []))
        check("nothing listening: returned within timeout + margin (took %.2fs)" % took,
              took < 2.5, True)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
