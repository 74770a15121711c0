#!/usr/bin/python3
"""test_milter_daemon.py - postmeter-milter as an admin runs it.

Checks the process around the callbacks, against a real Postfix:
  - `-t` prints every effective value; a bad file stops start-up with
    FILE:LINE: message for each problem (unknown key, bad value, out of
    range) and a missing file is reported;
  - a unix: socket gets milter_socket_mode and milter_socket_group, the
    process runs as the configured user, and Postfix (smtpd running as
    the postfix user) delivers mail through it;
  - SIGHUP with a broken file keeps the running configuration, SIGHUP
    with a good file applies it (log_subject switches on for new mail);
  - daemon mode (no -f) detaches, writes pid_file, and SIGTERM removes
    it and exits;
  - the pixel engine (pixel_module, GMime) is in the process only once
    tracking is on: not at start-up without it, loaded by the SIGHUP that
    turns it on; a module that cannot be loaded fails -t and start-up
    (in daemon mode too: before detaching) with its path named.
"""
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, check, check_eq, free_port, log, main_with_harness,
                            make_message, new_message_id, pid_alive, wait_for)


def milter(h, *args, conf=None):
    return subprocess.run([h.milter_bin, "-c", conf or h.milter_conf_path] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)


def test_check_prints_effective_values(h):
    p = milter(h, "-t")
    check_eq(p.returncode, 0, "exit status of -t")
    out = p.stdout.decode()
    values = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    for key in ("milter_socket", "database", "user", "dns_servers", "authserv_id",
                "trusted_networks", "log_subject"):
        check(key in values, "-t prints %s" % key, out)
    check_eq(values["milter_socket"], "unix:" + h.milter_socket_path(), "milter_socket")
    check_eq(values["milter_socket_mode"], "0660", "default milter_socket_mode")
    check_eq(values["trusted_networks"], "127.0.0.1/32", "trusted_networks")


def test_bad_config_stops_startup(h):
    bad = h.path("bad.conf")
    with open(bad, "w") as f:
        f.write("# a comment\n"
                "milter_socket = inet:99999@127.0.0.1\n"
                "no_such_key = 1\n"
                "log_subject = maybe\n"
                "ledger_batch_max = 0\n"
                "trusted_networks = 10.0.0.0/33\n")
    p = milter(h, "-t", conf=bad)
    err = p.stderr.decode()
    check(p.returncode != 0, "bad config exits non-zero", err)
    for line, what in ((2, "milter_socket"), (3, "unknown key \"no_such_key\""),
                       (4, "log_subject"), (5, "ledger_batch_max"), (6, "trusted_networks")):
        check("%s:%d: " % (bad, line) in err and what in err,
              "error for line %d names %s" % (line, what), err)
    p = milter(h, "-f", conf=h.path("missing.conf"))
    check(p.returncode != 0 and "missing.conf" in p.stderr.decode(),
          "missing file is an error", p.stderr.decode())


def send_one(h, subject):
    mid = new_message_id()
    msg = make_message([("From", "x@remote.test"), ("To", "alice@example.test"),
                        ("Subject", subject)], "daemon test\n", message_id=mid)
    h.send("x@remote.test", ["alice@example.test"], msg, source_ip=INBOUND_IP)
    return mid


def row_for(h, mid):
    """row_for - the ledger row of <mid>, read with SQL (the CLI would
    refuse a broken configuration file, which is what SIGHUP tests use)"""
    def find():
        rows = h.db_query("SELECT action, subject FROM messages WHERE message_id IN (?, ?)",
                          (mid, "<%s>" % mid))
        return rows[0] if rows else None
    return wait_for(find, 30, "ledger row for <%s>" % mid)


def test_unix_socket_mode_group_user(h):
    path = h.milter_socket_path()
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode), "%s is a socket" % path)
    check_eq(oct(st.st_mode & 0o777), oct(0o660), "socket mode")
    check_eq(grp.getgrgid(st.st_gid).gr_name, "postfix", "socket group")
    with open("/proc/%d/status" % h.milter_pid) as f:
        uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
    nobody = pwd.getpwnam("nobody").pw_uid
    check_eq([int(u) for u in uids], [nobody] * 4, "milter real/effective/saved/fs uid")
    mid = send_one(h, "through the unix socket")
    row = row_for(h, mid)
    check_eq(row.get("action"), "accept", "action")
    check_eq(row.get("subject"), None, "subject not logged (log_subject = no)")


def test_sighup(h):
    conf = h.milter_conf_path
    with open(conf) as f:
        good = f.read()
    pid = h.milter_pid
    try:
        with open(conf, "a") as f:
            f.write("log_subject = perhaps\n")
        h.reload_milter()
        time.sleep(1.5)
        check(h.milter_alive() and h.milter_pid == pid, "alive after SIGHUP with a broken file")
        mid = send_one(h, "after a broken reload")
        check_eq(row_for(h, mid).get("subject"), None, "broken reload kept log_subject = no")
        with open(h.milter_log(), errors="replace") as f:
            check("still running with the previous one" in f.read(),
                  "broken reload is logged")
        with open(conf, "w") as f:
            f.write(good.replace("log_subject = no", "log_subject = yes"))
        h.reload_milter()
        wait_for(lambda: "configuration reloaded" in open(h.milter_log(), errors="replace").read(),
                 10, "reload to be logged")
        mid = send_one(h, "after a good reload")
        check_eq(row_for(h, mid).get("subject"), "after a good reload",
                 "good reload switched log_subject on")
        check(h.milter_alive() and h.milter_pid == pid, "same process after reloads")
    finally:
        with open(conf, "w") as f:
            f.write(good)


def mapped(pid):
    """mapped - the file names of what process pid has mapped"""
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) > 5}


def conf_with(h, name, extra):
    """conf_with - the harness' settings with extra keys set, as a file name"""
    path = h.path(name)
    settings = h.milter_settings()
    settings.update(extra)
    with open(path, "w") as out:
        for k, v in settings.items():
            out.write("%s = %s\n" % (k, v))
    return path


def test_pixel_engine_on_demand(h):
    pid = h.milter_pid
    libs = mapped(pid)
    check(not any(n.startswith(("libgmime", "libglib", "libgio")) or n == "postmeter-pixel.so"
                  for n in libs), "no GMime/GLib and no pixel engine without tracking",
          sorted(libs))

    # a module that is not there: -t and start-up fail and name it
    missing = h.path("no-such-pixel.so")
    port = free_port()
    bad = conf_with(h, "bad-module.conf", {"tracking_base_url": "https://t.example",
                                            "pixel_module": missing,
                                            "milter_socket": "inet:%d@127.0.0.1" % port})
    p = milter(h, "-t", conf=bad)
    err = p.stderr.decode()
    check(p.returncode != 0 and missing in err and "pixel engine" in err,
          "-t fails for a pixel_module that cannot be loaded", err)
    p = milter(h, "-f", conf=bad)
    err = p.stderr.decode()
    check(p.returncode != 0 and "tracking: cannot load the pixel engine: " + missing in err,
          "start-up stops for a pixel_module that cannot be loaded", err)
    p = milter(h, conf=bad)  # daemon mode: the command that starts it fails, before detaching
    check(p.returncode != 0, "daemon start-up exits non-zero for a missing pixel_module",
          "exit %d" % p.returncode)

    # a reload that turns tracking on loads it (as the milter's user: a copy
    # it can read wherever the build tree is)
    module = h.path("postmeter-pixel.so")
    shutil.copyfile(h.milter_settings()["pixel_module"], module)
    os.chmod(module, 0o644)
    conf = h.milter_conf_path
    with open(conf) as f:
        good = f.read()
    try:
        shutil.copyfile(conf_with(h, "tracking.conf", {"tracking_base_url": "https://t.example",
                                                        "pixel_module": module}), conf)
        h.reload_milter()
        wait_for(lambda: "postmeter-pixel.so" in mapped(pid), 10,
                 "the pixel engine to be loaded by the reload")
        check(h.milter_alive() and h.milter_pid == pid, "same process after the reload")
    finally:
        with open(conf, "w") as f:
            f.write(good)
        h.reload_milter()


def test_sighup_storm(h):
    """SIGHUPs that come while a reload is running are reloads too, never a
    stop (libmilter's signal thread used to end the filter on SIGHUP; the
    server is ours now, and this stays a regression test)"""
    pid = h.milter_pid
    before = open(h.milter_log(), errors="replace").read().count("configuration reloaded")
    for burst in range(3):
        for _ in range(200):
            os.kill(pid, signal.SIGHUP)
        time.sleep(1)
        check(h.milter_alive() and h.milter_pid == pid,
              "alive after burst %d of 200 SIGHUPs in a row" % (burst + 1))
    after = open(h.milter_log(), errors="replace").read().count("configuration reloaded")
    check(after > before, "the SIGHUPs reloaded the configuration")
    check("stopping" not in open(h.milter_log(), errors="replace").read(), "no stop logged")
    mid = send_one(h, "after a SIGHUP storm")
    check(row_for(h, mid), "mail still flows and is recorded")


def test_daemon_mode(h):
    conf = h.path("daemon.conf")
    # Like systemd's RuntimeDirectory=: owned by the service user, so the
    # daemon can remove its pid file after dropping privileges.
    rundir = h.path("run", "daemon")
    os.makedirs(rundir)
    nobody = pwd.getpwnam("nobody")
    os.chown(rundir, nobody.pw_uid, nobody.pw_gid)
    pidf = os.path.join(rundir, "milter.pid")
    sock = os.path.join(rundir, "milter.sock")
    with open(h.milter_conf_path) as f:
        text = f.read()
    lines = [l for l in text.splitlines()
             if not l.startswith(("milter_socket", "pid_file", "database"))]
    lines += ["milter_socket = unix:%s" % sock, "milter_socket_mode = 0600",
              "pid_file = %s" % pidf,
              "database = %s" % h.path("postmeter", "daemon.db")]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = milter(h, conf=conf)  # no -f: detaches, parent returns
    check_eq(p.returncode, 0, "parent exit status in daemon mode")
    wait_for(lambda: os.path.exists(pidf) and os.path.exists(sock), 10, "pid file and socket")
    pid = int(open(pidf).read().strip())
    check(pid_alive(pid), "daemon %d runs" % pid)
    check_eq(oct(os.stat(sock).st_mode & 0o777), oct(0o600), "daemon socket mode")
    with open("/proc/%d/status" % pid) as f:
        ppid = [int(l.split()[1]) for l in f if l.startswith("PPid:")][0]
    check(ppid != p.returncode and ppid != os.getpid(), "daemon is detached from us")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pid_alive(pid), 20, "daemon to exit after SIGTERM")
    check(not os.path.exists(pidf), "pid file removed at exit")


if __name__ == "__main__":
    main_with_harness([
        ("-t prints the effective configuration", test_check_prints_effective_values),
        ("a bad configuration stops start-up with FILE:LINE", test_bad_config_stops_startup),
        ("unix socket: mode, group, user; Postfix delivers through it",
         test_unix_socket_mode_group_user),
        ("SIGHUP: broken file kept out, good file applied", test_sighup),
        ("3 x 200 SIGHUPs in a row: reloads, never a stop", test_sighup_storm),
        ("daemon mode: detach, pid file, SIGTERM", test_daemon_mode),
        ("the pixel engine: loaded when tracking is on, a missing one named",
         test_pixel_engine_on_demand),
    ], name="daemon", milter_unix=True)
