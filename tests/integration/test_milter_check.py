#!/usr/bin/python3
"""test_milter_check.py - `postmeter-milter -t` checks the system, not just the syntax.

Each case makes one fault in the harness's configuration or on the
system it names, and `-t` must exit 1 with a line "postmeter-milter:
KEY: what is wrong; fix: what to do" naming that key, what is wrong and
the fix; then the fault is fixed (where the message gives a command,
that very command is run) and `-t` must exit 0 with the line
"postmeter-milter: configuration FILE OK". The faults: a user or a
milter_socket_group that does not exist; a socket directory that does
not exist, that root cannot write (a read-only file system), or a file
that is not a socket at the socket's name; a database directory that
does not exist or that the user cannot write; a database file the user
cannot write; relative database, ledger_spool and pid_file; a pid
file's directory that does not exist; active and pending DKIM key files
the user cannot read; a pixel_module that does not load with tracking
on (start-up says so, and starts all the same: one key must not hold
up all mail). Last, every fault at once: all are reported in one run, by -t and
by start-up (-f), which exits 1 without making the socket.
"""
import glob
import grp
import os
import pwd
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest import settings
from pmtest.harness import check, check_eq, log, main_with_harness

USER = settings.MILTER_USER
GROUP = grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_name
PREFIX = "postmeter-milter: "


def conf_with(h, name, changes):
    """conf_with - the harness's postmeter.conf with changes (None: key left out); its path"""
    s = h.milter_settings()
    s.update(changes)
    path = h.path(name)
    with open(path, "w") as f:
        for k, v in s.items():
            if v is not None:
                f.write("%s = %s\n" % (k, v))
    return path


def run_check(h, conf, *extra):
    """run_check - postmeter-milter -c conf -t (or extra): (status, stdout, stderr)"""
    p = subprocess.run([h.milter_bin, "-c", conf] + list(extra or ("-t",)),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def problems(err):
    """problems - the KEY: ...; fix: ... lines of an output, without the program name"""
    return [line[len(PREFIX):] for line in err.splitlines()
            if line.startswith(PREFIX) and "; fix: " in line]


def fails(h, conf, key, what, fix):
    """fails - -t exits 1 with one line for key saying what and fix; that line"""
    rc, out, err = run_check(h, conf)
    check_eq(rc, 1, "exit status of -t with a bad %s" % key)
    check("configuration %s OK" % conf not in out, "no OK line for a bad %s" % key, out)
    mine = [p for p in problems(err) if p.startswith(key + ": ")]
    check(len(mine) == 1, "one line for %s" % key, err)
    wrong, _, how = mine[0][len(key) + 2:].partition("; fix: ")
    check(what in wrong, "%s: says what is wrong (%r)" % (key, what), mine[0])
    check(fix in how, "%s: says the fix (%r)" % (key, fix), mine[0])
    log("  %s" % mine[0])
    return mine[0]


def passes(h, conf):
    """passes - -t exits 0 and says which file it read"""
    rc, out, err = run_check(h, conf)
    check_eq(rc, 0, "exit status of -t once fixed: %s" % err)
    check_eq(problems(err), [], "no problem lines once fixed")
    check_eq(out.splitlines()[-1], PREFIX + "configuration %s OK" % conf, "the OK line")


def run_fix(line):
    """run_fix - run the command a problem line gives as its fix"""
    cmd = line.split("; fix: ", 1)[1]
    log("  running the fix: %s" % cmd)
    subprocess.run(cmd, shell=True, check=True)


def test_harness_config_ok(h):
    passes(h, h.milter_conf_path)


def test_user(h):
    conf = conf_with(h, "user.conf", {"user": "pmtest-no-such-user"})
    fails(h, conf, "user", 'user "pmtest-no-such-user" does not exist',
          "create it (adduser --system --group pmtest-no-such-user)")
    passes(h, conf_with(h, "user.conf", {}))


def test_group(h):
    conf = conf_with(h, "group.conf", {"milter_socket_group": "pmtest-no-such-group"})
    fails(h, conf, "milter_socket_group", 'group "pmtest-no-such-group" does not exist',
          "set it to the group the MTA's milter clients run as")
    passes(h, conf_with(h, "group.conf", {}))


def test_socket_dir_missing(h):
    d = h.path("sock-missing")
    conf = conf_with(h, "sockdir.conf", {"milter_socket": "unix:%s/milter.sock" % d})
    fails(h, conf, "milter_socket", "the directory %s (for the socket) does not exist" % d,
          "create it before start-up")
    os.mkdir(d)
    passes(h, conf)


def test_socket_dir_readonly(h):
    d = h.path("sock-ro")
    os.mkdir(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "pmtest-ro", d], check=True)
    try:
        conf = conf_with(h, "sockro.conf", {"milter_socket": "unix:%s/milter.sock" % d})
        fails(h, conf, "milter_socket",
              "root cannot make the socket in the directory %s: Read-only file system" % d,
              "set milter_socket to a path in a directory root can write")
        subprocess.run(["mount", "-o", "remount,rw", d], check=True)
        passes(h, conf)
    finally:
        subprocess.run(["umount", d])


def test_socket_not_a_socket(h):
    d = h.path("sock-file")
    os.mkdir(d)
    conf = conf_with(h, "sockfile.conf", {"milter_socket": "unix:%s/milter.sock" % d})
    with open(os.path.join(d, "milter.sock"), "w") as f:
        f.write("not a socket\n")
    fails(h, conf, "milter_socket", "%s/milter.sock exists and is not a socket" % d,
          "remove it")
    os.unlink(os.path.join(d, "milter.sock"))
    passes(h, conf)


def test_database_dir_missing(h):
    d = h.path("db-missing")
    conf = conf_with(h, "dbmissing.conf", {"database": d + "/postmeter.db"})
    line = fails(h, conf, "database",
                 "the directory %s does not exist; it must exist and be writable by user %s"
                 % (d, USER), "install -d -o %s -g %s -m 0750 %s" % (USER, GROUP, d))
    run_fix(line)
    passes(h, conf)


def test_database_dir_not_writable(h):
    d = os.path.dirname(h.database)
    os.chown(d, 0, 0)  # root's, 0750: the user can read it, not write it
    try:
        fails(h, h.milter_conf_path, "database",
              "the directory %s must exist and be writable by user %s" % (d, USER),
              "chown %s %s" % (USER, d))
    finally:
        subprocess.run(["chown", USER, d], check=True)  # the fix given
    passes(h, h.milter_conf_path)


def test_database_file(h):
    d = h.path("db-file")
    os.mkdir(d, 0o750)
    nob = pwd.getpwnam(USER)
    os.chown(d, nob.pw_uid, nob.pw_gid)
    db = os.path.join(d, "postmeter.db")
    open(db, "w").close()
    os.chown(db, nob.pw_uid, nob.pw_gid)
    os.chmod(db, 0o444)
    conf = conf_with(h, "dbfile.conf", {"database": db})
    line = fails(h, conf, "database",
                 "the file %s must be readable and writable by user %s (mode 0444)" % (db, USER),
                 "chmod 0640 %s" % db)
    run_fix(line)
    passes(h, conf)


def test_relative_paths(h):
    conf = conf_with(h, "relative.conf", {"database": "postmeter.db",
                                          "ledger_spool": "postmeter.spool",
                                          "pid_file": "milter.pid"})
    for key, value in (("database", "postmeter.db"), ("ledger_spool", "postmeter.spool"),
                       ("pid_file", "milter.pid")):
        fails(h, conf, key, '"%s" is not an absolute path' % value, "give its absolute path")
    conf = conf_with(h, "relative.conf", {"ledger_spool": h.path("postmeter", "x.spool"),
                                          "pid_file": h.path("run", "check.pid")})
    passes(h, conf)


def test_pid_dir_missing(h):
    d = h.path("pid-missing")
    conf = conf_with(h, "pid.conf", {"pid_file": d + "/milter.pid"})
    fails(h, conf, "pid_file", "the directory %s (for the pid file) does not exist" % d,
          "create it before start-up")
    os.mkdir(d)
    passes(h, conf)


def key_conf(h):
    return conf_with(h, "keys.conf", {"dkim_key_dir": h.path("keys")})


def make_keys(h):
    """make_keys - an active and a pending key of example.test (postmeter dkim); their files"""
    conf = key_conf(h)
    for args in (["keygen", "example.test"], ["rotate", "example.test"]):
        p = subprocess.run([h.cli_bin, "-c", conf, "dkim"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        check_eq(p.returncode, 0, "postmeter dkim %s: %s" % (" ".join(args), p.stderr))
    files = sorted(glob.glob(h.path("keys", "*.key")))
    check_eq(len(files), 2, "key files made")
    return files


def test_keys_unreadable(h):
    conf = key_conf(h)
    files = make_keys(h)
    passes(h, conf)
    for f in files:
        os.chmod(f, 0o600)
    rc, _, err = run_check(h, conf)
    check_eq(rc, 1, "exit status of -t with unreadable keys")
    lines = [p for p in problems(err) if p.startswith("dkim_key_dir: ")]
    check_eq(len(lines), 2, "one line per unreadable key")
    for state in ("active", "pending"):
        mine = [p for p in lines if p.startswith("dkim_key_dir: %s key " % state)]
        check(len(mine) == 1, "the %s key is named" % state, err)
        f = [f for f in files if f in mine[0]]
        check(len(f) == 1, "the %s key's file is named" % state, mine[0])
        check("of example.test: user %s cannot read %s: Permission denied" % (USER, f[0])
              in mine[0], "says who cannot read it", mine[0])
        check("; fix: chgrp %s %s && chmod 0640 %s," % (GROUP, f[0], f[0]) in mine[0],
              "says the fix", mine[0])
        log("  %s" % mine[0])
    starts_despite_keys(h, files)
    for f in files:
        subprocess.run(["chmod", "0640", f], check=True)  # the fix given
    passes(h, conf)


def starts_despite_keys(h, files):
    """start-up says an unusable key but starts: one key must not hold up all mail"""
    sock = h.path("keys-start", "milter.sock")
    os.makedirs(os.path.dirname(sock), exist_ok=True)
    conf = conf_with(h, "keys-start.conf", {"dkim_key_dir": h.path("keys"),
                                            "milter_socket": "unix:" + sock})
    p = subprocess.Popen([h.milter_bin, "-c", conf, "-f"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        check(p.poll() is None and os.path.exists(sock), "start-up with unreadable keys runs")
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    err = err.decode(errors="replace")
    for f in files:
        check(("cannot read %s" % f) in err, "start-up warns about %s" % f, err[-2000:])


def test_pixel_module(h):
    missing = h.path("no-such-pixel.so")
    conf = conf_with(h, "pixel.conf", {"tracking_base_url": "https://t.example",
                                       "pixel_module": missing})
    fails(h, conf, "pixel_module", "cannot load the pixel engine: %s" % missing,
          "install the pixel engine")
    passes(h, conf_with(h, "pixel.conf", {"tracking_base_url": "https://t.example"}))


def test_all_at_once(h):
    d = os.path.dirname(h.database)
    keys = sorted(glob.glob(h.path("keys", "*.key")))
    check(keys, "keys from the keys case")
    sock = h.path("all-missing", "milter.sock")
    faults = {"milter_socket_group": "pmtest-no-such-group",
              "milter_socket": "unix:" + sock,
              "pid_file": h.path("all-pid-missing", "milter.pid"),
              "ledger_spool": "relative.spool",
              "tracking_base_url": "https://t.example",
              "pixel_module": h.path("no-such-pixel.so")}
    want = ["milter_socket_group", "milter_socket", "pid_file", "ledger_spool", "pixel_module",
            "database", "dkim_key_dir"]
    conf = conf_with(h, "all.conf", faults)
    os.chmod(d, 0o550)  # the user's, but it cannot write it (it can still read the keys' rows)
    os.chmod(keys[0], 0o600)
    try:
        rc, out, err = run_check(h, conf)
        check_eq(rc, 1, "exit status of -t with every fault")
        check("OK" not in out.splitlines()[-1], "no OK line", out)
        got = [p.split(":", 1)[0] for p in problems(err)]
        check_eq(sorted(got), sorted(want), "keys reported by -t")
        # start-up runs the same checks: every line once, exit 1, no socket made
        rc, _, err = run_check(h, conf, "-f")
        check_eq(rc, 1, "exit status of start-up with every fault")
        got = [re.sub(r"^warning: ", "", p).split(":", 1)[0] for p in problems(err)]
        check_eq(sorted(got), sorted(want), "keys reported by start-up, once each")
        check(not os.path.exists(sock), "start-up made no socket")
        # no user: what it could do is not asked, everything else still is
        conf = conf_with(h, "all.conf", dict(faults, user="pmtest-no-such-user"))
        rc, _, err = run_check(h, conf)
        check_eq(rc, 1, "exit status of -t with every fault and no user")
        got = [p.split(":", 1)[0] for p in problems(err)]
        check_eq(sorted(got), sorted(["user"] + want[:5]), "keys reported without a user")
    finally:
        os.chmod(d, 0o750)
        os.chmod(keys[0], 0o640)
    passes(h, h.milter_conf_path)
    shutil.rmtree(h.path("keys"), ignore_errors=True)


if __name__ == "__main__":
    main_with_harness([
        ("the harness's configuration passes", test_harness_config_ok),
        ("user that does not exist", test_user),
        ("milter_socket_group that does not exist", test_group),
        ("socket directory that does not exist", test_socket_dir_missing),
        ("socket directory on a read-only file system", test_socket_dir_readonly),
        ("a file that is not a socket at milter_socket", test_socket_not_a_socket),
        ("database directory that does not exist: the fix given works", test_database_dir_missing),
        ("database directory the user cannot write", test_database_dir_not_writable),
        ("database file the user cannot write", test_database_file),
        ("relative database, ledger_spool and pid_file", test_relative_paths),
        ("pid_file directory that does not exist", test_pid_dir_missing),
        ("active and pending key files the user cannot read", test_keys_unreadable),
        ("pixel_module that does not load", test_pixel_module),
        ("every fault at once: all reported, by -t and by start-up", test_all_at_once),
    ], milter_unix=True, name="check")
