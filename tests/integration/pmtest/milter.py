"""pmtest.milter - postmeter-milter under the Harness: configuration and process.

MilterMixin is the part of pmtest.harness.Harness that writes
postmeter.conf (database, DNS, socket) for the milter, runs it as a child
process (postmeter-milter -f, sanitizer reports into the state dir),
stops, kills and reloads it, and reads its process statistics and
sanitizer reports.
"""

import os
import pwd
import signal
import socket
import subprocess
import time

from pmtest import settings
from pmtest.procs import log, wait_for, wait_port


class MilterMixin:
    """MilterMixin - postmeter.conf and the postmeter-milter process for Harness.

    Uses the Harness's path(), state, milter_bin, milter_port,
    milter_unix, milter_debug, milter_conf_extra, log_subject, unbound and
    dns_port; sets milter_conf_path, database, spool and milter_proc.
    """

    def milter_settings(self):
        """milter_settings - the postmeter.conf keys the harness writes"""
        db_dir = self.path("postmeter")
        s = {
            "milter_socket": ("unix:" + self.milter_socket_path() if self.milter_unix
                              else "inet:%d@127.0.0.1" % self.milter_port),
            "milter_socket_group": "postfix" if self.milter_unix else "",
            "user": settings.MILTER_USER,
            "database": os.path.join(db_dir, "postmeter.db"),
            "log_subject": "yes" if self.log_subject else "no",
            "hostname": settings.HOSTNAME,
            "authserv_id": settings.HOSTNAME,
            "trusted_networks": "127.0.0.1/32",
            "dns_servers": self.unbound.server if self.unbound else "127.0.0.1@%d" % self.dns_port,
            "dns_timeout_ms": "2000",
            "debug": "no",
            "on_internal_error": "tempfail",
            # the build tree's pixel engine (installed: LIBDIR/postmeter)
            "pixel_module": os.path.join(settings.BUILD_DIR, "pixelfilter", "postmeter-pixel.so"),
        }
        s.update(self.milter_conf_extra)
        return s

    def write_milter_conf(self):
        db_dir = self.path("postmeter")
        os.makedirs(db_dir, exist_ok=True)
        nob = pwd.getpwnam(settings.MILTER_USER)
        os.chown(db_dir, nob.pw_uid, nob.pw_gid)
        os.chmod(db_dir, 0o750)
        self.milter_conf_path = self.path("postmeter.conf")
        s = self.milter_settings()
        self.database = s["database"]
        self.spool = s.get("ledger_spool") or self.database + ".spool"
        with open(self.milter_conf_path, "w") as f:
            f.write("# written by pmtest/harness.py\n")
            for k, v in s.items():
                f.write("%s = %s\n" % (k, v))

    def milter_socket_path(self):
        return self.path("run", "milter.sock")

    def milter_postfix_spec(self):
        """milter_postfix_spec - the milter as Postfix's smtpd_milters names it"""
        if self.milter_unix:
            return "unix:" + self.milter_socket_path()
        return "inet:127.0.0.1:%d" % self.milter_port

    def wait_milter_ready(self, timeout=30.0):
        """wait_milter_ready - until the milter accepts connections"""
        if not self.milter_unix:
            wait_port(self.milter_port, proc=self.milter_proc, what="postmeter-milter",
                      timeout=timeout)
            return

        def ready():
            if self.milter_proc.poll() is not None:
                raise RuntimeError("postmeter-milter exited with status %s"
                                   % self.milter_proc.returncode)
            try:
                with socket.socket(socket.AF_UNIX) as u:
                    u.connect(self.milter_socket_path())
                return True
            except OSError:
                return False
        wait_for(ready, timeout, "postmeter-milter on %s" % self.milter_socket_path(), 0.05)

    def milter_log(self):
        return self.path("milter.log")

    def start_milter(self, wait=True):
        """start_milter - run postmeter-milter -f in the background; wait for its port"""
        if self.milter_proc is not None and self.milter_proc.poll() is None:
            raise RuntimeError("milter already running (pid %d)" % self.milter_proc.pid)
        env = dict(os.environ)
        # Sanitizer reports (ASan/UBSan builds) go to files that stop()
        # checks; the milter runs as nobody, so the directory is open.
        san = self.path("sanitizer")
        os.makedirs(san, exist_ok=True)
        os.chmod(san, 0o1777)
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("ASAN_OPTIONS", ""), "log_path=%s/milter" % san,
            "abort_on_error=0"]))
        env["LSAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("LSAN_OPTIONS", ""), "print_suppressions=0",
            "suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                           "lsan.supp")]))
        env["UBSAN_OPTIONS"] = ":".join(filter(None, [
            os.environ.get("UBSAN_OPTIONS", ""), "print_stacktrace=1",
            "log_path=%s/milter" % san]))
        cmd = [self.milter_bin, "-c", self.milter_conf_path, "-f"]
        if self.milter_debug:
            cmd.append("-d")
        logf = open(self.milter_log(), "ab")
        logf.write(("=== %s %s\n" % (time.strftime("%H:%M:%S"), " ".join(cmd))).encode())
        logf.flush()
        self.milter_proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                            stderr=logf, env=env)
        logf.close()
        if wait:
            self.wait_milter_ready()
        return self.milter_proc.pid

    @property
    def milter_pid(self):
        p = self.milter_proc
        return p.pid if p is not None and p.poll() is None else None

    def milter_alive(self):
        return self.milter_proc is not None and self.milter_proc.poll() is None

    def stop_milter(self, timeout=30):
        """stop_milter - SIGTERM, wait for a clean exit; returns the exit status"""
        p = self.milter_proc
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
                self.milter_proc = None
                raise RuntimeError("postmeter-milter did not stop within %d s of SIGTERM" % timeout)
        self.milter_proc = None
        return p.returncode

    def _stop_milter_quiet(self):
        rc = self.stop_milter()
        if rc not in (None, 0, -signal.SIGKILL):
            log("postmeter-milter exited with status %s" % rc)

    def kill_milter(self, sig=signal.SIGKILL, wait=True):
        """kill_milter - send sig; with wait and a fatal signal, reap it"""
        p = self.milter_proc
        if p is None or p.poll() is not None:
            raise RuntimeError("milter is not running")
        p.send_signal(sig)
        if wait and sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            p.wait(30)
            self.milter_proc = None
        return p

    def reload_milter(self):
        self.kill_milter(signal.SIGHUP, wait=False)

    def milter_proc_stats(self):
        """milter_proc_stats - (cpu ms utime+stime, VmHWM kB, VmRSS kB)"""
        pid = self.milter_pid
        if pid is None:
            return None
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        cpu_ms = (int(fields[11]) + int(fields[12])) * 1000.0 / tick
        hwm = rss = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        return cpu_ms, hwm, rss

    def sanitizer_reports(self):
        if not getattr(self, "state", None) or not os.path.isdir(self.state):
            return []
        san = os.path.join(self.state, "sanitizer")
        if not os.path.isdir(san):
            return []
        return sorted(os.path.join(san, f) for f in os.listdir(san))

