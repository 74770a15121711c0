#!/usr/bin/python3
"""test_spf_rfc7208.py - the RFC 7208 test suite through our SPF evaluator.

Reads /usr/share/doc/python3-spf/rfc7208-tests.yml.gz (the openspf.org
suite, release 2014.04, as shipped by Debian's python3-spf). For each of its
scenarios, serves the scenario's zone data from a small DNS server written
here (python3-dnslib) on a loopback UDP + TCP port, and runs every test case
of the scenario through pm-spf, which calls the same auth/spf.c code as
postmeter-milter and `postmeter spf`, with a fresh libunbound context per
case (no cache carried from one case to the next). A few cases also go
through the `postmeter spf` command itself.

The zone semantics are those of pyspf's own suite driver (testspf.py):
  - names match case-insensitively; a name not in the zone is NXDOMAIN
    (one starting with "error." times out); a name in the zone without a
    record of the asked type is NODATA;
  - "TIMEOUT" in a name's list: a lookup of a type not listed before it
    gets no answer at all (lib/dns turns that into a temporary error);
  - SPF (type 99) records are also served as TXT when the name has no TXT
    record; "TXT: NONE" suppresses that and serves nothing;
  - a TXT/SPF value is one string or a list of strings (one record with
    several character-strings, joined by the reader without a separator);
  - CNAMEs are chased inside the zone, the chain is part of the answer; a
    CNAME loop is answered SERVFAIL, as a recursive resolver does.
A case passes if our result is the expected one (or one of the listed
ones) and, where the suite gives an explanation, ours is identical. The
suite's driver sets the default explanation to "DEFAULT"; pm-spf -e does
the same. The suite names no receiver (%{r}) and checks no text that
holds %{r} or %{t}.

After the suite: the cases of the "Macro expansion rules" scenario through
`postmeter spf` (output format, exit status 0 whatever the result, 2 for
usage errors), then what the suite does not cover: the HELO identity
checked on its own, MX hosts without AAAA for an IPv6 client,
spf_cancel() of started checks, and the bound on an evaluation's time
(with answers the server delays on purpose).

Prints one line per failing case, a tally per scenario and
"SPF suite: N/203"; exits 1 unless every case and check passed.
"""

import gzip
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import yaml
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.unbound import free_port  # noqa: E402

SUITE = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"
SUITE_CASES = 203
BUILD = os.environ.get("POSTMETER_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PM_SPF = os.path.join(BUILD, "tests", "tools", "pm-spf")
POSTMETER = os.path.join(BUILD, "cli", "postmeter")
DNS_TIMEOUT_MS = 2000  # a TIMEOUT case costs this much; loaded CI machines need room


# ---------------------------------------------------------------- zone data

def load_zone(zonedata):
    """The suite's zonedata -> {lowercased name: [entry]}, where an entry is
    "TIMEOUT" or (type, value). Same rules as getrdata() in testspf.py."""
    zone = {}
    for name, records in (zonedata or {}).items():
        entries, generated, gen = [], [], True
        for m in records or []:
            if not isinstance(m, dict):
                entries.append(m)  # "TIMEOUT"
                continue
            for t, v in m.items():
                if t in ("TXT", "SPF") and isinstance(v, str):
                    v = (v,)
                elif t in ("TXT", "SPF"):
                    v = tuple(v)
                if t == "TXT":
                    gen = False
                elif t == "SPF" and gen:
                    generated.append(("TXT", v))
                if v != ("NONE",):
                    entries.append((t, v))
        if gen:
            entries += generated
        zone[str(name).lower()] = entries
    return zone


def _rdata(t, v):
    """dnslib rdata for one zone entry."""
    if t == "A":
        return QTYPE.A, A(v)
    if t == "AAAA":
        return QTYPE.AAAA, AAAA(v)
    if t == "PTR":
        return QTYPE.PTR, PTR(v)
    if t == "CNAME":
        return QTYPE.CNAME, CNAME(v)
    if t == "MX":
        pref, host = v
        return QTYPE.MX, MX(host if host else ".", int(pref))
    if t in ("TXT", "SPF"):
        return getattr(QTYPE, t), TXT([s.encode("utf-8") for s in v])
    raise ValueError("zone type %s not supported" % t)


class Timeout(Exception):
    """The suite says this lookup never gets an answer."""


def resolve(zone, name, qtype, seen=()):
    """-> (rcode, [(owner, type, value)]) for qtype (a QTYPE name);
    raises Timeout."""
    key = name.lower().rstrip(".")
    entries = zone.get(key)
    if entries is None:
        if key.startswith("error."):
            raise Timeout()
        return RCODE.NXDOMAIN, []
    answers, found = [], False
    for e in entries:
        if e == "TIMEOUT":
            if not found:
                raise Timeout()
            break
        t, v = e
        if t == qtype:
            found = True
        if v == "TIMEOUT":
            if t == qtype:
                raise Timeout()
            continue
        if t == qtype:
            answers.append((name, t, v))
    if answers or qtype == "CNAME":
        return RCODE.NOERROR, answers
    for e in entries:
        if e != "TIMEOUT" and e[0] == "CNAME":
            target = e[1]
            if key in seen or len(seen) > 10:
                return RCODE.SERVFAIL, []
            rcode, rest = resolve(zone, target, qtype, seen + (key,))
            return rcode, [(name, "CNAME", target)] + rest
    return RCODE.NOERROR, []


class ZoneServer:
    """Answers DNS queries from one scenario's zone on 127.0.0.1:port,
    UDP and TCP, from a background thread."""

    def __init__(self, zone, delays=None):
        self.zone = zone
        self.delays = delays or {}  # lowercased name -> seconds before the UDP answer
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.queries = 0

    @property
    def server(self):
        return "127.0.0.1@%d" % self.port

    def answer(self, data):
        """The reply packet for a query packet, or None (no answer)."""
        try:
            q = DNSRecord.parse(data)
        except Exception:  # not our business to answer junk
            return None
        self.queries += 1
        reply = q.reply()  # QR, RA, AA set; question copied as asked
        qname = b".".join(q.q.qname.label).decode("latin-1")
        qtype = QTYPE.get(q.q.qtype)
        try:
            rcode, records = resolve(self.zone, qname, qtype)
        except Timeout:
            return None
        reply.header.rcode = rcode
        for owner, t, v in records:
            rtype, rdata = _rdata(t, v)
            rname = q.q.qname if owner == qname else DNSLabel(owner)
            reply.add_answer(RR(rname, rtype, rdata=rdata, ttl=300))
        return reply.pack()

    @staticmethod
    def _qname(data):
        try:
            q = DNSRecord.parse(data)
        except Exception:
            return ""
        return b".".join(q.q.qname.label).decode("latin-1").lower()

    def _send_late(self, out, peer):
        try:
            self.udp.sendto(out, peer)
        except OSError:  # stopped meanwhile
            pass

    def _tcp_conn(self, conn):
        conn.settimeout(2)
        try:
            while True:
                hdr = conn.recv(2)
                if len(hdr) < 2:
                    return
                (n,) = struct.unpack(">H", hdr)
                data = b""
                while len(data) < n:
                    chunk = conn.recv(n - len(data))
                    if not chunk:
                        return
                    data += chunk
                out = self.answer(data)
                if out is None:
                    return
                conn.sendall(struct.pack(">H", len(out)) + out)
        except OSError:
            return
        finally:
            conn.close()

    def _run(self):
        while True:
            r, _, _ = select.select([self.udp, self.tcp, self.stop_r], [], [])
            if self.stop_r in r:
                return
            if self.udp in r:
                data, peer = self.udp.recvfrom(65535)
                out = self.answer(data)
                delay = self.delays.get(self._qname(data), 0)
                if out is not None and delay:
                    threading.Timer(delay, self._send_late, (out, peer)).start()
                elif out is not None:
                    self.udp.sendto(out, peer)
            if self.tcp in r:
                conn, _ = self.tcp.accept()
                threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True).start()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        os.write(self.stop_w, b"x")
        self.thread.join(5)
        for fd in (self.stop_r, self.stop_w):
            os.close(fd)
        self.udp.close()
        self.tcp.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------- the cases

def unescape(field):
    """Undo pm-spf's field escapes; "-" is None."""
    if field == "-":
        return None
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            n = field[i + 1]
            if n == "x":
                out.append(chr(int(field[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def expected_results(t):
    r = t["result"]
    return [r] if isinstance(r, str) else list(r)


def judge(name, t, result, explanation):
    """None if the case passed, else why not."""
    want = expected_results(t)
    if result not in want:
        return "result %s, want %s" % (result, "/".join(want))
    if "explanation" in t and t["explanation"] != explanation:
        return "explanation %r, want %r" % (explanation, t["explanation"])
    return None


def case_line(t):
    fields = [str(t["host"]), str(t["helo"]), str(t["mailfrom"])]
    for f in fields:
        if "\t" in f or "\n" in f:
            raise ValueError("case field with a tab or newline: %r" % f)
    return "\t".join(fields) + "\n"


def run_scenario(scenario):
    """Every case of one scenario through pm-spf; -> [(name, why or None, line)]."""
    zone = load_zone(scenario.get("zonedata"))
    names = list(scenario["tests"])
    cases = [scenario["tests"][n] for n in names]
    with ZoneServer(zone) as srv:
        p = subprocess.run([PM_SPF, "-a", "-s", srv.server, "-t", str(DNS_TIMEOUT_MS),
                            "-e", "DEFAULT"],
                           input="".join(case_line(t) for t in cases).encode("utf-8"),
                           capture_output=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError("pm-spf exited %d: %s"
                           % (p.returncode, p.stderr.decode(errors="replace")))
    lines = p.stdout.decode("ascii").splitlines()
    if len(lines) != len(cases):
        raise RuntimeError("pm-spf printed %d lines for %d cases" % (len(lines), len(cases)))
    out = []
    for name, t, line in zip(names, cases, lines):
        f = line.split("\t")
        out.append((name, judge(name, t, f[0], unescape(f[4])), line))
    return out


def cli_checks(scenario, tmp):
    """The cases of one scenario through `postmeter spf` (result word on
    line 1; explanation on line 2 where the suite gives one other than the
    driver's "DEFAULT"); plus usage errors. -> list of failures."""
    failures = []
    zone = load_zone(scenario.get("zonedata"))
    with ZoneServer(zone) as srv:
        conf = os.path.join(tmp, "postmeter.conf")
        with open(conf, "w") as f:
            f.write("dns_servers = %s\ndns_timeout_ms = %d\n" % (srv.server, DNS_TIMEOUT_MS))
        for name, t in scenario["tests"].items():
            cmd = [POSTMETER, "-c", conf, "spf", "--ip", str(t["host"]),
                   "--helo", str(t["helo"]), "--mail-from", str(t["mailfrom"])]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            lines = p.stdout.splitlines()
            if p.returncode != 0 or len(lines) < 2:
                failures.append("cli %s: exit %d, output %r %r"
                                % (name, p.returncode, p.stdout[:300], p.stderr[:300]))
                continue
            why = judge(name, {"result": t["result"]}, lines[0], None)
            if why is None and t.get("explanation", "DEFAULT") != "DEFAULT" \
                    and lines[1] != t["explanation"]:
                why = "explanation line %r, want %r" % (lines[1], t["explanation"])
            if why:
                failures.append("cli %s: %s" % (name, why))
    for args in ([], ["--ip", "192.0.2.1"], ["--ip", "not-an-ip", "--helo", "h.example",
                                              "--mail-from", "a@b.example"],
                 ["--ip", "192.0.2.1", "--helo", "h.example", "--bogus"]):
        p = subprocess.run([POSTMETER, "-c", conf, "spf"] + args, capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 2:
            failures.append("cli usage %r: exit %d, want 2" % (args, p.returncode))
    return failures


EXTRA_ZONE = {
    "example.org": [{"TXT": "v=spf1 ip4:192.0.2.0/24 -all"}],
    "helo.example.org": [{"TXT": "v=spf1 a -all"}, {"A": "203.0.113.5"}],
    "slow.example.org": [{"TXT": "v=spf1 a:s1.example.org a:s2.example.org "
                                 "a:s3.example.org -all"}],
    "s1.example.org": [{"A": "198.51.100.1"}],
    "s2.example.org": [{"A": "198.51.100.2"}],
    "s3.example.org": [{"A": "198.51.100.3"}],
    "stuck.example.org": ["TIMEOUT"],
    "v4mx.example.org": [{"TXT": "v=spf1 mx -all"}, {"MX": [10, "mx1.example.org"]},
                         {"MX": [20, "mx2.example.org"]}, {"MX": [30, "mx3.example.org"]}],
    "mx1.example.org": [{"A": "198.51.100.11"}],
    "mx2.example.org": [{"A": "198.51.100.12"}],
    "mx3.example.org": [{"A": "198.51.100.13"}, {"AAAA": "2001:db8::13"}],
}
EXTRA_DELAYS = {"s1.example.org": 0.4, "s2.example.org": 0.4, "s3.example.org": 0.4}


def extra_checks():
    """What the suite does not cover: the HELO identity on its own, MX
    hosts without AAAA for an IPv6 client (no void lookups), abandoning
    started checks, and the bound on an evaluation's time.
    -> list of failures."""
    failures = []
    zone = load_zone(EXTRA_ZONE)
    with ZoneServer(zone, EXTRA_DELAYS) as srv:
        def pm(args, lines):
            p = subprocess.run([PM_SPF, "-s", srv.server, "-t", str(DNS_TIMEOUT_MS)] + args,
                               input=lines.encode(), capture_output=True, timeout=120)
            if p.returncode != 0:
                failures.append("pm-spf %s exited %d: %s"
                                % (args, p.returncode, p.stderr.decode(errors="replace")[-2000:]))
            return [ln.split("\t") for ln in p.stdout.decode().splitlines()]

        out = pm(["-H"], "203.0.113.5\thelo.example.org\tuser@example.org\n"
                         "192.0.2.1\thelo.example.org\tuser@example.org\n")
        want = [["pass", "helo", "helo.example.org", "a"],
                ["fail", "helo", "helo.example.org", "-all"]]
        if [f[:4] for f in out] != want:
            failures.append("HELO identity: %r, want %r" % (out, want))
        out = pm([], "192.0.2.1\thelo.example.org\tuser@example.org\n")
        if not out or out[0][:4] != ["pass", "mailfrom", "example.org", "ip4:192.0.2.0/24"]:
            failures.append("MAIL FROM identity: %r" % out)
        # MX hosts without AAAA are no void lookups for an IPv6 client
        out = pm([], "2001:db8::99\th.example\tu@v4mx.example.org\n"
                     "2001:db8::13\th.example\tu@v4mx.example.org\n")
        if [f[:4] for f in out] != [["fail", "mailfrom", "v4mx.example.org", "-all"],
                                    ["pass", "mailfrom", "v4mx.example.org", "mx"]]:
            failures.append("mx for an IPv6 client: %r" % out)
        out = pm(["-x"], "192.0.2.1\th.example\tu@stuck.example.org\n"
                         "192.0.2.1\th.example\tu@example.org\n")
        if out != [["cancelled"], ["cancelled"]]:
            failures.append("spf_cancel: %r" % out)
        t0 = time.monotonic()
        out = pm(["-T", "500"], "198.51.100.3\th.example\tu@slow.example.org\n")
        took = time.monotonic() - t0
        if not out or out[0][0] != "temperror" or "longer than 500 ms" not in out[0][5]:
            failures.append("max_time: %r, want temperror (longer than 500 ms)" % out)
        elif took > 5:
            failures.append("max_time: took %.1fs" % took)
        out = pm([], "198.51.100.3\th.example\tu@slow.example.org\n")
        if not out or out[0][0] != "pass":
            failures.append("without max_time: %r, want pass" % out)
    return failures


def main():
    for path in (PM_SPF, POSTMETER):
        if not os.access(path, os.X_OK):
            print("missing %s (build first)" % path)
            return 1
    if not os.path.exists(SUITE):
        print("missing %s (apt-get install python3-spf)" % SUITE)
        return 1
    with gzip.open(SUITE, "rb") as f:
        scenarios = list(yaml.safe_load_all(f))
    total = passed = 0
    t0 = time.monotonic()
    for scenario in scenarios:
        s0 = time.monotonic()
        results = run_scenario(scenario)
        ok = 0
        for name, why, line in results:
            if why is None:
                ok += 1
            else:
                print("FAIL %s: %s\n     pm-spf: %s" % (name, why, line))
        total += len(results)
        passed += ok
        print("%3d/%-3d %-45s %5.1fs" % (ok, len(results), scenario.get("description", "?"),
                                       time.monotonic() - s0))
    print("SPF suite: %d/%d in %.1fs" % (passed, total, time.monotonic() - t0))

    macro = [s for s in scenarios if s.get("description") == "Macro expansion rules"]
    with tempfile.TemporaryDirectory(prefix="pm-spf-cli-") as tmp:
        cli_fail = cli_checks(macro[0], tmp) if macro else ["no macro scenario in the suite"]
    for f in cli_fail:
        print("FAIL %s" % f)
    print("postmeter spf: %s" % ("ok" if not cli_fail else "%d failures" % len(cli_fail)))
    extra_fail = extra_checks()
    for f in extra_fail:
        print("FAIL %s" % f)
    print("checks beyond the suite: %s"
          % ("ok" if not extra_fail else "%d failures" % len(extra_fail)))
    if total != SUITE_CASES:
        print("FAIL the suite has %d cases, expected %d" % (total, SUITE_CASES))
        return 1
    return 0 if passed == total and not cli_fail and not extra_fail else 1


if __name__ == "__main__":
    sys.exit(main())
