#!/usr/bin/python3
"""test_cli_privsep.py - postmeter run by root on a database the service user
(nobody) can change: the command works on it as the user, in a child that
the root parent serves key files to (cli/privsep.c).

Checks: in a terminal, the child has no controlling terminal once it is
the user (it could otherwise type into root's shell with TIOCSTI), and
Ctrl-C still stops the command; SIGTERM to the root parent also ends a
child that hangs (a FIFO as database); the root parent reads only the key
files of the domain on the command line, whatever the database names; a
database file, or a -wal file, that the user owns, in a directory only
root can change, is not opened as root.
Prints 'N passed, M failed'; exits 1 if anything failed.
"""

import os
import pty
import pwd
import select
import signal
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("POSTMETER_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PM = os.path.join(BUILD, "cli", "postmeter")
NOBODY = pwd.getpwnam("nobody")

passed = 0
failed = 0


def check(label, got, want):
    global passed, failed
    if got == want:
        passed += 1
        print("ok   %s" % label)
    else:
        failed += 1
        print("FAIL %s\n     got:  %r\n     want: %r" % (label, got, want))


def as_nobody():
    os.setgroups([])
    os.setgid(NOBODY.pw_gid)
    os.setuid(NOBODY.pw_uid)


class Env:
    """A postmeter.conf with the database in dbdir and keys in work/keys."""

    def __init__(self, work, dbdir):
        self.conf = os.path.join(work, "postmeter-%s.conf" % os.path.basename(dbdir))
        self.db = os.path.join(dbdir, "pm.db")
        with open(self.conf, "w") as f:
            f.write("database = %s\n" % self.db)
            f.write("dkim_key_dir = %s\n" % os.path.join(work, "keys"))
            f.write("dns_servers = 127.0.0.1@1\ndns_timeout_ms = 300\n")
            f.write("user = nobody\nhostname = mx.example.test\n")

    def pm(self, *args):
        p = subprocess.run([PM, "-c", self.conf] + list(args), capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr


def proc_stat(pid):
    """(uid, tty_nr) of pid, None if it is gone or a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/status" % pid) as f:
            uid = [int(ln.split()[1]) for ln in f if ln.startswith("Uid:")][0]
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else (uid, int(fields[4]))


def gone(pid, seconds=5):
    end = time.time() + seconds
    while time.time() < end:
        if proc_stat(pid) is None:
            return True
        time.sleep(0.05)
    return False


def start_hung(env, terminal=True):
    """Run 'postmeter dns' on a FIFO database in a new terminal, as a shell's
    command would be (or without one, as automation would); return (parent
    pid, pty master or Popen, child pid) once the child is the user and
    blocked."""
    argv = [PM, "-c", env.conf, "dns", "example.test"]
    if terminal:
        pid, master = pty.fork()
        if pid == 0:
            os.execv(PM, argv)
    else:  # no terminal to hang up when the parent dies
        master = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        pid = master.pid
    child = None
    end = time.time() + 10
    while time.time() < end:
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            kids = []
        st = proc_stat(kids[0]) if kids else None
        if st is not None and st[0] == NOBODY.pw_uid:
            child = kids[0]
            break
        time.sleep(0.05)
    time.sleep(0.3)  # into the FIFO's open
    return pid, master, child


def drain(master):
    while select.select([master], [], [], 0.1)[0]:
        try:
            if not os.read(master, 4096):
                return
        except OSError:
            return


def reap(pid, seconds=5):
    end = time.time() + seconds
    while time.time() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # reaped already
            return True
        time.sleep(0.05)
    return False


def test_terminal_and_signals(work):
    udir = os.path.join(work, "hang")
    os.mkdir(udir, 0o750)
    os.chown(udir, NOBODY.pw_uid, NOBODY.pw_gid)
    env = Env(work, udir)
    os.mkfifo(env.db)

    pid, master, child = start_hung(env)
    try:
        check("hung command: the child runs as nobody", child is not None, True)
        pst, cst = proc_stat(pid), proc_stat(child) if child else None
        check("in a terminal: the root parent has it as controlling terminal, the child not",
              (pst is not None and pst[1] != 0, cst is not None and cst[1]), (True, 0))
        drain(master)
        os.write(master, b"\x03")  # Ctrl-C: SIGINT to the foreground process group
        check("Ctrl-C stops the root parent and the child",
              (reap(pid), child is not None and gone(child)), (True, True))
    finally:
        for p in (pid, child):
            if p and proc_stat(p) is not None:
                os.kill(p, signal.SIGKILL)
        reap(pid, 1)
        os.close(master)

    pid, popen, child = start_hung(env, terminal=False)
    try:
        os.kill(pid, signal.SIGTERM)  # as automation would kill the command it started
        check("no terminal: SIGTERM to the root parent ends the hung child too",
              (child is not None, reap(pid), child is not None and gone(child)),
              (True, True, True))
    finally:
        for p in (pid, child):
            if p and proc_stat(p) is not None:
                os.kill(p, signal.SIGKILL)
        reap(pid, 1)


def test_other_domains_key(work):
    """The database names another domain's key file: root does not read it for this domain."""
    udir = os.path.join(work, "user")
    os.mkdir(udir, 0o750)
    os.chown(udir, NOBODY.pw_uid, NOBODY.pw_gid)
    env = Env(work, udir)
    rc1, out1, err1 = env.pm("dkim", "keygen", "example.test", "--selector", "a")
    rc2, out2, err2 = env.pm("dkim", "keygen", "other.test", "--selector", "b")
    check("keygen as root on the user's database: exit 0", (rc1, rc2), (0, 0))
    other = os.path.join(work, "keys", "other.test.b.key")
    plant = ("import sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1])\n"
             "c.execute(\"update dkim_keys set key_file = ? where domain = 'example.test'\", "
             "(sys.argv[2],))\n"
             "c.commit()\n")
    subprocess.run(["/usr/bin/python3", "-c", plant, env.db, other], check=True,
                   preexec_fn=as_nobody, cwd="/")
    rc, out, err = env.pm("dns", "example.test")
    check("dns example.test: root refuses to read other.test's key file the database names",
          (rc, "other.test.b.key: refused: not a key file of the domain" in out + err),
          (1, True))
    rc, out, err = env.pm("dns", "other.test")
    check("dns other.test: its own key file is read", (rc, "b._domainkey.other.test" in out),
          (0, True))


def test_user_files_in_root_dir(work):
    """A directory only root can change, a database file (or -wal) the user owns."""
    for side in ("", "-wal"):
        rdir = os.path.join(work, "root" + side)
        os.mkdir(rdir, 0o755)
        env = Env(work, rdir)
        rc, out, err = env.pm("db", "migrate")
        check("root's directory%s: db migrate as root: exit 0" % side, rc, 0)
        # Root could open a file mode 000, the user it drops to cannot: that shows who opens it.
        os.chmod(env.db, 0)
        if side:
            with open(env.db + side, "w"):
                pass
            os.chown(env.db + side, NOBODY.pw_uid, NOBODY.pw_gid)
        else:
            os.chown(env.db, NOBODY.pw_uid, NOBODY.pw_gid)
        rc, out, err = env.pm("dkim", "list")
        check("root's directory, the user's database%s file: not opened as root" % side,
              (rc, "pm.db" in err), (1, True))


def main():
    if not os.access(PM, os.X_OK):
        print("FAIL postmeter not built at %s" % PM)
        return 1
    if os.geteuid() != 0:
        print("FAIL needs root")
        return 1
    with tempfile.TemporaryDirectory(prefix="pm-privsep-") as work:
        os.chmod(work, 0o755)
        try:
            test_terminal_and_signals(work)
            test_other_domains_key(work)
            test_user_files_in_root_dir(work)
        except Exception as e:  # report, then count as a failure
            import traceback
            traceback.print_exc()
            check("no exception", repr(e), None)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
