"""pmtest.procs - logging, polling and subprocess helpers of the harness.

log() writes progress lines; wait_port(), wait_for() and pid_alive() poll
daemons and conditions; run() runs a command and raises with its output
when it fails.
"""

import socket
import subprocess
import sys
import time


def log(msg):
    """log - one timestamped progress line on stderr"""
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def wait_port(port, host="127.0.0.1", timeout=30.0, proc=None, what=None):
    """wait_port - poll until something accepts TCP connections on port"""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with status %s before listening on %d"
                               % (what or "process", proc.returncode, port))
        if time.monotonic() > deadline:
            raise RuntimeError("%s: nothing listens on %s:%d after %.0f s"
                               % (what or "wait_port", host, port, timeout))
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def wait_for(pred, timeout, what, interval=0.1):
    """wait_for - poll pred() until it returns a true value; return it"""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """pid_alive - True if pid exists and is not a zombie"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def run(cmd, check=True, input=None, timeout=120, env=None):
    """run - run cmd, capture output, raise with the output on failure"""
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p
