#!/usr/bin/python3
"""test_full_disk.py - a full disk under the ledger never blocks mail.

The database (and the spool file next to it) live on a small tmpfs of
their own, mounted for this test only. Once the writer has closed the
idle database (SQLite then checkpoints and removes the WAL file, so the
next write must allocate), the file system is filled to the last byte.
Mail sent then is delivered; its rows wait in memory (the spool file
cannot grow either) and the milter says why in its log; when space is
back, every row is written, none twice. Then the same while the milter
is stopped with SIGTERM: what cannot be written must not be lost
silently. The counters of the milter's "stopped:" line must add up:
records in (one per message Postfix accepted) = written (the rows in
the database) + spooled + dropped, a drop only with its warning; after
the restart the spooled rows, and only they, are replayed, each once.
"""
import errno
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, log, main_with_harness, rows_by_mid
import test_readonly_db as ro  # send_some(), wait_delivered_mids(), wait_writer_idle()

MNT = tempfile.mkdtemp(prefix="pmtest-full-")
FILLER = os.path.join(MNT, "filler")
# The database directory belongs to the milter's user, inside the root-owned
# mount, as in the harness's own layout (nobody may replace a directory above it).
DB_DIR = os.path.join(MNT, "postmeter")


def fill():
    """fill the file system; returns the bytes written"""
    n = 0
    with open(FILLER, "wb", buffering=0) as f:
        block = b"\0" * 65536
        while True:
            try:
                n += f.write(block)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    break
                block = block[:len(block) // 2]
    st = os.statvfs(MNT)
    check_eq(st.f_bavail, 0, "no free blocks left on %s" % MNT)
    return n


def db_rows(h):
    """rows in the database file itself. While the disk is full nothing can
    open it normally (WAL mode needs its -shm file), so read it as immutable:
    the idle writer checkpointed everything into the file before it closed"""
    import sqlite3
    con = sqlite3.connect("file:%s?immutable=1" % h.database, uri=True)
    try:
        return con.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        con.close()


def check_cli_error(h):
    """the CLI fails with a clear reason, not a crash"""
    p = h.cli("report", "messages", check=False)
    check_eq(p.returncode, 1, "postmeter report on a full disk exits 1")
    check(b"No space left on device" in p.stderr, "the reason is said", p.stderr)


def test_full_while_running(h):
    ro.send_some(h, 2, "before")
    h.wait_ledger_rows(2, 30)
    ro.wait_writer_idle(h)
    log("filled %s with %d bytes" % (MNT, fill()))
    try:
        sent = ro.send_some(h, 6, "full")
        ro.wait_delivered_mids(h, sent)
        time.sleep(3)  # the writer tries (and fails)
        check_eq(db_rows(h), 2, "rows in the database while the disk is full")
        check(h.milter_alive(), "milter alive with a full disk")
        text = open(h.milter_log(), errors="replace").read()
        check("No space left on device" in text, "the milter log says the disk is full")
        check_cli_error(h)
    finally:
        os.unlink(FILLER)
    log("space is back")
    h.wait_ledger_rows(len(ro.MIDS), 30)
    time.sleep(3)
    ro.check_no_duplicates(h)


def stop_counts(text):
    """the counters of the last "stopped:" line of the milter log, by name:
    {"in": N, "written": N, "spooled": N, "dropped": N, ...}; fields the
    line may gain later are ignored"""
    lines = [l for l in text.splitlines() if "postmeter-milter" in l and " stopped: " in l]
    check(lines, "postmeter-milter logged its \"stopped:\" line", text[-2000:])
    line = lines[-1].split(" stopped: ", 1)[1]
    counts = {}
    for field in line.split(","):
        m = re.fullmatch(r"\s*(\d+) (.+?)\s*", field)
        if m:
            counts["in" if m.group(2) == "record(s) in" else m.group(2)] = int(m.group(1))
    for name in ("in", "written", "spooled", "dropped"):
        check(name in counts, "the stop line counts %s records" % name, lines[-1])
    log("stop line: %s" % line.strip())
    return counts


def test_full_then_sigterm(h):
    ro.wait_writer_idle(h)
    before = db_rows(h)
    fill()
    try:
        sent = ro.send_some(h, 3, "stopped")
        ro.wait_delivered_mids(h, sent)
        rc = h.stop_milter()
        check_eq(rc, 0, "exit status of postmeter-milter after SIGTERM")
        check_eq(db_rows(h), before, "rows in the database after SIGTERM")
        text = open(h.milter_log(), errors="replace").read()
        spool_bytes = os.path.getsize(h.spool) if os.path.exists(h.spool) else 0
        log("after SIGTERM: spool file %d bytes; %d free blocks" % (
            spool_bytes, os.statvfs(MNT).f_bavail))
    finally:
        os.unlink(FILLER)
    # Nothing lost silently: every record handed to the ledger (one per
    # message Postfix accepted while this milter ran) is in the database,
    # in the spool, or dropped - and a drop only with its warning.
    n = stop_counts(text)
    check_eq(n["in"], len(ro.MIDS), "records in: one per message accepted since the start")
    check_eq(n["written"], before, "records written = rows in the database")
    # A record spooled during the outage and replayed once space came back
    # is in written, in spooled and in replayed (this run's spool only:
    # the harness starts with none).
    check("replayed from the spool" in n, "the stop line counts replays", n)
    replayed = n["replayed from the spool"]
    check("kept in the journal" in n, "the stop line counts records kept in the journal", n)
    check_eq(n["written"] - replayed + n["spooled"] + n["dropped"] + n["kept in the journal"],
             n["in"], "records in = written - replayed + spooled + dropped + kept in the journal")
    check_eq(n["spooled"] - replayed > 0, spool_bytes > 0,
             "records spooled and not replayed <=> a non-empty spool file")
    drop_lines = [l for l in text.splitlines() if "records dropped" in l]
    if n["dropped"]:
        # The only bound a stop can hit here: neither the database nor the
        # spool file can take the records still in memory.
        want = "postmeter-milter: warning: ledger: %d records dropped at stop: database and " \
               "spool %s unusable" % (n["dropped"], h.spool)
        check_eq(drop_lines, [want], "the warning for the dropped records")
        why = [l for l in text.splitlines()
               if re.search(r"warning: ledger: spool(:| %s: append:) " % re.escape(h.spool), l)]
        check(why, "the reason the spool could not take them is logged", text[-2000:])
    else:
        check_eq(drop_lines, [], "no drop warning when nothing was dropped")
    # After the restart the spool (and what the journal kept) is replayed:
    # exactly the rows not yet written come back, each once.
    pending = n["spooled"] - replayed + n["kept in the journal"]
    h.start_milter()
    h.wait_ledger_rows(before + pending, 30)
    time.sleep(3)  # a replay that runs twice would show now
    rows = h.ledger_rows()
    check_eq(len(rows), before + pending,
             "rows after the restart = written + spooled and not replayed + kept in the journal")
    by = rows_by_mid(rows)
    check_eq(sorted(m for m in by if len(by[m]) != 1), [], "messages with other than one row")
    check_eq(len(set(by) - set(ro.MIDS)), 0, "rows of messages this test did not send")
    if n["dropped"] == 0:
        ro.check_no_duplicates(h)


if __name__ == "__main__":
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "pmtest-full", MNT],
                   check=True)
    try:
        import pwd
        nob = pwd.getpwnam("nobody")
        os.mkdir(DB_DIR, 0o750)
        os.chown(DB_DIR, nob.pw_uid, nob.pw_gid)
        main_with_harness([
            ("full disk while running: mail delivered, rows written later",
             test_full_while_running),
            ("full disk, then SIGTERM: nothing lost silently", test_full_then_sigterm),
        ], name="full", milter_conf={"database": os.path.join(DB_DIR, "postmeter.db")})
    finally:
        subprocess.run(["umount", "-l", MNT])
        os.rmdir(MNT)
