#!/usr/bin/python3
"""test_root_files.py - what root does at start-up to files the service user can plant.

postmeter-milter starts as root and hands the database, its -wal, -shm
and -journal files and the spool to its user (nobody), who owns their directory and
may be hostile. For each of those names a symbolic link to a root file
(mode 0600 or 0440), a FIFO or a hard link is planted: start-up must
refuse, saying what it found, and the root file must be untouched
(owner, mode, content). The same for `postmeter db migrate` run as root,
and for the pid file written as root into the user's directory (its
target and the temporary names it used to be written through).

Then the modes: a new database is 0640 (the ledger holds addresses and
subjects), and an existing root-owned 0644 one is given to the user as
0640, with one log line saying so; a -journal root left behind too.
"""
import os
import pwd
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest import settings
from pmtest.harness import check, check_eq, log, main_with_harness, wait_for

CONTENT = b"root's file: must stay as it is\n"


def svc():
    return pwd.getpwnam(settings.MILTER_USER)


def root_file(h, name, mode):
    """root_file - a root-owned file with mode in a directory only root can write"""
    d = h.path("rootonly")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    p = os.path.join(d, name)
    if os.path.lexists(p):
        os.unlink(p)
    with open(p, "wb") as f:
        f.write(CONTENT)
    os.chown(p, 0, 0)
    os.chmod(p, mode)
    return p


def check_untouched(p, mode, what):
    st = os.lstat(p)
    check(stat.S_ISREG(st.st_mode), "%s: %s is still a file" % (what, p))
    check_eq((st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))), (0, 0, oct(mode)),
             "%s: owner and mode of %s" % (what, p))
    with open(p, "rb") as f:
        data = f.read()
    check(data == CONTENT, "%s: %s was written to (%d bytes, starting %r)"
          % (what, p, len(data), data[:32]))


def clear_db(h):
    """clear_db - no database files at all in the (user's) database directory"""
    d = os.path.dirname(h.database)
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))


def run_milter(h, timeout=15):
    """run_milter - postmeter-milter -f that is expected to refuse: (exit status, stderr)"""
    p = subprocess.Popen([h.milter_bin, "-c", h.milter_conf_path, "-f"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return None, err.decode(errors="replace")  # it started: refused nothing
    return p.returncode, err.decode(errors="replace")


def plant(kind, where, target):
    if kind == "symlink":
        os.symlink(target, where)
    elif kind == "fifo":
        os.mkfifo(where, 0o600)
    elif kind == "hardlink":
        os.link(target, where)


def test_planted_files_refused(h):
    h.write_milter_conf()  # the harness runs no milter of its own here
    cases = [("", "symlink", 0o600), ("-wal", "symlink", 0o600), ("-shm", "symlink", 0o440),
             (".spool", "symlink", 0o600), ("-wal", "fifo", 0o600), ("-shm", "hardlink", 0o600),
             ("-journal", "symlink", 0o600)]
    failures = []
    for suffix, kind, mode in cases:
        what = "%s as postmeter.db%s" % (kind, suffix)
        clear_db(h)
        target = root_file(h, "target", mode)
        plant(kind, h.database + suffix, target)
        rc, err = run_milter(h)
        log("%s: exit %s: %s" % (what, rc, err.strip().splitlines()[-1:] if err else ""))
        try:
            check_untouched(target, mode, what)
            check(rc is not None and rc != 0, "%s: start-up refused" % what, err)
            check("postmeter.db" + suffix in err and "not touched" in err,
                  "%s: the message names the file" % what, err)
        except AssertionError as e:
            failures.append(str(e))
    clear_db(h)
    check(not failures, "%d of %d planted files" % (len(failures), len(cases)), *failures)


def test_cli_as_root_refused(h):
    failures = []
    for suffix, mode in (("-wal", 0o440), ("-shm", 0o600)):
        what = "postmeter db migrate with a symlink as postmeter.db%s" % suffix
        clear_db(h)
        h.cli("db", "migrate")
        os.chown(h.database, svc().pw_uid, svc().pw_gid)
        os.chmod(h.database, 0o666)  # healing would add its write bits to the side files
        target = root_file(h, "target", mode)
        os.symlink(target, h.database + suffix)
        p = h.cli("db", "migrate", check=False)
        try:
            check(p.returncode != 0, "%s: refused" % what, p.stderr.decode())
            check_untouched(target, mode, what)
        except AssertionError as e:
            failures.append(str(e))
    clear_db(h)
    check(not failures, "postmeter db as root", *failures)


def test_pid_file(h):
    """a pid file in the user's directory: its link and any temporary name are not followed"""
    target = root_file(h, "pidtarget", 0o644)
    tmp_target = root_file(h, "tmptarget", 0o600)
    pid_file = os.path.join(os.path.dirname(h.database), "pm.pid")
    clear_db(h)
    os.symlink(target, pid_file)
    # the temporary names the pid file was written through: PIDFILE.<pid>.tmp
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    for n in range(last + 1, last + 400):
        os.symlink(tmp_target, "%s.%d.tmp" % (pid_file, n))
    h.milter_conf_extra["pid_file"] = pid_file
    h.write_milter_conf()
    try:
        pid = h.start_milter()

        def pid_written():
            try:
                with open(pid_file) as f:
                    return f.read().strip() == str(pid)
            except OSError:
                return False
        deadline = time.monotonic() + 10  # the port answers a moment before the pid file is there
        while not pid_written() and time.monotonic() < deadline:
            time.sleep(0.05)
        check_untouched(target, 0o644, "pid file (link)")
        check_untouched(tmp_target, 0o600, "pid file (temporary name)")
        check(not os.path.islink(pid_file), "the pid file replaced the link")
        with open(pid_file) as f:
            check_eq(f.read().strip(), str(pid), "pid file content")
    finally:
        h.stop_milter()
        del h.milter_conf_extra["pid_file"]
        h.write_milter_conf()
        clear_db(h)


def db_state(h):
    st = os.stat(h.database)
    return st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))


def test_modes(h):
    u = svc()
    clear_db(h)
    h.start_milter()
    wait_for(lambda: os.path.exists(h.database), 10, "the new database")
    check_eq(db_state(h), (u.pw_uid, u.pw_gid, oct(0o640)), "new database: owner, mode")
    check_eq(h.stop_milter(), 0, "exit status after SIGTERM")
    for name in os.listdir(os.path.dirname(h.database)):
        mode = stat.S_IMODE(os.stat(os.path.join(os.path.dirname(h.database), name)).st_mode)
        check(not mode & 0o007, "%s is not readable by others (mode %o)" % (name, mode))

    # a database someone made as root, readable by all: given to the user, and said;
    # so is the (empty: not a hot) rollback journal a root command left behind
    os.chown(h.database, 0, 0)
    os.chmod(h.database, 0o644)
    journal = h.database + "-journal"
    with open(journal, "wb"):
        pass
    os.chown(journal, 0, 0)
    os.chmod(journal, 0o644)
    with open(h.milter_log(), "rb") as f:
        f.seek(0, 2)
        before = f.tell()
    h.start_milter()
    check_eq(db_state(h), (u.pw_uid, u.pw_gid, oct(0o640)), "root's 0644 database after start")
    check_eq(h.stop_milter(), 0, "exit status after SIGTERM")
    with open(h.milter_log(), "rb") as f:
        f.seek(before)
        lines = [l for l in f.read().decode(errors="replace").splitlines()
                 if "now owned by %s" % settings.MILTER_USER in l]
    said = [l for l in lines if "postmeter.db:" in l]
    check(len(said) == 1, "one log line saying the database changed owner", *lines)
    check("owner 0:0, mode 0644" in said[0], "the line says what it was", said[0])
    said = [l for l in lines if "postmeter.db-journal:" in l]
    check(len(said) == 1, "one log line saying the -journal changed owner", *lines)
    if os.path.exists(journal):  # SQLite may have removed it since
        check_eq(os.stat(journal).st_uid, u.pw_uid, "owner of the -journal")


if __name__ == "__main__":
    main_with_harness([
        ("planted link, FIFO or hard link: start-up refuses, root file untouched",
         test_planted_files_refused),
        ("postmeter db as root: planted links not followed", test_cli_as_root_refused),
        ("pid file: planted links not followed", test_pid_file),
        ("database modes: 0640, an existing one given to the user and said", test_modes),
    ], name="rootfiles", milter=False, transport="sink", dovecot=False)
