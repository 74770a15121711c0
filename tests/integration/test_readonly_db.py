#!/usr/bin/python3
"""test_readonly_db.py - a database that cannot be written never blocks mail.

postmeter-milter runs as nobody. Once its writer has closed the idle
database, the file is made read-only (0444); mail sent then must still
be delivered, its rows must not be in the database yet; when the file is
writable again the rows appear (within ~30 s), none twice. The second
case stops the milter (SIGTERM) while the file is read-only: the rows
must survive in the spool and be written after a restart.

A database directory the milter's user cannot write would mean every
ledger row dropped and the signing keys unread: `-t` and start-up refuse,
saying which directory must be writable by which user. And when records
are dropped at a stop (database and spool both unusable), the "stopped:"
line counts them, like the warning just before it.
"""
import os
import pwd
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest import settings
from pmtest.harness import (INBOUND_IP, OUTBOUND_IP, check, check_eq, log, main_with_harness,
                            make_message, new_message_id, rows_by_mid, wait_for)

MIDS = []


def db_row_count(h):
    return len(h.ledger_rows())


def milter_has_db_open(h):
    """milter_has_db_open - does the milter hold the database file open?"""
    pid = h.milter_pid
    if pid is None:
        return False
    fd_dir = "/proc/%d/fd" % pid
    real = os.path.realpath(h.database)
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == real:
                return True
        except OSError:
            pass
    return False


def wait_writer_idle(h, timeout=20):
    """the writer closes the database after ~2 s idle"""
    wait_for(lambda: not milter_has_db_open(h), timeout,
             "postmeter-milter to close the idle database")


def send_some(h, n, tag):
    out = []
    for i in range(n):
        mid = new_message_id()
        inbound = i % 2 == 0
        rcpt = "alice@example.test" if inbound else "carol@remote.test"
        sender = "x@remote.test" if inbound else "alice@example.test"
        msg = make_message([("From", sender), ("To", rcpt), ("Subject", "%s %d" % (tag, i))],
                           "readonly test %s %d\n" % (tag, i), message_id=mid)
        h.send(sender, [rcpt], msg, source_ip=INBOUND_IP if inbound else OUTBOUND_IP)
        out.append((mid, rcpt))
        MIDS.append(mid)
    return out


def wait_delivered_mids(h, sent):
    want = {}
    for mid, rcpt in sent:
        want.setdefault(rcpt, set()).add(mid)
    for rcpt, mids in want.items():
        wait_for(lambda: mids <= set(h.delivered_mids(rcpt)), 60,
                 "delivery of %d message(s) to %s" % (len(mids), rcpt), interval=0.3)


def check_no_duplicates(h):
    rows = h.ledger_rows()
    by = rows_by_mid(rows)
    for mid in MIDS:
        check_eq(len(by.get(mid, [])), 1, "rows for <%s>" % mid)
    check_eq(len(rows), len(MIDS), "rows in the ledger")


def test_readonly_while_running(h):
    send_some(h, 1, "before")
    h.wait_ledger_rows(1, 30)
    wait_writer_idle(h)
    os.chmod(h.database, 0o444)
    log("database made read-only: %s" % h.database)
    try:
        sent = send_some(h, 3, "readonly")
        wait_delivered_mids(h, sent)
        time.sleep(3)  # give the writer time to try (and fail)
        check_eq(db_row_count(h), 1, "rows in the database while it is read-only")
        check(h.milter_alive(), "milter alive with a read-only database")
    finally:
        os.chmod(h.database, 0o644)
    log("database writable again")
    h.wait_ledger_rows(len(MIDS), 30)
    time.sleep(3)  # a replay that runs twice would show now
    check_no_duplicates(h)


def test_readonly_then_sigterm(h):
    wait_writer_idle(h)
    before = db_row_count(h)
    os.chmod(h.database, 0o444)
    try:
        sent = send_some(h, 2, "spooled")
        wait_delivered_mids(h, sent)
        rc = h.stop_milter()
        check_eq(rc, 0, "exit status of postmeter-milter after SIGTERM")
        check_eq(db_row_count(h), before, "rows in the read-only database after SIGTERM")
        check(os.path.exists(h.spool) and os.path.getsize(h.spool) > 0,
              "spool file %s holds the rows" % h.spool)
    finally:
        os.chmod(h.database, 0o644)
    h.start_milter()
    h.wait_ledger_rows(len(MIDS), 30)
    time.sleep(3)
    check_no_duplicates(h)


def run_milter(h, *args):
    """run_milter - postmeter-milter ARGS that should end by itself: (status, stderr)"""
    p = subprocess.Popen([h.milter_bin, "-c", h.milter_conf_path] + list(args),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.decode(errors="replace")  # it ran on: it did not refuse
    return p.returncode, err.decode(errors="replace")


def test_directory_not_writable(h):
    db_dir = os.path.dirname(h.database)
    user = settings.MILTER_USER
    nob = pwd.getpwnam(user)
    check_eq(h.stop_milter(), 0, "exit status after SIGTERM")
    os.chown(db_dir, 0, 0)  # root's, 0750: the user can read, not write
    try:
        want = "the directory %s must exist and be writable by user %s" % (db_dir, user)
        rc, err = run_milter(h, "-t")
        check(rc not in (None, 0), "-t fails", err)
        check(want in err, "-t says what to do", err)
        rc, err = run_milter(h, "-f")
        check(rc not in (None, 0), "start-up refuses", err)
        check(want in err, "start-up says what to do", err)
        check(err.count("must exist and be writable") == 1, "said once", err)
    finally:
        os.chown(db_dir, nob.pw_uid, nob.pw_gid)
    rc, err = run_milter(h, "-t")
    check_eq(rc, 0, "-t with the directory writable again: " + err)
    h.start_milter()


def test_kept_at_stop_counted(h):
    """database read-only and no spool possible: the stop keeps the journaled records in the
    journal (said in the log and counted in the stopped: line, not as dropped); the next
    start stores them"""
    db_dir = os.path.dirname(h.database)
    wait_writer_idle(h)
    if os.path.exists(h.spool):
        # the first case spooled (the writer spools the queue while the
        # database is unusable) and replayed it: empty now; gone, no new one
        # can be made
        check_eq(os.path.getsize(h.spool), 0, "the spool is empty after its replay")
        os.unlink(h.spool)
    before = db_row_count(h)
    with open(h.milter_log(), "rb") as f:
        f.seek(0, 2)
        start = f.tell()
    os.chmod(h.database, 0o444)
    os.chmod(db_dir, 0o550)  # no spool file can be made; the journal files exist
    try:
        sent = send_some(h, 2, "kept")
        wait_delivered_mids(h, sent)
        check_eq(h.stop_milter(), 0, "exit status after SIGTERM")
    finally:
        os.chmod(db_dir, 0o750)
        os.chmod(h.database, 0o640)
    with open(h.milter_log(), "rb") as f:
        f.seek(start)
        out = f.read().decode(errors="replace")
    kept = re.findall(r"(\d+) records kept in the journal \S+ at stop", out)
    stopped = re.findall(r"stopped: .* (\d+) dropped, (\d+) kept in the journal", out)
    check_eq(kept, ["2"], "records the stop said it kept in the journal")
    check_eq(stopped, [("0", "2")], "dropped and kept in the stopped: line")
    check_eq(db_row_count(h), before, "rows in the database at stop")
    h.start_milter()
    h.wait_ledger_rows(before + 2, 30)  # the next start stores them


if __name__ == "__main__":
    main_with_harness([
        ("read-only database while running", test_readonly_while_running),
        ("database directory not writable: -t and start-up refuse", test_directory_not_writable),
        ("kept in the journal at stop: the stopped: line counts them", test_kept_at_stop_counted),
        ("read-only database, then SIGTERM and restart", test_readonly_then_sigterm),
    ], name="readonly")
