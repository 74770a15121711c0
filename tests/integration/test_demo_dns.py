#!/usr/bin/python3
"""test_demo_dns.py - the demo's DNS serves what "postmeter dns" prints.

contrib/demo.py makes DKIM keys after its unbound is up, then
contrib/demo_dns.py publishes the output of "postmeter dns example.test"
in the demo's zone and reloads unbound; its closing list
(contrib/demo_tour.py) runs "postmeter auth" on a delivered outbound copy.
The same steps on a harness set up as the demo sets its own:
  - with the keys made and nothing published, "dns --check" fails on the
    DKIM records (what the demo showed before);
  - after publish(), "dns --check" exits 0, the SPF record served is
    the one postmeter suggests and the DMARC record is still the zone's
    own p=reject;
  - an outbound message, signed with both keys and read back over IMAP,
    gets dkim=pass for each signature from "postmeter auth", as the
    closing list runs it.
"""
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "contrib"))
import demo_dns  # noqa: E402
import demo_tour  # noqa: E402
from pmtest.dovecot import imap_fetch_all  # noqa: E402
from pmtest.harness import (OUTBOUND_IP, ZONE_DATA, CheckFailed, Harness, check,  # noqa: E402
                            check_eq, log, make_message, new_message_id, main_with_harness, wait_for)

DOMAIN = "example.test"
OWN = ['_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"']


class DemoDNSHarness(Harness):
    """DemoDNSHarness - unbound includes the published files, keys under STATE/keys (as the demo)"""

    def start_unbound(self):
        self.unbound_extra.append(demo_dns.unbound_include(self.state))
        super().start_unbound()

    def milter_settings(self):
        s = super().milter_settings()
        s["dkim_key_dir"] = self.path("keys")
        return s


def demo_call(fn, *args):
    """demo_call - fn(*args); the demo's SystemExit (its way to fail) as a test failure"""
    try:
        return fn(*args)
    except SystemExit as e:
        raise CheckFailed(str(e))


def info(h):
    """info - the parts of the demo's STATE.json that demo_dns and demo_tour use"""
    return {"cli": h.cli_bin, "milter_config": h.milter_conf_path, "users": h.users,
            "imap_port": h.imap_port, "pids": {"unbound": h.unbound.proc.pid},
            "database": h.database}


def test_unpublished(h):
    """keys made, nothing published: dns --check says the DKIM records are missing"""
    for alg in ("rsa", "ed25519"):
        h.cli("dkim", "keygen", DOMAIN, "--algorithm", alg)
    p = h.cli("dns", DOMAIN, "--check", check=False)
    out = p.stdout.decode()
    check_eq(p.returncode, 1, "dns --check before publishing:\n" + out)
    check_eq(len(re.findall(r"(?m)^missing\s+DKIM", out)), 2, "two DKIM records missing:\n" + out)


def test_publish(h):
    """publish(): every record ok, SPF as suggested, the zone's own DMARC kept"""
    said = demo_call(demo_dns.publish, info(h), h.state, DOMAIN, list(ZONE_DATA) + OWN,
                     lambda pid: pid == h.unbound.proc.pid)
    log("\n".join(said))
    p = h.cli("dns", DOMAIN, "--check", check=False)
    out = p.stdout.decode()
    check_eq(p.returncode, 0, "dns --check after publishing:\n" + out)
    check_eq(len(re.findall(r"(?m)^ok\s+DKIM", out)), 2, "two DKIM records ok:\n" + out)
    check(re.search(r'(?m)^ok\s+SPF\s+example\.test: "v=spf1 mx -all"$', out),
          "SPF served is postmeter's suggestion:\n" + out)
    check(re.search(r'(?m)^ok\s+DMARC\s+_dmarc\.example\.test: "v=DMARC1; p=reject" \(yours', out),
          "DMARC served is the zone's own p=reject:\n" + out)
    with open(demo_dns.published_file(h.state, DOMAIN)) as f:
        text = f.read()
    check("IN MX" not in text and "DMARC1" not in text,
          "records already in the zone are not published twice:\n" + text)


def test_outbound_auth(h):
    """a delivered outbound copy: postmeter auth says dkim=pass for both signatures"""
    h.reload_milter()
    wait_for(lambda: "2 signing key(s) loaded" in open(h.milter_log(), errors="replace").read(),
             20, "the milter loads the two keys")
    mid = new_message_id("demo-dns.example.test")
    msg = make_message([("From", "Alice <alice@example.test>"), ("To", "carol@remote.test"),
                        ("Subject", "signed and published")], "Hello Carol.\n", message_id=mid)
    h.send("alice@example.test", ["carol@remote.test"], msg, source_ip=OUTBOUND_IP,
           helo=demo_tour.OUTBOUND[1])
    i = info(h)
    deadline = time.monotonic() + 30
    while not any(mid.encode() in m for m in imap_fetch_all(h.imap_port, "carol@remote.test",
                                                            h.users["carol@remote.test"])):
        check(time.monotonic() < deadline, "the copy reaches carol@remote.test")
        time.sleep(0.3)
    demo_call(demo_tour.save_outbound_copy, i, h.state,
              lambda inf, u: imap_fetch_all(inf["imap_port"], u, inf["users"][u]))
    what, argv, stdin = [c for c in demo_tour.commands(i, h.state) if c[1][3] == "auth"][0]
    rc, out = demo_tour.run_one(argv, stdin)
    log(out)
    check_eq(len(re.findall(r"\bdkim=pass\b", out)), 2, "dkim=pass for both signatures:\n" + out)
    check_eq(demo_tour.judge(argv, rc, out), None, "the closing list's judgement")


CASES = [
    ("keys, nothing published: dns --check fails", test_unpublished),
    ("publish: dns --check passes", test_publish),
    ("outbound copy: auth dkim=pass", test_outbound_auth),
]


if __name__ == "__main__":
    main_with_harness(CASES, harness_class=DemoDNSHarness, name="demodns", zone_data=OWN)
