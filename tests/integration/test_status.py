#!/usr/bin/python3
"""test_status.py - postmeter status against a running milter, a spool
backlog and a stopped milter.

Running: after three messages, `status --format json` exits 0 and says
what the test knows independently: the milter's pid (the harness started
it), rows today = the rows sent, the milter's counters (3 in, 0 dropped),
the DKIM keys made with `dkim keygen` / `dkim rotate` (one active, one
pending), the tracking rules added (two, one enabled), the database size
on disk, the configuration file; the text form ends in "status: OK".
Touching the configuration file makes a reload pending (a warning, exit
still 0); SIGHUP clears it.

Spool backlog: the database made read-only (as test_readonly_db.py), two
more messages go to the spool: status exits 1, the spool file's records
equal the milter's spooled + self-spooled counters, rows today are still
three. Writable again: the backlog drains and status exits 0 with five
rows today.

Stopped: after SIGTERM status exits 1, says the milter is not running and
when it stopped; the database is still read, and a row dated yesterday
counts neither as today's nor as the last one.
"""
import json
import os
import pwd
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (MILTER_USER, check, check_eq, log, main_with_harness,
                            parse_iso_utc, run, wait_for)
import test_readonly_db as ro  # send_some() and wait_delivered_mids()

DOMAIN = "example.test"
SENT = []  # message ids sent so far (all today)
KEYS = {}  # "active"/"pending" -> selector


def status(h, fmt="json"):
    """status - postmeter status: (exit status, parsed JSON or text)"""
    p = h.cli("status", "--format", fmt, check=False)
    out = p.stdout.decode("utf-8", "replace")
    if fmt != "json":
        return p.returncode, out
    try:
        return p.returncode, json.loads(out)
    except ValueError:
        raise AssertionError("status --format json printed no JSON (exit %d): %r %r" % (
            p.returncode, out, p.stderr.decode("utf-8", "replace")))


def send_some(h, n, tag):
    """send_some - test_readonly_db's n messages (in and out), counted in SENT"""
    sent = ro.send_some(h, n, "status " + tag)
    SENT.extend(mid for mid, _ in sent)
    return sent


def wait_status(h, pred, what, timeout=40):
    """wait_status - until pred(json) holds (the milter rewrites its status every 10 s)"""
    last = {}

    def ok():
        rc, js = status(h)
        last["v"] = (rc, js)
        return (rc, js) if pred(js) else None
    try:
        return wait_for(ok, timeout, what, interval=1)
    except TimeoutError:
        raise AssertionError("%s: last status %s" % (what, json.dumps(last.get("v"), indent=1)))


def keys_conf(h):
    """the harness' configuration plus a dkim_key_dir of the state dir (keygen writes there)"""
    keydir = h.path("keys")
    os.makedirs(keydir, exist_ok=True)
    conf = h.path("postmeter-keys.conf")
    with open(h.milter_conf_path) as f, open(conf, "w") as out:
        out.write(f.read() + "dkim_key_dir = %s\n" % keydir)
    return conf


def since_start(js):
    return js["ledger"]["since_start"] or {}


def test_running(h):
    conf = keys_conf(h)
    for args in (["dkim", "keygen", DOMAIN, "--algorithm", "ed25519"],
                 ["dkim", "rotate", DOMAIN, "--algorithm", "ed25519"]):
        p = run([h.cli_bin, "-c", conf] + args)
        sel = re.search(r"(\S+)\._domainkey\.", p.stdout.decode()).group(1)
        KEYS["pending" if args[1] == "rotate" else "active"] = sel
    h.cli("track", "add", "@example.test")
    h.cli("track", "add", "bob@example.test", "--disabled")
    ro.wait_delivered_mids(h, send_some(h, 3, "running"))
    h.wait_ledger_rows(3, 30)
    rc, js = wait_status(h, lambda j: since_start(j).get("written", 0) +
                         since_start(j).get("replayed", 0) == 3,
                         "the milter's status file to count 3 rows written")
    log(json.dumps(js, indent=1))
    check_eq(rc, 0, "exit status of status with a healthy milter")
    check_eq((js["healthy"], js["errors"], js["warnings"]), (True, [], []), "healthy, no problems")
    m = js["milter"]
    check_eq((m["running"], m["answering"], m["pid"]), (True, True, h.milter_pid),
             "running, answering, the harness's pid")
    check_eq(m["socket"], "inet:%d@127.0.0.1" % h.milter_port, "the socket probed")
    check(abs(parse_iso_utc(m["started_at"]) - time.time()) < 600, "started_at is recent", m)
    check_eq(m["stopped_at"], None, "stopped_at while running")
    c = js["config"]
    check_eq((c["file"], c["reload_pending"]), (os.path.realpath(h.milter_conf_path), False),
             "the milter's configuration file, no reload pending")
    led = js["ledger"]
    check_eq(led["rows_today"], len(SENT), "rows today = messages sent")
    check(abs(parse_iso_utc(led["last_row_at"]) - time.time()) < 120, "last row is recent", led)
    size = os.path.getsize(h.database)
    if os.path.exists(h.database + "-wal"):
        size += os.path.getsize(h.database + "-wal")
    check_eq(led["database_bytes"], size, "database size on disk")
    check_eq((led["spool_bytes"], led["spool_records"]), (0, 0), "no spool backlog")
    s = led["since_start"]
    check_eq((s["put"], s["dropped"], s["spool_bytes"], s["db_ok"]), (3, 0, 0, True),
             "the milter's counters")
    doms = js["dkim"]["domains"]
    check_eq([(d["domain"], [k["selector"] for k in d["active"]],
               [k["selector"] for k in d["pending"]]) for d in doms],
             [(DOMAIN, [KEYS["active"]], [KEYS["pending"]])], "DKIM keys per domain")
    check_eq((doms[0]["next_rotation"], js["dkim"]["rotation_schedule"]), (None, None),
             "no rotation schedule is invented")
    check_eq((js["tracking"]["rules"], js["tracking"]["rules_enabled"]), (2, 1), "tracking rules")
    rc, text = status(h, fmt="text")
    log(text)
    check_eq(rc, 0, "exit status of the text form")
    check_eq(text.strip().splitlines()[-1], "status: OK", "last line of the text form")
    check("rows today: 3 " in text, "rows today in the text form", text)


def test_reload_pending(h):
    later = time.time() + 5
    os.utime(h.milter_conf_path, (later, later))
    rc, js = status(h)
    check_eq((rc, js["config"]["reload_pending"]), (0, True),
             "a changed configuration file: reload pending, exit 0 (a warning)")
    check(any("reload" in w for w in js["warnings"]), "a warning says so", js["warnings"])
    h.reload_milter()
    rc, js = wait_status(h, lambda j: not j["config"]["reload_pending"],
                         "the reload to be seen", timeout=20)
    check_eq((rc, js["warnings"]), (0, []), "after SIGHUP: exit 0, no warning")


def milter_has_db_open(h):
    real = os.path.realpath(h.database)
    fd_dir = "/proc/%d/fd" % h.milter_pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == real:
                return True
        except OSError:
            pass
    return False


def test_spool_backlog(h):
    wait_for(lambda: not milter_has_db_open(h), 20, "the milter to close the idle database")
    os.chmod(h.database, 0o444)
    try:
        ro.wait_delivered_mids(h, send_some(h, 2, "spooled"))
        rc, js = wait_status(h, lambda j: since_start(j).get("spool_bytes", 0) > 0,
                             "the milter's status file to show the spool")
        log(json.dumps(js, indent=1))
        check_eq((rc, js["healthy"]), (1, False), "a spool backlog fails status")
        check(any(e.startswith("spool backlog of %d bytes is not shrinking" %
                                js["ledger"]["spool_bytes"]) for e in js["errors"]),
              "an error names the backlog", js["errors"])
        check(any("last attempt to write the database failed" in e for e in js["errors"]),
              "an error says the database cannot be written", js["errors"])
        led, s = js["ledger"], js["ledger"]["since_start"]
        check(led["spool_bytes"] > 0 and led["spool_records"] >= 2, "the spool holds the rows",
              led)
        check_eq(led["spool_records"], s["spooled"] + s["self_spooled"],
                 "records in the spool file = spooled + self-spooled")
        check_eq(led["rows_today"], 3, "rows today while the database is read-only")
        check_eq(s["dropped"], 0, "nothing dropped")
    finally:
        os.chmod(h.database, 0o644)
    rc, js = wait_status(h, lambda j: j["healthy"] and j["ledger"]["spool_bytes"] == 0,
                         "the backlog to drain", timeout=90)
    check_eq((rc, js["ledger"]["rows_today"]), (0, len(SENT)),
             "writable again: exit 0, every row written")


def add_row_yesterday(h):
    """add_row_yesterday - a ledger row received 30 hours ago, written as the milter's user"""
    code = ("import sqlite3, sys, time\n"
            "con = sqlite3.connect(sys.argv[1])\n"
            "con.execute(\"INSERT INTO messages (uid, direction, action, received_at)"
            " VALUES ('status-test-old', 'inbound', 'accept', ?)\", (int(time.time()) - 30 * 3600,))\n"
            "con.commit()\n")
    nob = pwd.getpwnam(MILTER_USER)

    def drop():
        os.setgid(nob.pw_gid)
        os.setgroups([])
        os.setuid(nob.pw_uid)
    subprocess.run([sys.executable, "-c", code, h.database], check=True, preexec_fn=drop,
                   timeout=30)


def test_stopped(h):
    check_eq(h.stop_milter(), 0, "exit status of postmeter-milter after SIGTERM")
    rc, js = status(h)
    log(json.dumps(js, indent=1))
    check_eq((rc, js["healthy"], js["milter"]["running"], js["milter"]["answering"]),
             (1, False, False, False), "a stopped milter fails status")
    check(js["errors"] and "not running" in js["errors"][0], "the first error says so",
          js["errors"])
    check(abs(parse_iso_utc(js["milter"]["stopped_at"]) - time.time()) < 60,
          "stopped_at is when it stopped", js["milter"])
    check_eq((js["ledger"]["since_start"], js["ledger"]["rows_today"]), (None, len(SENT)),
             "no live counters; the database is still read")
    rc, text = status(h, fmt="text")
    check_eq((rc, text.strip().splitlines()[-1]), (1, "status: FAILING"), "the text form")
    last = js["ledger"]["last_row_at"]
    add_row_yesterday(h)
    rc, js = status(h)
    check_eq((js["ledger"]["rows_today"], js["ledger"]["last_row_at"]), (len(SENT), last),
             "a row from yesterday is not one of today's, nor the last")
    h.start_milter()


if __name__ == "__main__":
    main_with_harness([
        ("running milter: exit 0 and the facts", test_running),
        ("changed configuration: reload pending until SIGHUP", test_reload_pending),
        ("spool backlog: exit 1 until it drains", test_spool_backlog),
        ("stopped milter: exit 1", test_stopped),
    ], name="status")
