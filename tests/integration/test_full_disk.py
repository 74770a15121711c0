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
silently - either it reached the spool, or the loss is logged and
counted.
"""
import errno
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, log, main_with_harness
import test_readonly_db as ro  # send_some(), wait_delivered_mids(), wait_writer_idle()

MNT = tempfile.mkdtemp(prefix="pmtest-full-")
FILLER = os.path.join(MNT, "filler")


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
        spooled = os.path.exists(h.spool) and os.path.getsize(h.spool) > 0
        log("after SIGTERM: spool file %s (%d bytes; %d free blocks)" % (
            "holds rows" if spooled else "empty", os.path.getsize(h.spool) if spooled else 0,
            os.statvfs(MNT).f_bavail))
        for line in text.splitlines():
            if "ledger" in line and ("spool" in line or "lost" in line or "dropped" in line):
                log("milter: " + line.strip())
        # Nothing could be written anywhere: the loss must be said, with a count.
        check(spooled or ("lost" in text or "dropped" in text),
              "rows spooled, or their loss logged", text[-2000:])
    finally:
        os.unlink(FILLER)
    h.start_milter()
    if os.path.exists(h.spool) and os.path.getsize(h.spool) > 0:
        h.wait_ledger_rows(len(ro.MIDS), 30)
        time.sleep(3)
        ro.check_no_duplicates(h)


if __name__ == "__main__":
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "pmtest-full", MNT],
                   check=True)
    try:
        import pwd
        nob = pwd.getpwnam("nobody")
        os.chown(MNT, nob.pw_uid, nob.pw_gid)
        main_with_harness([
            ("full disk while running: mail delivered, rows written later",
             test_full_while_running),
            ("full disk, then SIGTERM: nothing lost silently", test_full_then_sigterm),
        ], name="full", milter_conf={"database": os.path.join(MNT, "postmeter.db")})
    finally:
        subprocess.run(["umount", "-l", MNT])
        os.rmdir(MNT)
