"""pmtest.unbound - an unbound on a loopback port serving test zones.

Used by the integration tests and the demo (run with Debian's
/usr/bin/python3). It never touches /etc/resolv.conf or the system
unbound service: the server runs as the caller's own process, in the
foreground, on 127.0.0.1:<port>, with config, pid file and log in workdir.

    from pmtest.unbound import Unbound, SilentUDP, free_port, txt, key_record

    u = Unbound(workdir, free_port(),
                local_zones=[("example.test", "static")],
                local_data=['a.example.test. 300 IN A 192.0.2.1'])
    u.start()            # returns once it answers queries
    ... pm-dnsq -s u.server ...
    u.stop()

    with SilentUDP(free_port()) as s:   # swallows queries, never answers
        ... pm-dnsq -s s.server ...

Names outside local_zones get unbound's usual treatment (its built-in
zones such as test. and invalid. answer NXDOMAIN; anything else is
recursed from the root, network permitting), so tests stay inside their
own zones.
"""

import os
import socket
import struct
import subprocess
import time

UNBOUND = "/usr/sbin/unbound"

__all__ = ["Unbound", "SilentUDP", "free_port"]


# free_port() hands out ports below the kernel's ephemeral range: a port
# from bind(("127.0.0.1", 0)) was itself ephemeral, and between our close()
# and the daemon's bind() any outgoing connection on the machine (an SMTP
# client, Postfix dialling a milter) could take it as its source port
# ("Address already in use" at Dovecot's start, seen under ctest -j2).
# Ports handed out are noted, with the time, in a file under /tmp shared by
# every process that uses this module, under flock, so two tests starting
# side by side never get the same one; a note expires after PORT_HOLD_S.
PORT_REGISTRY = "/tmp/pmtest-ports"
PORT_HOLD_S = 3600
PORT_LOW = 10000


DKIM_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "dkim")


def txt(name, value):
    """an unbound local-data TXT line, split into 255-byte strings"""
    parts = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return "%s. 300 IN TXT %s" % (name, " ".join('"%s"' % p for p in parts))


def key_record(name):
    """the TXT value of NAME in tests/data/dkim/keys.txt"""
    with open(os.path.join(DKIM_DATA, "keys.txt")) as f:
        for line in f:
            n, _, value = line.rstrip("\n").partition("\t")
            if n == name:
                return value
    raise KeyError(name)


def _ephemeral_low():
    """_ephemeral_low - the first port of the kernel's ephemeral range"""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port):
    """_bindable - 127.0.0.1:port can be bound for TCP and UDP right now"""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """Return a loopback port that is free for both TCP and UDP right now,
    outside the ephemeral range and not handed out to another test."""
    import fcntl
    import random

    high = _ephemeral_low() - 1
    if high - PORT_LOW < 1000:
        raise RuntimeError("free_port: ephemeral range starts at %d: no room below it" % (high + 1))
    rng = random.SystemRandom()
    fd = os.open(PORT_REGISTRY, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), "r+") as f:
            now = time.time()
            held = {}
            for line in f.read().split("\n"):
                parts = line.split()
                if len(parts) == 2 and parts[0].isdigit():
                    try:
                        when = float(parts[1])
                    except ValueError:
                        continue
                    if now - when < PORT_HOLD_S:
                        held[int(parts[0])] = when
            for _ in range(200):
                port = rng.randint(PORT_LOW, high)
                if port in held or not _bindable(port):
                    continue
                held[port] = now
                f.seek(0)
                f.truncate()
                f.write("".join("%d %.0f\n" % kv for kv in sorted(held.items())))
                return port
    finally:
        os.close(fd)  # releases the lock
    raise RuntimeError("free_port: no port free for both TCP and UDP")


def _quote(s):
    """Quote a config value for unbound.conf (which has no escapes)."""
    if '"' not in s:
        return '"%s"' % s
    if "'" not in s:
        return "'%s'" % s
    raise ValueError("unbound.conf cannot hold both quote kinds: %r" % s)


def _query_packet(name, qtype=1, qid=0x5053):
    """A minimal DNS query (RD set) for name."""
    wire = b""
    for label in name.rstrip(".").split("."):
        if label:
            wire += bytes([len(label)]) + label.encode("ascii")
    wire += b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)


class Unbound:
    """An unbound serving local_zones/local_data on 127.0.0.1:port."""

    def __init__(self, workdir, port, local_zones=(), local_data=(), extra_server=()):
        self.workdir = os.path.abspath(workdir)
        self.port = int(port)
        self.local_zones = list(local_zones)
        self.local_data = list(local_data)
        self.extra_server = list(extra_server)  # more "server:" lines, verbatim
        self.conf = os.path.join(self.workdir, "unbound.conf")
        self.logfile = os.path.join(self.workdir, "unbound.log")
        self.pidfile = os.path.join(self.workdir, "unbound.pid")
        self.proc = None

    @property
    def server(self):
        """The address as lib/dns and pm-dnsq -s take it."""
        return "127.0.0.1@%d" % self.port

    def config_text(self):
        lines = [
            "server:",
            "    interface: 127.0.0.1",
            "    port: %d" % self.port,
            "    do-ip4: yes",
            "    do-ip6: no",
            "    do-udp: yes",
            "    do-tcp: yes",
            "    num-threads: 1",
            '    username: ""',
            '    chroot: ""',
            "    directory: %s" % _quote(self.workdir),
            "    pidfile: %s" % _quote(self.pidfile),
            "    logfile: %s" % _quote(self.logfile),
            "    use-syslog: no",
            "    verbosity: 1",
            "    do-daemonize: no",
            "    access-control: 127.0.0.0/8 allow",
            "    do-not-query-localhost: no",
            '    module-config: "iterator"',
            "    so-reuseport: no",
        ]
        for zone, kind in self.local_zones:
            lines.append("    local-zone: %s %s" % (_quote(zone.rstrip(".") + "."), kind))
        for rr in self.local_data:
            lines.append("    local-data: %s" % _quote(rr))
        for extra in self.extra_server:
            lines.append("    " + extra)
        lines += ["remote-control:", "    control-enable: no", ""]
        return "\n".join(lines)

    def log_tail(self, n=30):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError as e:
            return "(no log: %s)" % e

    def _answers(self, timeout=0.2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.settimeout(timeout)
            s.sendto(_query_packet("localhost."), ("127.0.0.1", self.port))
            data, _ = s.recvfrom(4096)
            return len(data) >= 12 and data[:2] == b"\x50\x53"
        except OSError:
            return False
        finally:
            s.close()

    def start(self, timeout=15):
        """Write the config, launch unbound, return once it answers."""
        if self.proc is not None:
            raise RuntimeError("unbound already started")
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        check = subprocess.run([UNBOUND + "-checkconf", self.conf],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("unbound config %s rejected:\n%s%s"
                               % (self.conf, check.stdout, check.stderr))
        out = open(os.path.join(self.workdir, "unbound.out"), "w")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf],
                                     stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                raise RuntimeError("unbound exited with status %s; log tail:\n%s%s"
                                   % (rc, self.log_tail(), self._out_tail()))
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("unbound on port %d did not answer within %ss; log tail:\n%s%s"
                           % (self.port, timeout, self.log_tail(), self._out_tail()))

    def _out_tail(self):
        try:
            with open(os.path.join(self.workdir, "unbound.out"), errors="replace") as f:
                return "".join(f.readlines()[-10:])
        except OSError:
            return ""

    def stop(self):
        """Stop unbound (SIGTERM, then SIGKILL after 5s); safe to repeat."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


class SilentUDP:
    """A bound UDP socket on 127.0.0.1:port that never answers."""

    def __init__(self, port=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", int(port) if port else 0))
        self.port = self.sock.getsockname()[1]

    @property
    def server(self):
        return "127.0.0.1@%d" % self.port

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
