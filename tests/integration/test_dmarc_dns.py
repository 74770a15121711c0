#!/usr/bin/python3
"""test_dmarc_dns.py - DMARC policy discovery through lib/dns against a real
unbound on loopback, via pm-dmarc.

Checks: record at the From domain; fallback from a sub-domain to the
organizational domain; a record split over several TXT strings and one
longer than 255 bytes; non-DMARC TXT records beside the DMARC one; two
DMARC records (none, no fallback); np= for a sub-domain that does not
exist (NXDOMAIN for A, AAAA and MX) but not for one that has only an MX;
alignment (relaxed, strict, HELO never); a server that never answers
(temperror within the timeout, never none); the forged-From cases end to
end; and many evaluations at once from 8 threads on one DNS context.
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
DMARC = os.path.join(BUILD, "tests", "tools", "pm-dmarc")

# "test" is not in the Public Suffix List: the implicit "*" rule makes
# x.y.reject.test's organizational domain reject.test.
LONG_RUA = ",".join("mailto:agg%02d@long.test" % i for i in range(14))
LONG = "v=DMARC1; p=reject; rua=" + LONG_RUA
LONG_PARTS = [LONG[i:i + 200] for i in range(0, len(LONG), 200)]

ZONES = [("test", "static")]
DATA = [
    '_dmarc.reject.test. 300 IN TXT "v=DMARC1; p=reject; rua=mailto:agg@reject.test"',
    'reject.test. 300 IN A 192.0.2.10',
    '_dmarc.split.test. 300 IN TXT "v=DMARC1; " "p=quarantine; " "rua=mailto:a@split.test"',
    "_dmarc.long.test. 300 IN TXT " + " ".join('"%s"' % p for p in LONG_PARTS),
    '_dmarc.two.test. 300 IN TXT "v=DMARC1; p=reject"',
    '_dmarc.two.test. 300 IN TXT "v=DMARC1; p=none"',
    '_dmarc.sub.two.test. 300 IN TXT "v=DMARC1; p=reject"',
    '_dmarc.sub.sub.two.test. 300 IN TXT "v=DMARC1; p=none"',
    '_dmarc.sub.sub.two.test. 300 IN TXT "v=DMARC1; p=quarantine"',
    '_dmarc.mixed.test. 300 IN TXT "v=spf1 -all"',
    '_dmarc.mixed.test. 300 IN TXT "v=DMARC1; p=quarantine; adkim=s; aspf=s"',
    '_dmarc.mixed.test. 300 IN TXT "v=DMARC2; p=none"',
    '_dmarc.np.test. 300 IN TXT "v=DMARC1; p=none; sp=quarantine; np=reject"',
    "exists.np.test. 300 IN A 192.0.2.1",
    "mxonly.np.test. 300 IN MX 10 mail.np.test.",
    '_dmarc.badp.test. 300 IN TXT "v=DMARC1; p=bogus; rua=mailto:a@badp.test"',
    '_dmarc.victim.test. 300 IN TXT "v=DMARC1; p=reject"',
    '_dmarc.attacker.test. 300 IN TXT "v=DMARC1; p=none"',
    '_dmarc.pct.test. 300 IN TXT "v=DMARC1; p=reject; pct=30"',
]

passed = 0
failed = 0


def dmarc(server, args, timeout_ms=3000):
    """Run pm-dmarc; return (dict of its key=value lines, seconds)."""
    cmd = [DMARC, "-s", server, "-t", str(timeout_ms)] + list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    if p.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out, took


def check(label, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print("ok   %s" % label)
    else:
        failed += 1
        print("FAIL %s\n     got:  %r\n     want: %r" % (label, got, want))


def expect(server, label, args, **want):
    """Evaluate and compare the named answer fields."""
    try:
        out, _ = dmarc(server, args)
    except Exception as e:  # keep going: report every failure
        check(label, repr(e), want)
        return
    got = {k: out.get(k) for k in want}
    if got != want:
        got["reason"] = out.get("reason")
    check(label, got, want)


def main():
    if not os.access(DMARC, os.X_OK):
        print("FAIL pm-dmarc not built at %s" % DMARC)
        return 1
    with tempfile.TemporaryDirectory(prefix="pm-dmarc-") as work:
        ub = Unbound(work, free_port(), local_zones=ZONES, local_data=DATA)
        ub.start()
        try:
            s = ub.server
            expect(s, "record at the From domain", ["-f", "A <a@reject.test>"],
                   result="fail", policy_domain="reject.test", org_domain="reject.test",
                   p="reject", source="p", disposition="reject",
                   rua="mailto:agg@reject.test")
            expect(s, "fallback to the organizational domain",
                   ["-f", "a@x.y.reject.test"],
                   result="fail", from_domain="x.y.reject.test", policy_domain="reject.test",
                   org_domain="reject.test", source="p", disposition="reject")
            expect(s, "relaxed DKIM alignment from a sub-domain signature",
                   ["-f", "a@x.y.reject.test", "-d", "fail:x.y.reject.test",
                    "-d", "pass:mail.reject.test"],
                   result="pass", dkim_aligned="yes", dkim_domain="mail.reject.test",
                   disposition="none")
            expect(s, "relaxed SPF alignment", ["-f", "a@reject.test",
                                                "-m", "pass:bounce.reject.test"],
                   result="pass", spf_aligned="yes")
            expect(s, "SPF pass for HELO never aligns",
                   ["-f", "a@reject.test", "-H", "pass:reject.test"],
                   result="fail", spf_aligned="no", disposition="reject")
            expect(s, "TXT in several strings", ["-f", "a@split.test"],
                   result="fail", p="quarantine", disposition="quarantine",
                   rua="mailto:a@split.test")
            expect(s, "TXT longer than 255 bytes (%d bytes, %d strings)"
                   % (len(LONG), len(LONG_PARTS)), ["-f", "a@long.test"],
                   result="fail", p="reject", rua=LONG_RUA)
            expect(s, "two DMARC records: none", ["-f", "a@two.test"],
                   result="none", policy_domain="", disposition="none")
            expect(s, "a sub-domain's own record wins over the org's",
                   ["-f", "a@sub.two.test"],
                   result="fail", policy_domain="sub.two.test", p="reject")
            expect(s, "two records at the sub-domain: none, no fallback",
                   ["-f", "a@sub.sub.two.test"], result="none", policy_domain="")
            expect(s, "non-DMARC TXT beside the record", ["-f", "a@mixed.test"],
                   result="fail", p="quarantine", adkim="s", aspf="s")
            expect(s, "strict DKIM: the org's signature does not align a sub-domain",
                   ["-f", "a@sub.mixed.test", "-d", "pass:mixed.test"],
                   result="fail", dkim_aligned="no", policy_domain="mixed.test")
            expect(s, "no record anywhere", ["-f", "a@nothing.test"],
                   result="none", disposition="none")
            expect(s, "invalid p= with a valid rua: p=none", ["-f", "a@badp.test"],
                   result="fail", p="none", disposition="none")
            expect(s, "np= for a non-existent sub-domain (NXDOMAIN A/AAAA/MX)",
                   ["-f", "a@ghost.np.test"],
                   result="fail", source="np", policy="reject", disposition="reject")
            expect(s, "np= not for an existing sub-domain (A)", ["-f", "a@exists.np.test"],
                   result="fail", source="sp", policy="quarantine",
                   disposition="quarantine")
            expect(s, "np= not for a sub-domain with only an MX", ["-f", "a@mxonly.np.test"],
                   result="fail", source="sp", disposition="quarantine")
            expect(s, "pct=30, sample 29: applied", ["-f", "a@pct.test", "-r", "29"],
                   result="fail", sampled="yes", disposition="reject")
            expect(s, "pct=30, sample 30: one step lower", ["-f", "a@pct.test", "-r", "30"],
                   result="fail", sampled="no", disposition="quarantine")
            # forged From fields end to end
            expect(s, "quoted local-part: victim.test's policy applies",
                   ["-f", '"x <a@attacker.test>"@victim.test', "-d", "pass:attacker.test"],
                   result="fail", from_domain="victim.test", disposition="reject")
            expect(s, "quoted local-part naming the victim: checked too",
                   ["-f", '"x <ceo@victim.test>"@attacker.test', "-d", "pass:attacker.test"],
                   result="fail", from_domain="victim.test", disposition="reject")
            expect(s, "two From fields", ["-f", "a@attacker.test", "-f", "ceo@victim.test",
                                          "-d", "pass:attacker.test"],
                   result="fail", from_domain="victim.test", from_flags="0xa")
            expect(s, "unbalanced angle bracket", ["-f", "CEO <ceo@victim.test",
                                                   "-d", "pass:attacker.test"],
                   result="fail", from_domain="victim.test", disposition="reject")
            expect(s, "no From field", [], result="permerror", from_domain="",
                   from_flags="0x1", reason="no From field")
            expect(s, "empty group", ["-f", "undisclosed-recipients:;"],
                   result="permerror", from_domain="")
            # one context, 8 threads, 64 evaluations
            try:
                out, _ = dmarc(s, ["-p", "64", "-f", "a@ghost.np.test, b@x.reject.test",
                                   "-d", "pass:reject.test"])
                check("64 parallel evaluations agree",
                      (out.get("result"), out.get("from_domain"), out.get("source")),
                      ("fail", "ghost.np.test", "np"))
            except Exception as e:
                check("64 parallel evaluations agree", repr(e), "ok")
        finally:
            ub.stop()

        with SilentUDP(free_port()) as silent:
            out, took = dmarc(silent.server, ["-f", "a@reject.test"], timeout_ms=1000)
            check("silent server -> temperror", (out["result"], out["disposition"]),
                  ("temperror", "none"))
            check("silent server: one timeout, not more (took %.2fs)" % took,
                  0.95 <= took < 2.8, True)
            out, took = dmarc(silent.server, ["-f", "a@x.reject.test"], timeout_ms=1500)
            check("silent server, sub-domain -> temperror, no fallback past a timeout",
                  (out["result"], out["policy_domain"]), ("temperror", ""))
            check("silent server, sub-domain: one timeout (took %.2fs)" % took,
                  1.45 <= took < 2.8, True)

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
