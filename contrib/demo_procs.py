#!/usr/bin/python3
"""demo_procs.py - the demo's state files and its own processes: where the
driver writes its pid and info, how a process is known to be the demo's
(its command line names the demo's state directory), and stopping them
all - never anything the demo did not start. Used by contrib/demo.py.
"""
import json
import os
import signal
import subprocess
import time

from pmtest.harness import pid_alive  # demo.py puts tests/integration on sys.path

STOP_TIMEOUT = 90     # seconds for the driver to stop everything


def say(msg):
    """say - one progress line, demo.sh style"""
    print("== " + msg, flush=True)


def files(state):
    """files - the driver's own files, next to the state dir"""
    return {"pid": state + ".pid", "log": state + ".log", "info": state + ".json"}


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid):
    """cmdline - argv of pid as a list ([] if gone)"""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def is_driver(pid, state):
    """is_driver - pid is a live 'demo.py serve STATE' (not a recycled pid)"""
    argv = cmdline(pid)
    return (pid_alive(pid) and "serve" in argv and state in argv
            and any(a.endswith("demo.py") for a in argv))


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.rename(tmp, path)


def load_info(state):
    try:
        with open(files(state)["info"]) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------
# serve: the background driver


DAEMONS = ("unbound", "dovecot", "postmeter-milter", "postmeter-tracker")  # "-c STATE/..."


def under(path, state):
    """under - path is state or inside it"""
    return path == state or path.startswith(state + "/")


def ours(pid, state, info):
    """ours - pid is a process of the demo in state (never anybody else's)

    The driver; unbound, dovecot, postmeter-milter and -tracker run with a config
    file under state; Postfix processes carry MAIL_CONFIG=state/postfix/etc
    in their environment; Dovecot's children are titled after the
    instance ("dovecot-pmtest-<imap port>/...") and share its session.
    """
    argv = cmdline(pid)
    if not argv:
        return False
    if is_driver(pid, state):
        return True
    if os.path.basename(argv[0]) in DAEMONS and any(under(a, state) for a in argv[1:]):
        return True
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            env = f.read().split(b"\0")
        if b"MAIL_CONFIG=" + os.path.join(state, "postfix", "etc").encode() in env:
            return True
    except OSError:
        pass
    if info and info.get("imap_port"):
        return argv[0].startswith("dovecot-pmtest-%d/" % info["imap_port"])
    return False


def leftovers(state):
    """leftovers - live pids (not us, not our ancestors) of the demo in state"""
    info = load_info(state)
    mine = set()
    p = os.getpid()
    while p > 1:
        mine.add(p)
        try:
            with open("/proc/%d/stat" % p) as f:
                p = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in mine and pid_alive(int(d)) and ours(int(d), state, info):
            out.append(int(d))
    return sorted(out)


def describe(pid):
    return "%d (%s)" % (pid, " ".join(cmdline(pid))[:80] or "?")


def stop(state, quiet=False):
    """stop - end the driver, then whatever of state it left; True if all gone"""
    f = files(state)
    pid = read_pid(f["pid"])
    if pid is not None and is_driver(pid, state):
        say("stopping the demo (driver pid %d)" % pid)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            say("driver %d did not stop in %d s; killing it" % (pid, STOP_TIMEOUT))
            os.kill(pid, signal.SIGKILL)
    elif not leftovers(state):
        for p in (f["pid"], f["info"]):  # stale, if the machine rebooted
            if os.path.exists(p):
                os.unlink(p)
        if not quiet:
            say("no demo is running in %s" % state)
        return True
    else:
        say("the demo's driver is gone; stopping what it left running")
    # A driver that was killed leaves its daemons: Postfix first, politely.
    pf = os.path.join(state, "postfix", "etc")
    master = read_pid(os.path.join(state, "postfix", "queue", "pid", "master.pid"))
    if master is not None and pid_alive(master) and ours(master, state, load_info(state)):
        say("stopping the demo's Postfix (master pid %d)" % master)
        subprocess.run(["postfix", "-c", pf, "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        deadline = time.monotonic() + 30
        while pid_alive(master) and time.monotonic() < deadline:
            time.sleep(0.2)
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        left = leftovers(state)
        if not left:
            break
        say("ending leftover processes of %s with %s: %s" % (
            state, sig.name, ", ".join(describe(p) for p in left)))
        for p in left:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while any(pid_alive(p) for p in left) and time.monotonic() < deadline:
            time.sleep(0.2)
    left = leftovers(state)
    for p in (f["pid"], f["info"]):
        if not left:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    if left:
        say("still running: " + ", ".join(describe(p) for p in left))
        return False
    if not quiet:
        say("stopped; nothing of %s is running (state kept for a look)" % state)
    return True


# ----------------------------------------------------------------------
# start: driver in the background, then mail through it
