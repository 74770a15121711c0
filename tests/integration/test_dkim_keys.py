#!/usr/bin/python3
"""test_dkim_keys.py - postmeter dkim keygen | list | rotate | remove and
postmeter dns [--check], end to end with a temporary database, key
directory and a loopback unbound.

Checks: RSA and Ed25519 keys made into a new key directory (mode 0750),
each file 0640, owner root, group of the configured user (nobody); the
printed TXT record carries the key: a message signed with the key file by
python3-dkim verifies against the printed record (and fails against the
other key's); the default selectors s/eYYYYMMDD and the -2 suffix; refusal
to overwrite a key file or reuse a selector; list as table, CSV and JSON;
rotate (pending, refusal of a second pending key, --activate refused while
the record is not in DNS, then done once it is: old key retired), remove
(active refused, --force, --delete-file); dns: every record in zone-file
syntax; dns --check against unbound: all ok, nothing published (missing,
exit 1), another key published (different, exit 1), an admin's own SPF
and DMARC (ok, with a note), two SPF records (error), and a server that
never answers (timeout, exit 1, never "missing"). No command ever prints
any part of a private key.
Prints 'N passed, M failed'; exits 1 if anything failed.
"""

import base64
import grp
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.unbound import SilentUDP, Unbound, free_port  # noqa: E402

import dkim  # noqa: E402  (python3-dkim; Ed25519 through python3-nacl)

BUILD = os.environ.get("POSTMETER_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PM = os.path.join(BUILD, "cli", "postmeter")
DOMAIN = "example.test"
TODAY = time.strftime("%Y%m%d", time.gmtime())

passed = 0
failed = 0
outputs = []  # every stdout and stderr, to look for private key material at the end
bodies = []  # (key file, PEM body) of every key made, read as soon as it is made


def check(label, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print("ok   %s" % label)
    else:
        failed += 1
        print("FAIL %s\n     got:  %r\n     want: %r" % (label, got, want))


class Env:
    """A temporary postmeter.conf, database and key directory."""

    def __init__(self, work):
        self.work = work
        self.keydir = os.path.join(work, "keys")
        self.db = os.path.join(work, "pm.db")
        self.conf = os.path.join(work, "postmeter.conf")
        self.write_conf("127.0.0.1@1")

    def write_conf(self, dns_server, timeout_ms=2000):
        with open(self.conf, "w") as f:
            f.write("database = %s\n" % self.db)
            f.write("dkim_key_dir = %s\n" % self.keydir)
            f.write("dns_servers = %s\n" % dns_server)
            f.write("dns_timeout_ms = %d\n" % timeout_ms)
            f.write("user = nobody\n")
            f.write("hostname = mx.%s\n" % DOMAIN)

    def pm(self, *args, timeout=120):
        """Run postmeter -c CONF ARGS; return (status, stdout, stderr)."""
        p = subprocess.run([PM, "-c", self.conf] + list(args), capture_output=True, text=True,
                           timeout=timeout)
        outputs.append(p.stdout)
        outputs.append(p.stderr)
        return p.returncode, p.stdout, p.stderr


def zone_records(text):
    """The records of zone-file text: comments dropped, ( ) continuations joined."""
    records, cur, depth = [], "", 0
    for line in text.splitlines():
        if line.startswith(";"):
            continue
        cur += " " + line
        depth += line.count("(") - line.count(")")
        if depth == 0 and cur.strip():
            records.append(" ".join(cur.replace("(", " ").replace(")", " ").split()))
            cur = ""
    return records


def txt_value(record):
    """The joined character-strings of a TXT record line."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', record))


def key_record(text):
    """(owner, value) of the one DKIM TXT record printed by keygen/rotate."""
    recs = [r for r in zone_records(text) if "._domainkey." in r]
    if len(recs) != 1:
        raise AssertionError("expected one DKIM record in:\n" + text)
    return recs[0].split()[0], txt_value(recs[0])


def key_file(text):
    """The key file keygen/rotate reported (its PEM body remembered for test_no_secrets)."""
    m = re.search(r"^; private key: (\S+) ", text, re.M)
    if not m:
        raise AssertionError("no key file in:\n" + text)
    body = pem_body(m.group(1))
    if (m.group(1), body) not in bodies:
        bodies.append((m.group(1), body))
    return m.group(1)


def local_data(records):
    """Zone records as unbound local-data (a TTL added)."""
    return [r.replace(" IN ", " 300 IN ", 1) for r in records]


MESSAGE = (b"From: Alice <alice@example.test>\r\n"
           b"To: Bob <bob@example.net>\r\n"
           b"Subject: key check\r\n"
           b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
           b"Message-ID: <keys-1@example.test>\r\n"
           b"\r\n"
           b"Signed with a key postmeter made.\r\n")


def pem_body(path):
    with open(path) as f:
        lines = [l.strip() for l in f if not l.startswith("-----")]
    return "".join(lines)


def signs_and_verifies(path, selector, value, algorithm):
    """Sign MESSAGE with the key file, verify against TXT value; True if it verifies."""
    with open(path, "rb") as f:
        pem = f.read()
    if algorithm == b"ed25519-sha256":
        der = base64.b64decode(pem_body(path))
        # PKCS#8 Ed25519: a fixed 16-byte prefix, then the 32-byte seed (RFC 8410).
        if len(der) != 48 or der[:16] != bytes.fromhex("302e020100300506032b657004220420"):
            raise AssertionError("unexpected Ed25519 PKCS#8 layout")
        privkey = base64.b64encode(der[16:])
    else:
        privkey = pem
    sig = dkim.sign(MESSAGE, selector.encode(), DOMAIN.encode(), privkey,
                    signature_algorithm=algorithm)

    def dnsfunc(name, timeout=5):
        want = ("%s._domainkey.%s." % (selector, DOMAIN)).encode()
        return value.encode() if name in (want, want[:-1]) else None

    return dkim.verify(sig + MESSAGE, dnsfunc=dnsfunc)


def test_keygen(env):
    """keygen RSA and Ed25519; returns {selector: (file, txt value)}."""
    keys = {}
    rc, out, err = env.pm("dkim", "keygen", DOMAIN)
    check("keygen rsa: exit 0", (rc, err.count("private")), (0, 0))
    owner, value = key_record(out)
    sel = "s" + TODAY
    check("keygen rsa: default selector s<date>", owner, "%s._domainkey.%s." % (sel, DOMAIN))
    check("keygen rsa: active", "active (signs" in out, True)
    path = key_file(out)
    keys[sel] = (path, value)
    check("keygen rsa: file DOMAIN.SELECTOR.key in dkim_key_dir",
          path, os.path.join(env.keydir, "%s.%s.key" % (DOMAIN, sel)))
    st = os.stat(path)
    nobody_gid = pwd.getpwnam("nobody").pw_gid
    check("keygen rsa: mode 0640, owner root, group of user nobody (%s)"
          % grp.getgrgid(nobody_gid).gr_name,
          (oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid), (oct(0o640), 0, nobody_gid))
    dst = os.stat(env.keydir)
    check("keygen: key directory made 0750, group nobody's",
          (oct(stat.S_IMODE(dst.st_mode)), dst.st_gid), (oct(0o750), nobody_gid))
    with open(path) as f:
        check("keygen rsa: PKCS#8 PEM", f.readline().strip(), "-----BEGIN PRIVATE KEY-----")
    check("keygen rsa: TXT value starts v=DKIM1; k=rsa; p=MIIB",
          value.startswith("v=DKIM1; k=rsa; p=MIIB"), True)
    check("keygen rsa: long record split into strings of at most 255 bytes",
          max(len(s) for s in re.findall(r'"([^"]*)"', out)) <= 255 and out.count('"') == 4, True)
    check("keygen rsa: python3-dkim verifies a signature with the printed record",
          signs_and_verifies(path, sel, value, b"rsa-sha256"), True)

    rc, out, err = env.pm("dkim", "keygen", DOMAIN.upper(), "--algorithm", "ed25519")
    check("keygen ed25519: exit 0", rc, 0)
    owner, value = key_record(out)
    esel = "e" + TODAY
    check("keygen ed25519: default selector e<date>, domain lower-cased",
          owner, "%s._domainkey.%s." % (esel, DOMAIN))
    check("keygen ed25519: active (no active Ed25519 key before)", "active (signs" in out, True)
    epath = key_file(out)
    keys[esel] = (epath, value)
    m = re.fullmatch(r"v=DKIM1; k=ed25519; p=([A-Za-z0-9+/=]+)", value)
    check("keygen ed25519: p= is the raw 32-byte key (RFC 8463)",
          bool(m) and len(base64.b64decode(m.group(1))) == 32, True)
    st = os.stat(epath)
    check("keygen ed25519: mode 0640, group nobody's",
          (oct(stat.S_IMODE(st.st_mode)), st.st_gid), (oct(0o640), nobody_gid))
    check("keygen ed25519: python3-dkim verifies a signature with the printed record",
          signs_and_verifies(epath, esel, value, b"ed25519-sha256"), True)

    rc, out, err = env.pm("dkim", "keygen", DOMAIN, "--bits", "1024")
    sel2 = "s%s-2" % TODAY
    owner, value = key_record(out)
    check("keygen rsa again: same day -> -2 suffix, pending (domain signs with rsa already)",
          (rc, owner, "pending (published, not signing)" in out),
          (0, "%s._domainkey.%s." % (sel2, DOMAIN), True))
    keys[sel2] = (key_file(out), value)
    check("keygen rsa 1024: verifies", signs_and_verifies(key_file(out), sel2, value,
                                                          b"rsa-sha256"), True)
    check("keygen: a signature by another key does not verify against the first record",
          signs_and_verifies(key_file(out), sel, keys[sel][1], b"rsa-sha256"), False)

    rc, out, err = env.pm("dkim", "keygen", DOMAIN, "--selector", sel)
    check("keygen: a selector in use is refused", (rc, "already has a key" in err), (1, True))
    squat = os.path.join(env.keydir, "%s.squat.key" % DOMAIN)
    with open(squat, "w") as f:
        f.write("not ours\n")
    rc, out, err = env.pm("dkim", "keygen", DOMAIN, "--selector", "squat")
    with open(squat) as f:
        kept = f.read()
    check("keygen: an existing key file is never overwritten",
          (rc, "refusing to overwrite" in err, kept), (1, True, "not ours\n"))
    os.unlink(squat)
    for args, label in [(["--bits", "512"], "--bits 512"), (["--bits", "8192"], "--bits 8192"),
                        (["--algorithm", "ed25519", "--bits", "2048"], "ed25519 with --bits"),
                        (["--algorithm", "dsa"], "--algorithm dsa"),
                        (["--selector", "../x"], "--selector ../x")]:
        rc, out, err = env.pm("dkim", "keygen", DOMAIN, *args)
        check("keygen %s: usage error" % label, rc, 2)
    rc, out, err = env.pm("dkim", "keygen", "not_a_domain")
    check("keygen: bad domain is a usage error", rc, 2)
    left = sorted(n for n in os.listdir(env.keydir))
    check("keygen: no stray files (temporaries or refused keys) in the key directory",
          left, sorted("%s.%s.key" % (DOMAIN, s) for s in keys))
    return keys


def test_list(env, keys):
    rc, out, err = env.pm("dkim", "list")
    lines = out.splitlines()
    check("list: table header", lines[0].split()[:5],
          ["domain", "selector", "algorithm", "bits", "state"])
    check("list: active keys first, then pending",
          [l.split()[1] + ":" + l.split()[4] for l in lines[1:]],
          ["e%s:active" % TODAY, "s%s:active" % TODAY, "s%s-2:pending" % TODAY])
    rc, out, err = env.pm("dkim", "list", DOMAIN, "--format", "json")
    rows = json.loads(out)
    check("list json: fields", sorted(rows[0].keys()),
          sorted(["domain", "selector", "algorithm", "bits", "state", "created_at",
                  "activated_at", "retired_at", "key_file"]))
    check("list json: algorithms, bits, files",
          sorted((r["selector"], r["algorithm"], r["bits"], r["key_file"]) for r in rows),
          sorted([("e" + TODAY, "ed25519-sha256", 256, keys["e" + TODAY][0]),
                  ("s" + TODAY, "rsa-sha256", 2048, keys["s" + TODAY][0]),
                  ("s%s-2" % TODAY, "rsa-sha256", 1024, keys["s%s-2" % TODAY][0])]))
    check("list json: pending key has no activated_at",
          [r["activated_at"] for r in rows if r["state"] == "pending"], [None])
    rc, out, err = env.pm("dkim", "list", "--format", "csv", "other.test")
    check("list csv of a domain without keys: header only", (rc, out.splitlines()),
          (0, ["domain,selector,algorithm,bits,state,created_at,activated_at,retired_at,"
               "key_file"]))


def test_dns_print(env, keys):
    rc, out, err = env.pm("dns", DOMAIN)
    recs = zone_records(out)
    check("dns: exit 0", rc, 0)
    dk = {r.split()[0].split(".")[0]: txt_value(r) for r in recs if "._domainkey." in r}
    check("dns: one DKIM record per key, the same values keygen printed",
          dk, {s: v for s, (p, v) in keys.items()})
    check("dns: SPF suggestion", '%s. IN TXT "v=spf1 mx -all"' % DOMAIN in recs, True)
    check("dns: DMARC p=none with rua at the domain",
          '_dmarc.%s. IN TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@%s"' % (DOMAIN, DOMAIN)
          in recs, True)
    check("dns: DMARC comment says to tighten later", "tighten" in out and "p=reject" in out, True)
    check("dns: MX hint", "%s. IN MX 10 mx.%s." % (DOMAIN, DOMAIN) in recs, True)
    rc, out, err = env.pm("dns", DOMAIN, "--mx", "in.mail.test", "--rua", "agg@reports.test")
    recs = zone_records(out)
    check("dns --mx elsewhere: SPF also names this host, MX the given one",
          ('%s. IN TXT "v=spf1 mx a:mx.%s -all"' % (DOMAIN, DOMAIN) in recs,
           "%s. IN MX 10 in.mail.test." % DOMAIN in recs), (True, True))
    check("dns --rua at another domain: the authorization record is mentioned",
          "%s._report._dmarc.reports.test. IN TXT" % DOMAIN in out, True)
    return zone_records(env.pm("dns", DOMAIN)[1])


def run_check(env, work, data, label):
    ub = Unbound(os.path.join(work, "ub-" + label), free_port(),
                 local_zones=[(DOMAIN, "static")], local_data=data)
    ub.start()
    try:
        env.write_conf(ub.server)
        rc, out, err = env.pm("dns", DOMAIN, "--check")
    finally:
        ub.stop()
    lines = {}
    for line in out.splitlines()[:-1]:
        status, kind, name = line.split()[:3]
        lines[(kind, name.rstrip(":"))] = (status, line)
    return rc, lines, out


def statuses(lines):
    return sorted((k[0], k[1], v[0]) for k, v in lines.items())


def test_dns_check(env, work, records, keys):
    names = {s: "%s._domainkey.%s" % (s, DOMAIN) for s in keys}
    rc, lines, out = run_check(env, work, local_data(records), "all")
    check("dns --check, all published: every record ok, exit 0", (rc, statuses(lines)),
          (0, sorted([("DKIM", n, "ok") for n in names.values()] +
                     [("SPF", DOMAIN, "ok"), ("DMARC", "_dmarc." + DOMAIN, "ok"),
                      ("MX", DOMAIN, "ok")])))
    check("dns --check, all published: DMARC p=none gets the tighten note",
          "p=none only monitors" in lines[("DMARC", "_dmarc." + DOMAIN)][1], True)

    rc, lines, out = run_check(env, work, [], "none")
    check("dns --check, nothing published: every record missing, exit 1",
          (rc, sorted(set(v[0] for v in lines.values()))), (1, ["missing"]))

    # Another RSA key at the active selector; the admin's own SPF and DMARC.
    rsa = "s" + TODAY
    other = keys["s%s-2" % TODAY][1]
    data = [r for r in local_data(records)
            if not r.startswith(names[rsa] + ".") and "v=spf1" not in r and "DMARC1" not in r]
    data.append('%s. 300 IN TXT "%s"' % (names[rsa], other))
    data.append('%s. 300 IN TXT "v=spf1 ip4:192.0.2.25 -all"' % DOMAIN)
    data.append('_dmarc.%s. 300 IN TXT "v=DMARC1; p=reject; adkim=s"' % DOMAIN)
    rc, lines, out = run_check(env, work, data, "other")
    check("dns --check, another key at a selector: different, exit 1",
          (rc, lines[("DKIM", names[rsa])][0]), (1, "different"))
    check("dns --check, different: shows what was found",
          other[:40] in lines[("DKIM", names[rsa])][1], True)
    check("dns --check, the admin's stricter SPF: ok, with a note and the record",
          (lines[("SPF", DOMAIN)][0], "differs from the suggestion" in lines[("SPF", DOMAIN)][1],
           "ip4:192.0.2.25" in lines[("SPF", DOMAIN)][1]), ("ok", True, True))
    check("dns --check, p=reject DMARC: ok without the tighten note",
          (lines[("DMARC", "_dmarc." + DOMAIN)][0],
           "only monitors" in lines[("DMARC", "_dmarc." + DOMAIN)][1]), ("ok", False))
    check("dns --check: other records still ok",
          [lines[("DKIM", names[s])][0] for s in sorted(names) if s != rsa], ["ok", "ok"])

    data = local_data(records) + ['%s. 300 IN TXT "v=spf1 a -all"' % DOMAIN]
    rc, lines, out = run_check(env, work, data, "twospf")
    check("dns --check, two SPF records: error, exit 1",
          (rc, lines[("SPF", DOMAIN)][0], "2 SPF records" in lines[("SPF", DOMAIN)][1]),
          (1, "error", True))

    with SilentUDP(free_port()) as silent:
        env.write_conf(silent.server, timeout_ms=800)
        t0 = time.monotonic()
        rc, out, err = env.pm("dns", DOMAIN, "--check")
        took = time.monotonic() - t0
    rows = [l.split()[0] for l in out.splitlines()[:-1]]
    check("dns --check, server never answers: timeout (not missing) for all, exit 1",
          (rc, sorted(set(rows)), "no answer from DNS within 800 ms" in out),
          (1, ["timeout"], True))
    check("dns --check, timeouts overlap: %.1fs for %d lookups" % (took, len(rows)),
          took < 5, True)


def test_rotate(env, work, keys):
    rc, out, err = env.pm("dkim", "rotate", DOMAIN)
    check("rotate: refused while both algorithms are active and none named",
          (rc, "--algorithm" in err), (1, True))
    rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--algorithm", "rsa")
    check("rotate rsa: refused while a pending rsa key exists", (rc, "pending" in err), (1, True))

    sel2 = "s%s-2" % TODAY
    rc, out, err = env.pm("dkim", "remove", DOMAIN, sel2, "--delete-file")
    check("remove pending --delete-file: exit 0, file gone",
          (rc, os.path.exists(keys[sel2][0])), (0, False))
    del keys[sel2]

    rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--algorithm", "rsa")
    owner, value = key_record(out)
    new = owner.split(".")[0]
    check("rotate rsa: new pending key keeps the active key's size",
          (rc, "pending" in out, "of 2048 bits" in out), (0, True, True))
    keys[new] = (key_file(out), value)
    check("rotate rsa: printed record verifies",
          signs_and_verifies(keys[new][0], new, value, b"rsa-sha256"), True)

    # Activation waits for DNS.
    ub = Unbound(os.path.join(work, "ub-rotate-none"), free_port(),
                 local_zones=[(DOMAIN, "static")], local_data=[])
    ub.start()
    try:
        env.write_conf(ub.server)
        rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--activate")
        check("rotate --activate: refused while the record is not in DNS",
              (rc, "not activated" in err, "missing" in err), (1, True, True))
    finally:
        ub.stop()
    records = zone_records(env.pm("dns", DOMAIN)[1])
    ub = Unbound(os.path.join(work, "ub-rotate"), free_port(),
                 local_zones=[(DOMAIN, "static")], local_data=local_data(records))
    ub.start()
    try:
        env.write_conf(ub.server)
        rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--activate")
        check("rotate --activate: once published, active; old key retired",
              (rc, "%s (rsa-sha256) is active" % new in out,
               "s%s is retired" % TODAY in out), (0, True, True))
        rc, out, err = env.pm("dns", DOMAIN, "--check")
        check("dns --check after rotation: retired key still published and ok, exit 0",
              (rc, "ok        DKIM  s%s._domainkey.%s (rsa-sha256, retired)" % (TODAY, DOMAIN)
               in out), (0, True))
    finally:
        ub.stop()
    rows = {r["selector"]: r for r in json.loads(env.pm("dkim", "list", "--format",
                                                        "json")[1])}
    check("list after rotation: states and times",
          (rows[new]["state"], rows[new]["activated_at"] is not None,
           rows["s" + TODAY]["state"], rows["s" + TODAY]["retired_at"] is not None),
          ("active", True, "retired", True))

    rc, out, err = env.pm("dkim", "remove", DOMAIN, new)
    check("remove active: refused without --force", (rc, "is active" in err), (1, True))
    rc, out, err = env.pm("dkim", "remove", DOMAIN, "s" + TODAY)
    check("remove retired: exit 0, file kept, DNS clean-up mentioned",
          (rc, os.path.exists(keys["s" + TODAY][0]), "remove the TXT record" in out),
          (0, True, True))
    rc, out, err = env.pm("dkim", "remove", DOMAIN, "s" + TODAY)
    check("remove unknown selector: exit 1", rc, 1)

    # --force: activate without DNS (a server that never answers).
    rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--algorithm", "ed25519")
    eowner, evalue = key_record(out)
    enew = eowner.split(".")[0]
    epath = key_file(out)
    check("rotate ed25519: second key of the day named e<date>-2",
          (rc, enew), (0, "e%s-2" % TODAY))
    with SilentUDP(free_port()) as silent:
        env.write_conf(silent.server, timeout_ms=500)
        rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--activate", enew)
        check("rotate --activate during a DNS timeout: refused, says timeout",
              (rc, "timeout" in err), (1, True))
        rc, out, err = env.pm("dkim", "rotate", DOMAIN, "--activate", enew, "--force")
        check("rotate --activate --force: done with a warning",
              (rc, "activating anyway" in err, "is retired" in out), (0, True, True))
    rc, out, err = env.pm("dkim", "remove", DOMAIN, enew, "--force", "--delete-file")
    check("remove active --force --delete-file: exit 0, file gone",
          (rc, os.path.exists(epath)), (0, False))


def as_nobody():
    nob = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(nob.pw_gid)
    os.setuid(nob.pw_uid)


def ed25519_public(pem_path):
    """The p= value of an Ed25519 PEM key file (openssl)."""
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return base64.b64encode(der[-32:]).decode()


def test_user_db(work):
    """Root's CLI on a database in the service user's directory: the database names key files,
    and the user can write it; the database itself is worked on as the user."""
    nob = pwd.getpwnam("nobody")
    os.chmod(work, 0o755)  # nobody must reach its database
    w = os.path.join(work, "u")
    os.mkdir(w, 0o755)
    env = Env(w)
    udir = os.path.join(w, "db")
    os.mkdir(udir, 0o750)
    os.chown(udir, nob.pw_uid, nob.pw_gid)
    env.db = os.path.join(udir, "pm.db")
    env.write_conf("127.0.0.1@1", timeout_ms=300)
    rc, out, err = env.pm("db", "migrate")
    check("user's db directory: db migrate as root: exit 0", rc, 0)
    check("user's db directory: the new database was made as the user",
          os.stat(env.db).st_uid, nob.pw_uid)
    rc, out, err = env.pm("dkim", "keygen", DOMAIN, "--algorithm", "ed25519")
    st = os.stat(key_file(out))
    check("user's db directory: keygen still makes root's 0640 key file of group nogroup",
          (rc, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, 0, nob.pw_gid, 0o640))

    for name in os.listdir(udir):  # as the milter's start-up would: the user's files
        os.chown(os.path.join(udir, name), nob.pw_uid, nob.pw_gid)
    secret = os.path.join(work, "secret.pem")  # root's, readable by root only
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", secret], check=True,
                   capture_output=True)
    os.chmod(secret, 0o600)
    fifo = os.path.join(udir, "fifo.key")
    # The user writes the database: one row names root's key, one a FIFO of its own.
    plant = ("import sqlite3, os, sys\n"
             "os.mkfifo(sys.argv[3])\n"
             "c = sqlite3.connect(sys.argv[1])\n"
             "for sel, f in (('old', sys.argv[2]), ('fifo', sys.argv[3])):\n"
             "    c.execute(\"insert into dkim_keys (domain, selector, algorithm, bits, key_file, \"\n"
             "              \"state, created_at) select domain, ?, algorithm, bits, ?, 'retired', \"\n"
             "              \"created_at from dkim_keys limit 1\", (sel, f))\n"
             "c.commit()\n")
    subprocess.run(["/usr/bin/python3", "-c", plant, env.db, secret, fifo], check=True,
                   preexec_fn=as_nobody, cwd="/")
    try:
        rc, out, err = env.pm("dns", DOMAIN, timeout=30)
        check("dns: a FIFO as key file does not hang it, root's key outside dkim_key_dir is "
              "not read (exit 1: records it cannot print)",
              (rc, ed25519_public(secret) in out,
               out.count("is not a file directly in dkim_key_dir")), (1, False, 2))
    except subprocess.TimeoutExpired:
        check("dns: a FIFO as key file does not hang it", "hung", "finished")
    rc, out, err = env.pm("dkim", "remove", DOMAIN, "old", "--delete-file", timeout=30)
    rc2, listed, _ = env.pm("dkim", "list", "--format", "csv")
    check("remove --delete-file of root's file outside dkim_key_dir: refused, file kept, row gone",
          (rc, os.path.exists(secret), "names %s as its key file" % secret in err,
           ",old," in listed), (1, True, True, False))
    # A row naming another domain's key file in dkim_key_dir: only DOMAIN.SELECTOR.key,
    # from the command line, is ever deleted.
    rc, out, err = env.pm("dkim", "keygen", "other.test", "--algorithm", "ed25519")
    other = key_file(out)
    plant = ("import sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1])\n"
             "c.execute(\"insert into dkim_keys (domain, selector, algorithm, bits, key_file, \"\n"
             "          \"state, created_at) select ?, 'victim', algorithm, bits, ?, 'retired', \"\n"
             "          \"created_at from dkim_keys limit 1\", (sys.argv[3], sys.argv[2]))\n"
             "c.commit()\n")
    subprocess.run(["/usr/bin/python3", "-c", plant, env.db, other, DOMAIN], check=True,
                   preexec_fn=as_nobody, cwd="/")
    rc, out, err = env.pm("dkim", "remove", DOMAIN, "victim", "--delete-file", timeout=30)
    check("remove --delete-file of a row naming another domain's key file: refused, file kept",
          (rc, os.path.exists(other), "not deleted" in err), (1, True, True))
    # A database file only root could read: root's CLI does not open it as root.
    os.chown(env.db, 0, 0)
    os.chmod(env.db, 0o600)
    rc, out, err = env.pm("dkim", "list")
    check("a database only root can read, in the user's directory: not opened as root",
          (rc, "pm.db" in err), (1, True))


def test_config(work):
    conf = os.path.join(work, "bad.conf")
    with open(conf, "w") as f:
        f.write("dkim_key_dir = keys\n")
    p = subprocess.run([PM, "-c", conf, "dkim", "list"], capture_output=True, text=True)
    check("config: a relative dkim_key_dir is refused",
          (p.returncode, "dkim_key_dir: \"keys\" is not an absolute path" in p.stderr), (1, True))


def test_no_secrets():
    """No 24-byte run of any private key's PEM body appears in any output."""
    leaked = []
    text = "\n".join(outputs)
    for path, body in bodies:
        for i in range(0, len(body) - 24, 12):
            if body[i:i + 24] in text:
                leaked.append(path)
                break
    check("no output ever carried private key material (%d keys, %d outputs)"
          % (len(bodies), len(outputs)), leaked, [])


def main():
    if not os.access(PM, os.X_OK):
        print("FAIL postmeter not built at %s" % PM)
        return 1
    if os.geteuid() != 0:
        print("FAIL needs root (key file ownership)")
        return 1
    with tempfile.TemporaryDirectory(prefix="pm-dkim-keys-") as work:
        env = Env(work)
        try:
            keys = test_keygen(env)
            test_list(env, keys)
            records = test_dns_print(env, keys)
            test_dns_check(env, work, records, keys)
            test_rotate(env, work, keys)
            test_config(work)
            test_user_db(work)
        except Exception as e:  # report, then count as a failure
            import traceback
            traceback.print_exc()
            check("no exception", repr(e), None)
        test_no_secrets()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
