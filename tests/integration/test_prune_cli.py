#!/usr/bin/python3
"""test_prune_cli.py - postmeter prune, as an admin runs it.

No daemons: the built `postmeter` on a fixture database in a temporary
directory (migrated by `postmeter db migrate`, filled here with rows of
known ages). --dry-run prints what a prune removes and removes nothing;
the prune removes every row older than the age (messages with their
recipients and results, opens, tracked messages no younger open keeps)
and nothing younger, prints the rows per table and their total, and a
second run finds nothing; ages in days and hours; usage errors exit 2
with one line on stderr and nothing on stdout; a missing database or one
with an older schema exits 1 and says what to do.
"""
import calendar
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest import settings
from pmtest.runner import check, check_eq, run_tests

CLI = os.path.join(settings.BUILD_DIR, "cli", "postmeter")
TMP = tempfile.mkdtemp(prefix="pmtest-prune-")
CONF = os.path.join(TMP, "postmeter.conf")
DB = os.path.join(TMP, "ledger.db")
DAY = 86400
TABLES = ["messages", "message_recipients", "message_auth", "tracked_messages",
          "tracked_recipients", "pixel_opens"]


def pm(*args, conf=CONF):
    """pm - postmeter -c CONF ARGS: (exit status, stdout, stderr)"""
    p = subprocess.run([CLI, "-c", conf] + list(args), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


# The fixture: (age in seconds, recipients, auth results) per message;
# tracked messages (age, recipients, ages of its opens).
MESSAGES = [(100 * DAY, 2, 3), (91 * DAY, 1, 0), (80 * DAY, 3, 1), (13 * 3600, 2, 2),
            (11 * 3600, 1, 1), (60, 1, 0)]
TRACKED = [(120 * DAY, 2, [119 * DAY, 100 * DAY]),  # every open old: goes
           (120 * DAY, 1, [110 * DAY, 10 * DAY]),   # a young open keeps it
           (95 * DAY, 3, []),                       # never opened: goes
           (5 * DAY, 1, [4 * DAY, 13 * 3600, 60])]  # young


def fill():
    """fill - a migrated database holding the fixture, built around now"""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(DB + suffix):
            os.unlink(DB + suffix)
    rc, out, err = pm("db", "migrate")
    check(rc == 0, "db migrate", err)
    now = int(time.time())
    db = sqlite3.connect(DB)
    with db:
        for i, (age, nrcpt, nauth) in enumerate(MESSAGES):
            cur = db.execute("INSERT INTO messages (uid, direction, action, received_at, queue_id)"
                             " VALUES (?, 'inbound', 'accept', ?, ?)",
                             ("m%d" % i, now - age, "Q%d" % i))
            for p in range(nrcpt):
                db.execute("INSERT INTO message_recipients VALUES (?, ?, ?)",
                           (cur.lastrowid, p, "r%d@example.org" % p))
            for p in range(nauth):
                db.execute("INSERT INTO message_auth (message_id, position, method, result)"
                           " VALUES (?, ?, 'dkim', 'pass')", (cur.lastrowid, p))
        for i, (age, nrcpt, opens) in enumerate(TRACKED):
            cur = db.execute("INSERT INTO tracked_messages (token, mode, outcome, created_at)"
                             " VALUES (?, 'pipe', 'injected', ?)",
                             ("tok%025d" % i, now - age))
            for p in range(nrcpt):
                db.execute("INSERT INTO tracked_recipients VALUES (?, ?, ?)",
                           (cur.lastrowid, p, "t%d@example.org" % p))
            for k, oage in enumerate(opens):
                db.execute("INSERT INTO pixel_opens (uid, tracked_id, opened_at, method, class)"
                           " VALUES (?, ?, ?, 'GET', 'human')",
                           ("o%d.%d" % (i, k), cur.lastrowid, now - oage))
    db.close()


def expect(age):
    """expect - the rows per table a prune of what is older than age removes"""
    n = dict.fromkeys(TABLES, 0)
    for mage, nrcpt, nauth in MESSAGES:
        if mage > age:
            n["messages"] += 1
            n["message_recipients"] += nrcpt
            n["message_auth"] += nauth
    for tage, nrcpt, opens in TRACKED:
        n["pixel_opens"] += sum(1 for o in opens if o > age)
        if tage > age and all(o > age for o in opens):
            n["tracked_messages"] += 1
            n["tracked_recipients"] += nrcpt
    return n


def rows():
    """rows - the rows of each table now"""
    db = sqlite3.connect(DB)
    n = {t: db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}
    db.close()
    return n


def parse(out, head):
    """parse - the cut and the counts of a prune's output whose first line starts with head"""
    lines = out.splitlines()
    check(len(lines) == len(TABLES) + 2 and lines[0].startswith(head), "output: " + head, out)
    m = re.match(r".* older than (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", lines[0])
    check(m is not None, "the first line names the cut", lines[0])
    cut = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%SZ"))
    counts = {}
    for line in lines[1:]:
        m = re.match(r"^  (\w+) +(\d+)$", line)
        check(m is not None, "a line per table: name and count", line)
        counts[m.group(1)] = int(m.group(2))
    check_eq(list(counts), TABLES + ["total"], "the tables in order, then the total")
    check_eq(counts.pop("total"), sum(counts.values()), "the total adds up")
    return cut, counts


def test_dry_run():
    fill()
    before = rows()
    rc, out, err = pm("prune", "--older-than", "90d", "--dry-run")
    check_eq((rc, err), (0, ""), "dry run: exit 0, nothing on stderr")
    cut, counts = parse(out, "would remove the rows older than ")
    check(abs(cut - (time.time() - 90 * DAY)) < 60, "the cut is 90 days before now", cut)
    check_eq(counts, expect(90 * DAY), "dry run: the rows a prune would remove")
    check_eq(rows(), before, "dry run: nothing removed")


def test_prune():
    fill()
    before = rows()
    want = expect(90 * DAY)
    rc, out, err = pm("prune", "--older-than", "90d")
    check_eq((rc, err), (0, ""), "prune: exit 0, nothing on stderr")
    cut, counts = parse(out, "removed the rows older than ")
    check_eq(counts, want, "prune: the rows removed, per table")
    check_eq(rows(), {t: before[t] - want[t] for t in TABLES}, "exactly those are gone")
    db = sqlite3.connect(DB)
    check_eq(db.execute("SELECT count(*) FROM messages WHERE received_at < ?", (cut,)).fetchone(),
             (0,), "no message older than the cut is left")
    check_eq(db.execute("PRAGMA foreign_key_check").fetchall(), [], "no orphan row")
    db.close()
    rc, out, err = pm("prune", "--older-than", "90d")
    check(rc == 0, "a second prune", err)
    check_eq(parse(out, "removed ")[1], dict.fromkeys(TABLES, 0), "finds nothing to remove")
    rc, out, err = pm("prune", "--older-than", "12h")
    check(rc == 0, "a prune of what is older than 12 hours", err)
    check_eq(parse(out, "removed ")[1],
             {t: want12 - want[t] for t, want12 in expect(12 * 3600).items()},
             "12h: the rows between 12 hours and 90 days old")


def test_usage():
    fill()
    before = rows()
    for args, what in [
            ([], "no --older-than"),
            (["--older-than", "90"], "a number without a unit"),
            (["--older-than", "0d"], "an age of 0"),
            (["--older-than", "5m"], "minutes"),
            (["--older-than", "-3d"], "a negative age"),
            (["--older-than", "36501d"], "more than a hundred years"),
            (["--older-than", "90d", "now"], "an extra argument"),
            (["--older-than", "90d", "--all"], "an unknown option"),
            (["--older-than"], "a missing value")]:
        rc, out, err = pm("prune", *args)
        check_eq((rc, out), (2, ""), "usage error, exit 2, nothing on stdout: " + what)
        check(len(err.splitlines()) == 1 and err.startswith("postmeter: prune: "),
              "one line on stderr: " + what, err)
    check("90d" in pm("prune")[2], "the message shows an age", pm("prune")[2])
    check_eq(rows(), before, "usage errors remove nothing")


def test_database_errors():
    missing = os.path.join(TMP, "missing.conf")
    write(missing, "database = %s/missing.db\n" % TMP)
    rc, out, err = pm("prune", "--older-than", "90d", conf=missing)
    check_eq((rc, out), (1, ""), "a missing database: exit 1")
    check("missing.db" in err, "the message names it", err)
    check(not os.path.exists(os.path.join(TMP, "missing.db")), "and nothing is created")
    fill()
    db = sqlite3.connect(DB)
    db.execute("PRAGMA user_version = 3")
    db.close()
    before = rows()
    for args in (["--older-than", "90d"], ["--older-than", "90d", "--dry-run"]):
        rc, out, err = pm("prune", *args)
        check_eq((rc, out), (1, ""), "an older schema: exit 1 " + " ".join(args))
        check("postmeter db migrate" in err, "and says to migrate", err)
    check_eq(rows(), before, "an older schema: nothing removed")


if __name__ == "__main__":
    write(CONF, "database = %s\n" % DB)
    try:
        passed, failed = run_tests([
            ("prune --dry-run: counts, removes nothing", test_dry_run),
            ("prune: removes what is older, prints it", test_prune),
            ("prune: usage errors", test_usage),
            ("prune: database errors", test_database_errors),
        ], None)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
