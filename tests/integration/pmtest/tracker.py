"""pmtest.tracker - postmeter-tracker next to a Harness, and raw HTTP to it.

Tracker(h, port) writes tracker.conf in the harness's state dir (the
harness's postmeter.conf, so the same database, plus the tracker's keys
and any overrides), runs postmeter-tracker -f as a child (sanitizer
reports into the harness's sanitizer dir, which Harness.stop() checks)
and stops it with SIGTERM. raw_request() sends bytes as they are and
returns the whole answer, for byte-for-byte comparisons; split_response()
takes it apart. token_key() and mint() make tokens as postmeter-milter
does (lib/track.c), for rows a test puts into tracked_messages itself.
"""

import base64
import hashlib
import hmac
import os
import signal
import socket
import sqlite3
import subprocess
import time

from pmtest import settings
from pmtest.procs import log, wait_port
from pmtest.runner import check_eq


class Tracker:
    """Tracker - one postmeter-tracker process for a started Harness."""

    def __init__(self, h, port, conf=None):
        self.h = h
        self.port = port
        self.extra = dict(conf or {})
        self.bin = os.path.join(settings.BUILD_DIR, "tracker-httpd", "postmeter-tracker")
        self.conf_path = h.path("tracker.conf")
        self.log_path = h.path("tracker.log")
        self.proc = None

    def settings(self):
        """settings - the keys written over the harness's postmeter.conf"""
        s = {
            "tracker_listen": "127.0.0.1:%d" % self.port,
            "tracker_networks_file": os.path.join(settings.SOURCE_DIR, "data",
                                                  "machine-networks"),
            "tracker_networks_dir": self.h.path("machine-networks.d"),
            "ledger_flush_ms": "20",
            # tests that count rows send many opens of one token from 127.0.0.1; the
            # cap on them (tracker_opens_*) has its own test, test_tracker_cap.py
            "tracker_opens_per_network": "1000000",
            "tracker_opens_per_token": "1000000",
        }
        s.update(self.extra)
        return s

    def write_conf(self, **more):
        """write_conf - tracker.conf: postmeter.conf without the keys set here, then them"""
        self.extra.update(more)
        s = self.settings()
        with open(self.h.milter_conf_path) as f:
            base = [ln for ln in f if ln.split("=", 1)[0].strip() not in s]
        with open(self.conf_path, "w") as f:
            f.write("".join(base))
            for k, v in s.items():
                f.write("%s = %s\n" % (k, v))

    def start(self):
        """start - run postmeter-tracker -f -d; wait for its port"""
        self.write_conf()
        san = self.h.path("sanitizer")
        os.makedirs(san, exist_ok=True)
        os.chmod(san, 0o1777)
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("ASAN_OPTIONS", ""), "log_path=%s/tracker" % san, "abort_on_error=0"]))
        env["LSAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("LSAN_OPTIONS", ""), "print_suppressions=0",
            "suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "lsan.supp")]))
        env["UBSAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("UBSAN_OPTIONS", ""), "print_stacktrace=1",
            "log_path=%s/tracker" % san]))
        cmd = [self.bin, "-c", self.conf_path, "-f", "-d"]
        logf = open(self.log_path, "ab")
        logf.write(("=== %s %s\n" % (time.strftime("%H:%M:%S"), " ".join(cmd))).encode())
        logf.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=env)
        logf.close()
        wait_port(self.port, proc=self.proc, what="postmeter-tracker")
        return self

    def check_config(self, conf_path=None):
        """check_config - postmeter-tracker -t; CompletedProcess"""
        return subprocess.run([self.bin, "-t", "-c", conf_path or self.conf_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)

    def reload(self, **more):
        """reload - rewrite tracker.conf with more keys and send SIGHUP"""
        self.write_conf(**more)
        self.proc.send_signal(signal.SIGHUP)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """stop - SIGTERM and wait; returns the exit status (None if it was not running)"""
        p, self.proc = self.proc, None
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                raise RuntimeError("postmeter-tracker did not stop within %d s" % timeout)
        return p.returncode

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def request(self, data, timeout=10):
        """request - raw_request() to this tracker"""
        return raw_request(self.port, data, timeout=timeout)


def raw_request(port, data, host="127.0.0.1", timeout=10):
    """raw_request - send data, read until the server closes; the bytes received"""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def get(path, agent=None, method="GET", headers=()):
    """get - the bytes of one HTTP/1.1 request that asks the server to close after it"""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if agent is not None:
        lines.append("User-Agent: " + agent)
    lines += ["%s: %s" % kv for kv in headers]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def split_response(raw):
    """split_response - (status line, [(name, value)...] in order, body)"""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:]], body


def without_date(raw):
    """without_date - raw with its Date header line taken out"""
    head, sep, body = raw.partition(b"\r\n\r\n")
    keep = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"date:")]
    return b"\r\n".join(keep) + sep + body


def log_tail(t, n=40):
    """log_tail - the tracker's last log lines into the test's output"""
    for line in t.log_text().splitlines()[-n:]:
        log("tracker: " + line)


def stop_checked(t):
    """stop_checked - stop tracker t if it runs (None: nothing), its log tail shown, and check
    that it exits 0 on SIGTERM"""
    if t is None or not t.alive():
        return
    log_tail(t)
    check_eq(t.stop(), 0, "postmeter-tracker exit status after SIGTERM")


TOKEN_LABEL = b"postmeter-open-token-v1"  # TRACK_TOKEN_LABEL


def token_key(database):
    """token_key - the database's token key (table token_key), bytes"""
    con = sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=30)
    try:
        return bytes(con.execute("SELECT key FROM token_key WHERE id = 1").fetchone()[0])
    finally:
        con.close()


def mint(key, rnd=None):
    """mint - a token under key: 12 random bytes and 9 of their HMAC-SHA256, base64url"""
    rnd = os.urandom(12) if rnd is None else rnd
    tag = hmac.new(key, TOKEN_LABEL + rnd, hashlib.sha256).digest()[:9]
    return base64.urlsafe_b64encode(rnd + tag).decode()
