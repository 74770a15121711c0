"""demo_dns.py - the demo publishes what "postmeter dns" prints.

contrib/demo.py makes DKIM keys for example.test after its unbound is up;
this module then does what an admin does with the output of
"postmeter dns example.test": put the records in the zone and reload the
name server, until "postmeter dns example.test --check" says all is well.

    unbound_include(state)        the unbound.conf line the driver adds at
                                  start: include the records files (none yet)
    publish(info, state, domain, own)
                                  run "postmeter dns DOMAIN", write the new
                                  records as unbound local-data into
                                  STATE/unbound/published-DOMAIN.conf, reload
                                  the demo's unbound (SIGHUP), wait for
                                  "--check" to pass; returns the lines to show

A record the zone already has is not added twice; a TXT record of the
demo's own (own: its zone data) with the same v= tag as a suggestion is
kept, as "postmeter dns" tells an admin to (the demo keeps its DMARC
p=reject, so the forged From is still rejected). It only ever writes
under STATE and signals the demo's own unbound.
"""

import os
import re
import signal
import subprocess
import time

CHECK_TIMEOUT = 20  # seconds for unbound to serve the new records
TTL = 300


def published_file(state, domain):
    return os.path.join(state, "unbound", "published-%s.conf" % domain)


def unbound_include(state):
    """unbound_include - the server: line that includes published-*.conf (a glob: none is fine)"""
    return 'include: "%s"' % os.path.join(state, "unbound", "published-*.conf")


def zone_records(text):
    """zone_records - (owner, type, rdata) of each record in zone-file text

    Handles what "postmeter dns" prints: whole-line ; comments, "name. IN
    TXT" with one or more quoted strings, optionally in ( ... ) over
    several lines, and "name. IN MX 10 host.".
    """
    out, pending = [], ""
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        pending += " " + line.strip()
        if pending.count("(") > pending.count(")"):
            continue
        rr = pending.replace("(", " ").replace(")", " ").split(None, 3)
        pending = ""
        if len(rr) == 4 and rr[1] == "IN":
            owner, rtype, rdata = rr[0].rstrip(".").lower(), rr[2].upper(), rr[3].strip()
            if rtype == "TXT":
                rdata = " ".join('"%s"' % s for s in re.findall(r'"([^"]*)"', rdata))
            out.append((owner, rtype, " ".join(rdata.split())))
    return out


def parse_local_data(lines):
    """parse_local_data - unbound local-data lines ("name. TTL IN TYPE rdata") as records"""
    out = []
    for line in lines:
        f = line.split(None, 4)
        if len(f) == 5 and f[2] == "IN":
            out.append((f[0].rstrip(".").lower(), f[3].upper(), " ".join(f[4].split())))
    return out


def txt_value(rdata):
    """txt_value - the strings of a TXT rdata joined"""
    return "".join(re.findall(r'"([^"]*)"', rdata))


def v_tag(rdata):
    m = re.match(r"\s*v\s*=\s*([A-Za-z0-9]+)", txt_value(rdata))
    return m.group(1).lower() if m else None


def local_data_line(rec):
    """local_data_line - an unbound.conf local-data line for rec (single-quoted)"""
    owner, rtype, rdata = rec
    rr = "%s. %d IN %s %s" % (owner, TTL, rtype, rdata)
    if "'" in rr:
        raise SystemExit("demo: cannot quote %r for unbound.conf" % rr)
    return "local-data: '%s'" % rr


def plan(suggested, own):
    """plan - (records to publish, lines saying what happens to each suggestion)"""
    add, said = [], []
    for rec in suggested:
        owner, rtype, rdata = rec
        kept = [o for o in own if o[0] == owner and o[1] == rtype == "TXT"
                and v_tag(o[2]) is not None and v_tag(o[2]) == v_tag(rdata)]
        if rec in own:
            said.append("already in the zone: %s %s" % (owner, rtype))
        elif kept and kept[0][2] != rdata:
            said.append("kept the demo's own: %s TXT %s" % (owner, kept[0][2]))
        else:
            add.append(rec)
            shown = rdata if len(rdata) <= 60 else rdata[:57] + '..."'
            said.append("published: %s %s %s" % (owner, rtype, shown))
    return add, said


def cli(info, *args, **kw):
    return subprocess.run([info["cli"], "-c", info["milter_config"]] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60, **kw)


def reload_unbound(info, state, is_ours):
    """reload_unbound - check the config with its includes, then SIGHUP the demo's unbound"""
    conf = os.path.join(state, "unbound", "unbound.conf")
    p = subprocess.run(["/usr/sbin/unbound-checkconf", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if p.returncode != 0:
        raise SystemExit("demo: unbound-checkconf %s: %s" % (conf, p.stdout.decode().strip()))
    pid = info["pids"].get("unbound")
    if not pid or not is_ours(pid):
        raise SystemExit("demo: the demo's unbound (pid %s) is not running" % pid)
    os.kill(pid, signal.SIGHUP)


def publish(info, state, domain, own, is_ours):
    """publish - put what "postmeter dns DOMAIN" prints into the demo's DNS; lines to show"""
    p = cli(info, "dns", domain)
    if p.returncode != 0:
        raise SystemExit("demo: postmeter dns %s failed: %s" % (domain, p.stdout.decode()))
    suggested = zone_records(p.stdout.decode())
    if not any(r[0].endswith("._domainkey." + domain) for r in suggested):
        raise SystemExit("demo: postmeter dns %s printed no DKIM record:\n%s"
                         % (domain, p.stdout.decode()))
    add, said = plan(suggested, parse_local_data(own))
    path = published_file(state, domain)
    with open(path + ".tmp", "w") as f:
        f.write("# postmeter dns %s, as the demo published it (contrib/demo_dns.py)\n" % domain)
        f.write("".join(local_data_line(r) + "\n" for r in add))
    os.rename(path + ".tmp", path)
    reload_unbound(info, state, is_ours)
    deadline = time.monotonic() + CHECK_TIMEOUT
    while True:
        check = cli(info, "dns", domain, "--check")
        if check.returncode == 0:
            return said
        if time.monotonic() > deadline:
            raise SystemExit("demo: postmeter dns %s --check still fails after %d s:\n%s"
                             % (domain, CHECK_TIMEOUT, check.stdout.decode()))
        time.sleep(0.3)
