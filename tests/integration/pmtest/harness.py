"""harness.py - a private mail system on loopback for postmeter's tests.

Harness() starts, under a fresh state directory, an unbound (test zones),
a Dovecot (IMAP, LMTP, SASL auth for Postfix; passwd-file users; Maildir
under the state dir), a Postfix instance (own config_directory,
queue_directory and data_directory; no chroot; log file in the state dir)
and postmeter-milter (config written here; runs as nobody). Every daemon
listens on 127.0.0.1 on ports from free_port(), so two runs never clash.

It must never touch the system's mail setup: /etc/postfix, /etc/dovecot,
/etc/resolv.conf and system services stay as they are. Everything it
starts it stops in stop() / __exit__, also after a failure; the state
dir is removed after a clean run and kept (path printed) otherwise.

Mail comes in as SMTP from 127.0.0.2 (inbound: not a trusted network),
from 127.0.0.1 (outbound: trusted) or SASL-authenticated from 127.0.0.2
(outbound), or through /usr/sbin/sendmail -C CONFDIR (local, outbound).
Delivered mail is read back over IMAP, the ledger through the CLI.

Used as:

    with Harness("ledger") as h:
        r = h.send("x@remote.test", ["alice@example.test"], msg)
        h.wait_delivered("alice@example.test", 1)
        rows = h.ledger_rows()
"""

import errno
import imaplib
import json
import os
import pwd
import re
import grp
import shutil
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback

from pmtest.unbound import Unbound, free_port

SOURCE_DIR = os.environ.get(
    "POSTMETER_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
BUILD_DIR = os.environ.get("POSTMETER_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))

INBOUND_IP = "127.0.0.2"    # not in trusted_networks
OUTBOUND_IP = "127.0.0.1"   # trusted_networks = 127.0.0.1/32
HOSTNAME = "mx.example.test"

# The mailboxes: address -> password. Both domains are local
# (virtual_mailbox_domains), so "outbound" mail to remote.test is
# delivered too and can be read back.
DEFAULT_USERS = {
    "alice@example.test": "alice-pw",
    "bob@example.test": "bob-pw",
    "carol@remote.test": "carol-pw",
    "dave@remote.test": "dave-pw",
}

# Test DNS data (served by unbound; dns_servers of the milter point there).
ZONES = [("example.test.", "static"), ("remote.test.", "static"),
         ("127.in-addr.arpa.", "static")]
ZONE_DATA = [
    "example.test. 300 IN MX 10 mx.example.test.",
    "mx.example.test. 300 IN A 127.0.0.1",
    "remote.test. 300 IN MX 10 mx.remote.test.",
    "mx.remote.test. 300 IN A 127.0.0.2",
    "1.0.0.127.in-addr.arpa. 300 IN PTR mx.example.test.",
    "2.0.0.127.in-addr.arpa. 300 IN PTR mx.remote.test.",
]

MAIL_USER = "mail"          # Dovecot mail_uid / mail_gid
MILTER_USER = "nobody"      # postmeter-milter's config user


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


def crlf(data):
    """crlf - bytes with every line ending as CRLF (smtplib sends bytes as is)"""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return re.sub(rb"\r?\n", b"\r\n", data)


def make_message(headers, body="", message_id=None):
    """make_message - CRLF bytes from [(name, value)] pairs and a body.

    Values are str (UTF-8) or bytes (sent as they are). A Message-ID is
    added unless message_id is False or a Message-ID header is present.
    """
    out = []
    names = [h[0].lower() for h in headers]
    for name, value in headers:
        v = value if isinstance(value, bytes) else value.encode("utf-8")
        out.append(name.encode("ascii") + b": " + v)
    if message_id is not False and "message-id" not in names:
        mid = message_id or new_message_id()
        out.append(b"Message-ID: <" + mid.encode("ascii") + b">")
    if "date" not in names:
        out.append(b"Date: " + time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                             time.gmtime()).encode("ascii"))
    b = body if isinstance(body, bytes) else body.encode("utf-8")
    return crlf(b"\n".join(out) + b"\n\n" + b)


_mid_counter = 0


def new_message_id(domain="pmtest.example.test"):
    """new_message_id - a unique Message-ID value without <>"""
    global _mid_counter
    _mid_counter += 1
    return "%d.%d.%d@%s" % (int(time.time() * 1000), os.getpid(), _mid_counter, domain)


def norm_mid(v):
    """norm_mid - a Message-ID without <> and blanks (None stays None)"""
    if v is None:
        return None
    return v.strip().strip("<>").strip()


def header_value(raw, name):
    """header_value - first header named name in a raw message (unfolded str)"""
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n")
    head = re.sub(rb"\n[ \t]+", b" ", head)
    for line in head.split(b"\n"):
        k, sep, v = line.partition(b":")
        if sep and k.strip().lower() == name.lower().encode():
            return v.strip().decode("utf-8", "replace")
    return None


POSTFIX_ID_RE = re.compile(
    rb"by " + re.escape(HOSTNAME.encode()) + rb" \(Postfix[^)]*\)\s+(?:with \S+\s+)?id ([0-9A-Za-z]+)")


def postfix_queue_id(raw):
    """postfix_queue_id - the queue id in our Postfix's Received header"""
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", raw.split(b"\r\n\r\n", 1)[0])
    m = POSTFIX_ID_RE.search(unfolded)
    return m.group(1).decode() if m else None


def rows_by_mid(rows):
    """rows_by_mid - {normalized message_id: [rows]}"""
    out = {}
    for r in rows:
        out.setdefault(norm_mid(r.get("message_id")), []).append(r)
    return out


ISO_UTC_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def parse_iso_utc(v):
    """parse_iso_utc - seconds since the epoch from 2026-11-25T00:49:45Z"""
    import calendar
    if not isinstance(v, str) or not ISO_UTC_RE.match(v):
        raise ValueError("not ISO 8601 UTC: %r" % (v,))
    return calendar.timegm(time.strptime(v[:19], "%Y-%m-%dT%H:%M:%S"))


class SMTPFailure(Exception):
    """SMTPFailure - the server answered a command with a non-2xx code"""

    def __init__(self, stage, code, resp):
        self.stage, self.code = stage, code
        self.resp = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
        super().__init__("%s: %s %s" % (stage, code, self.resp))

    @property
    def temporary(self):
        return 400 <= self.code < 500


class SendResult:
    """SendResult - what the server said to one transaction"""

    def __init__(self, code, resp, queue_id):
        self.code, self.resp, self.queue_id = code, resp, queue_id

    def __repr__(self):
        return "SendResult(%d, %r, %r)" % (self.code, self.resp, self.queue_id)


QUEUED_RE = re.compile(r"queued as ([0-9A-Za-z]+)")


class SMTPSession:
    """SMTPSession - one SMTP connection that can carry several transactions"""

    def __init__(self, port, source_ip=INBOUND_IP, helo=None, auth=None, timeout=120):
        self.smtp = smtplib.SMTP(local_hostname=helo or "client.remote.test",
                                 timeout=timeout, source_address=(source_ip, 0))
        self.smtp.connect("127.0.0.1", port)
        code, resp = self.smtp.ehlo()
        if code != 250:
            raise SMTPFailure("EHLO", code, resp)
        if auth:
            try:
                self.smtp.login(auth[0], auth[1])
            except smtplib.SMTPAuthenticationError as e:
                raise SMTPFailure("AUTH", e.smtp_code, e.smtp_error)

    def transaction(self, mail_from, rcpts, msg):
        """transaction - MAIL, RCPT..., DATA; SendResult or SMTPFailure"""
        s = self.smtp
        code, resp = s.mail(mail_from)
        if code != 250:
            s.rset()
            raise SMTPFailure("MAIL", code, resp)
        for r in rcpts:
            code, resp = s.rcpt(r)
            if code not in (250, 251):
                s.rset()
                raise SMTPFailure("RCPT " + r, code, resp)
        code, resp = s.data(crlf(msg))
        if code != 250:
            raise SMTPFailure("DATA", code, resp)
        text = resp.decode("utf-8", "replace")
        m = QUEUED_RE.search(text)
        return SendResult(code, text, m.group(1) if m else None)

    def close(self):
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            try:
                self.smtp.close()
            except OSError:
                pass


def run(cmd, check=True, input=None, timeout=120, env=None):
    """run - run cmd, capture output, raise with the output on failure"""
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace")))
    return p


class Harness:
    """Harness - unbound + Dovecot + Postfix + postmeter-milter on loopback.

    Options:
      name                  prefix of the state dir
      milter                False: Postfix without milter lines
      milter_default_action Postfix's milter_default_action (tempfail)
      milter_conf           extra/overriding postmeter.conf keys {key: value}
      log_subject           postmeter log_subject (False)
      postfix_conf          extra/overriding main.cf parameters {name: value}
      transport             "dovecot" (LMTP into Maildir) or "sink": the
                            virtual domains go to smtp-sink on a loopback
                            port (benchmarks; no Dovecot needed then)
      dovecot               start Dovecot (default True unless transport=sink)
      state_dir             fixed state dir (demo); default: fresh temp dir
      keep_state            keep the state dir even after a clean run
      milter_debug          start the milter with -d
      milter_unix           milter on a unix: socket (mode 0660, group
                            postfix) instead of inet: on loopback
      zones, zone_data      more (zone, kind) local zones and local-data
                            records for the test DNS
      unbound_extra         more unbound.conf lines (verbatim, after server:)
      users                 {address: password}
    """

    def __init__(self, name="pmtest", milter=True, milter_default_action="tempfail",
                 milter_conf=None, log_subject=False, postfix_conf=None,
                 transport="dovecot", dovecot=None, state_dir=None, keep_state=False,
                 milter_debug=True, users=None, base_dir=None, milter_unix=False, zones=(),
                 zone_data=(), unbound_extra=()):
        self.name = name
        self.use_milter = milter
        self.milter_default_action = milter_default_action
        self.milter_conf_extra = dict(milter_conf or {})
        self.log_subject = log_subject
        self.postfix_conf_extra = dict(postfix_conf or {})
        self.transport = transport
        self.use_dovecot = (transport == "dovecot") if dovecot is None else dovecot
        self.fixed_state_dir = state_dir
        self.keep_state = keep_state
        self.milter_debug = milter_debug
        self.milter_unix = milter_unix
        self.zones = list(ZONES) + list(zones)
        self.zone_data = list(ZONE_DATA) + list(zone_data)
        self.unbound_extra = list(unbound_extra)
        self.users = dict(users or DEFAULT_USERS)
        self.base_dir = base_dir
        self.failed = False
        self.started = False

        self.milter_bin = os.path.join(BUILD_DIR, "milter", "postmeter-milter")
        self.cli_bin = os.path.join(BUILD_DIR, "cli", "postmeter")

        self.unbound = None
        self.dovecot_proc = None
        self.milter_proc = None
        self.sink_proc = None
        self.postfix_running = False
        self._milter_log_fh = None

    # ------------------------------------------------------------------
    # life cycle

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.failed = True
            log("harness start failed; logs follow")
            self.dump_logs()
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
            log("failure inside the harness: %s: %s" % (exc_type.__name__, exc))
            self.dump_logs()
        self.stop()
        return False

    def start(self):
        """start - state dir, ports, configs, then every daemon in order"""
        self._make_state_dir()
        self.dns_port = free_port()
        self.smtp_port = free_port()
        self.lmtp_port = free_port()
        self.imap_port = free_port()
        self.auth_port = free_port()
        self.milter_port = free_port()
        self.sink_port = free_port()
        log("state dir %s (smtp %d, imap %d, lmtp %d, auth %d, milter %d, dns %d)" % (
            self.state, self.smtp_port, self.imap_port, self.lmtp_port, self.auth_port,
            self.milter_port, self.dns_port))
        self.started = True
        self.start_unbound()
        if self.use_dovecot:
            self.start_dovecot()
        if self.transport == "sink":
            self.start_sink()
        if self.use_milter:
            self.write_milter_conf()
            self.start_milter()
        self.start_postfix()
        return self

    def stop(self):
        """stop - stop everything that runs; never raises; keep or remove state"""
        if not self.started:
            return
        self.started = False
        for what, fn in (("postfix", self.stop_postfix), ("milter", self._stop_milter_quiet),
                         ("dovecot", self.stop_dovecot), ("sink", self.stop_sink),
                         ("unbound", self.stop_unbound)):
            try:
                fn()
            except Exception as e:  # teardown goes on whatever happened
                self.failed = True
                log("teardown of %s: %s" % (what, e))
        if self.sanitizer_reports():
            self.failed = True
            log("sanitizer reports found:")
            for path in self.sanitizer_reports():
                log("--- %s" % path)
                with open(path, errors="replace") as f:
                    sys.stderr.write(f.read()[-20000:])
        if self.failed or self.keep_state or self.fixed_state_dir:
            log("state dir kept: %s" % self.state)
        else:
            shutil.rmtree(self.state, ignore_errors=True)

    def _make_state_dir(self):
        if self.fixed_state_dir:
            self.state = self.fixed_state_dir
            if os.path.exists(self.state):
                shutil.rmtree(self.state)
            os.makedirs(self.state)
        else:
            self.state = tempfile.mkdtemp(prefix="pmtest-%s-" % self.name,
                                          dir=self.base_dir or "/tmp")
        # Postfix, Dovecot's mail user and nobody must get through it.
        os.chmod(self.state, 0o755)
        for d in ("postfix", "postfix/etc", "postfix/bin", "dovecot", "unbound", "run"):
            os.makedirs(os.path.join(self.state, d), exist_ok=True)

    def path(self, *parts):
        return os.path.join(self.state, *parts)

    # ------------------------------------------------------------------
    # unbound

    def start_unbound(self):
        self.unbound = Unbound(self.path("unbound"), self.dns_port, local_zones=self.zones,
                               local_data=self.zone_data, extra_server=self.unbound_extra)
        self.unbound.start()

    def stop_unbound(self):
        if self.unbound is not None:
            self.unbound.stop()
            self.unbound = None

    # ------------------------------------------------------------------
    # Dovecot

    def write_dovecot_conf(self):
        mu = pwd.getpwnam(MAIL_USER)
        self.mail_uid, self.mail_gid = mu.pw_uid, mu.pw_gid
        mail_root = self.path("mail")
        os.makedirs(mail_root, exist_ok=True)
        os.chown(mail_root, mu.pw_uid, mu.pw_gid)
        os.chmod(mail_root, 0o700)
        users_file = self.path("dovecot", "users")
        with open(users_file, "w") as f:
            for addr, pw in self.users.items():
                local, dom = addr.split("@", 1)
                f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (
                    addr, pw, mu.pw_uid, mu.pw_gid, os.path.join(mail_root, dom, local)))
        os.chmod(users_file, 0o640)
        os.chown(users_file, 0, grp.getgrnam("dovecot").gr_gid)
        self.dovecot_conf = self.path("dovecot", "dovecot.conf")
        conf = """# written by pmtest/harness.py - a private Dovecot instance
instance_name = pmtest-{port}
base_dir = {state}/dovecot/run
state_dir = {state}/dovecot/lib
log_path = {state}/dovecot/dovecot.log
info_log_path = {state}/dovecot/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
default_login_user = dovenull
default_internal_user = dovecot
login_trusted_networks =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {users}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener auth-postfix {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@example.test
}}
""".format(state=self.state, uid=mu.pw_uid, gid=mu.pw_gid, users=users_file,
           imap=self.imap_port, lmtp=self.lmtp_port, auth=self.auth_port,
           port=self.imap_port)
        with open(self.dovecot_conf, "w") as f:
            f.write(conf)
        for d in ("run", "lib"):
            os.makedirs(self.path("dovecot", d), exist_ok=True)

    def start_dovecot(self):
        self.write_dovecot_conf()
        logf = open(self.path("dovecot", "dovecot.stderr"), "ab")
        self.dovecot_proc = subprocess.Popen(
            ["dovecot", "-F", "-c", self.dovecot_conf], stdin=subprocess.DEVNULL,
            stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        for port in (self.imap_port, self.lmtp_port, self.auth_port):
            wait_port(port, proc=self.dovecot_proc, what="dovecot")

    def stop_dovecot(self):
        p, self.dovecot_proc = self.dovecot_proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        # anything of this instance left behind (children in its session)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    # ------------------------------------------------------------------
    # smtp-sink (transport = sink)

    def start_sink(self):
        logf = open(self.path("smtp-sink.log"), "ab")
        # -c: count; 1000 connections backlog; -u: run as nobody
        self.sink_proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "127.0.0.1:%d" % self.sink_port, "1000"],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        logf.close()
        wait_port(self.sink_port, proc=self.sink_proc, what="smtp-sink")

    def stop_sink(self):
        p, self.sink_proc = self.sink_proc, None
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    # ------------------------------------------------------------------
    # postmeter-milter

    def milter_settings(self):
        """milter_settings - the postmeter.conf keys the harness writes"""
        db_dir = self.path("postmeter")
        s = {
            "milter_socket": ("unix:" + self.milter_socket_path() if self.milter_unix
                              else "inet:%d@127.0.0.1" % self.milter_port),
            "milter_socket_group": "postfix" if self.milter_unix else "",
            "user": MILTER_USER,
            "database": os.path.join(db_dir, "postmeter.db"),
            "log_subject": "yes" if self.log_subject else "no",
            "hostname": HOSTNAME,
            "authserv_id": HOSTNAME,
            "trusted_networks": "127.0.0.1/32",
            "dns_servers": self.unbound.server if self.unbound else "127.0.0.1@%d" % self.dns_port,
            "dns_timeout_ms": "2000",
            "debug": "no",
            "on_internal_error": "tempfail",
            # the build tree's pixel engine (installed: LIBDIR/postmeter)
            "pixel_module": os.path.join(BUILD_DIR, "pixelfilter", "postmeter-pixel.so"),
        }
        s.update(self.milter_conf_extra)
        return s

    def write_milter_conf(self):
        db_dir = self.path("postmeter")
        os.makedirs(db_dir, exist_ok=True)
        nob = pwd.getpwnam(MILTER_USER)
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

    # ------------------------------------------------------------------
    # Postfix

    def postfix_main_settings(self):
        """postfix_main_settings - main.cf parameters, in order"""
        pf = self.path("postfix")
        s = {
            "compatibility_level": "3.6",
            "queue_directory": pf + "/queue",
            "data_directory": pf + "/data",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": pf + "/maillog",
            "maillog_file_prefixes": self.state,
            "syslog_name": "postfix-pmtest",
            "myhostname": HOSTNAME,
            "mydomain": "example.test",
            "myorigin": "example.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.1/32",
            "smtputf8_enable": "no",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "relayhost": "",
            "virtual_mailbox_domains": "example.test remote.test",
            "virtual_mailbox_maps": "texthash:" + pf + "/etc/vmailbox",
            "smtpd_relay_restrictions":
                "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
            "smtpd_banner": "$myhostname ESMTP pmtest",
            "smtpd_error_sleep_time": "0",
            "smtpd_client_event_limit_exceptions": "127.0.0.0/8",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_tls_security_level": "",
            "smtp_tls_security_level": "",
            "lmtp_tls_security_level": "",
            "queue_run_delay": "2s",
            "minimal_backoff_time": "2s",
            "maximal_backoff_time": "4s",
            "maximal_queue_lifetime": "1h",
            "bounce_queue_lifetime": "1h",
            "milter_protocol": "6",
            "milter_default_action": self.milter_default_action,
            "milter_connect_timeout": "5s",
            "milter_command_timeout": "30s",
            "milter_content_timeout": "120s",
            "milter_mail_macros": "i {auth_type} {auth_authen} {auth_author} "
                                  "{mail_addr} {mail_host} {mail_mailer}",
        }
        if self.use_dovecot:
            s.update({
                "smtpd_sasl_auth_enable": "yes",
                "smtpd_sasl_type": "dovecot",
                "smtpd_sasl_path": "inet:127.0.0.1:%d" % self.auth_port,
                "smtpd_sasl_security_options": "noanonymous",
            })
        if self.transport == "sink":
            s["virtual_transport"] = "smtp:[127.0.0.1]:%d" % self.sink_port
        else:
            s["virtual_transport"] = "lmtp:inet:127.0.0.1:%d" % self.lmtp_port
        if self.use_milter:
            s["smtpd_milters"] = self.milter_postfix_spec()
            s["non_smtpd_milters"] = self.milter_postfix_spec()
        s.update(self.postfix_conf_extra)
        return s

    MASTER_CF = """# written by pmtest/harness.py - no chroot anywhere
127.0.0.1:{smtp} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

    def write_postfix_conf(self):
        self.postfix_dir = self.path("postfix", "etc")
        s = self.postfix_main_settings()
        with open(os.path.join(self.postfix_dir, "main.cf"), "w") as f:
            f.write("# written by pmtest/harness.py - a private Postfix instance\n")
            for k, v in s.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.postfix_dir, "master.cf"), "w") as f:
            f.write(self.MASTER_CF.format(smtp=self.smtp_port))
        with open(self.path("postfix", "etc", "vmailbox"), "w") as f:
            for addr in self.users:
                f.write("%s %s/\n" % (addr, addr.replace("@", "_")))
            f.write("postmaster@example.test postmaster/\n")
        for d in ("queue", "data"):
            os.makedirs(self.path("postfix", d), exist_ok=True)
        pfu = pwd.getpwnam("postfix")
        os.chown(self.path("postfix", "data"), pfu.pw_uid, pfu.pw_gid)
        self.maillog = s["maillog_file"]
        self.queue_dir = s["queue_directory"]

    def postfix(self, *args, check=True, timeout=120):
        return run(["postfix", "-c", self.postfix_dir] + list(args), check=check,
                   timeout=timeout)

    def start_postfix(self):
        self.write_postfix_conf()
        self.postfix("check")
        self.postfix("start")
        self.postfix_running = True
        wait_port(self.smtp_port, what="postfix smtpd")

    def postfix_master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                pid = int(f.read().split()[0])
            return pid if pid_alive(pid) else None
        except (OSError, ValueError, IndexError):
            return None

    def stop_postfix(self):
        if not self.postfix_running:
            return
        self.postfix_running = False
        pid = self.postfix_master_pid()
        self.postfix("stop", check=False, timeout=60)
        if pid is not None:
            try:
                wait_for(lambda: not pid_alive(pid), 30, "postfix master to exit")
            except TimeoutError:
                log("postfix master %d still there; killing its processes" % pid)
                self._kill_tree(pid)

    @staticmethod
    def _kill_tree(pid):
        """_kill_tree - SIGKILL pid and its direct children"""
        kids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            kids.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        for p in [pid] + kids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def postfix_queue(self):
        """postfix_queue - list of queue entries (postqueue -j)"""
        p = run(["postqueue", "-c", self.postfix_dir, "-j"])
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def flush(self):
        """flush - ask Postfix to deliver deferred mail now (postqueue -f)"""
        run(["postqueue", "-c", self.postfix_dir, "-f"])

    def wait_queue_empty(self, timeout=60, flush_every=5.0):
        """wait_queue_empty - poll postqueue until the queue is empty"""
        deadline = time.monotonic() + timeout
        last_flush = time.monotonic()
        while True:
            q = self.postfix_queue()
            if not q:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("Postfix queue not empty after %d s: %s" % (timeout, q))
            if time.monotonic() - last_flush > flush_every:
                self.flush()
                last_flush = time.monotonic()
            time.sleep(0.2)

    def maillog_text(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def queue_id_for(self, message_id, timeout=30):
        """queue_id_for - the queue id Postfix's cleanup logged for a Message-ID"""
        rx = re.compile(r"postfix-pmtest/cleanup\[\d+\]: ([0-9A-Za-z]+): message-id=<?%s>?\s*$"
                        % re.escape(message_id), re.M)

        def find():
            m = rx.search(self.maillog_text())
            return m.group(1) if m else None
        return wait_for(find, timeout, "cleanup log line for message-id %s" % message_id)

    # ------------------------------------------------------------------
    # sending

    def session(self, source_ip=INBOUND_IP, helo=None, auth=None, timeout=120):
        """session - an open SMTP session to the instance (caller closes)"""
        return SMTPSession(self.smtp_port, source_ip=source_ip, helo=helo, auth=auth,
                           timeout=timeout)

    def send(self, mail_from, rcpts, msg, source_ip=INBOUND_IP, auth=None, helo=None):
        """send - one SMTP transaction on a new session; SendResult or SMTPFailure"""
        s = self.session(source_ip=source_ip, helo=helo, auth=auth)
        try:
            return s.transaction(mail_from, rcpts, msg)
        finally:
            s.close()

    def sendmail_local(self, mail_from, rcpts, msg, timeout=60):
        """sendmail_local - submit through /usr/sbin/sendmail -C CONFDIR (pickup)

        As root, sendmail/postdrop accept a non-default config directory
        without alternate_config_directories (only untrusted callers are
        checked), so nothing in /etc/postfix is needed.
        """
        cmd = ["/usr/sbin/sendmail", "-C", self.postfix_dir, "-i", "-f", mail_from, "--"]
        cmd += list(rcpts)
        data = re.sub(rb"\r\n", b"\n", msg if isinstance(msg, bytes) else msg.encode())
        run(cmd, input=data, timeout=timeout)

    def send_raw(self, lines, source_ip=INBOUND_IP, timeout=60):
        """send_raw - a scripted SMTP dialogue over a plain socket.

        lines: list of bytes to send (each sent as is; give CRLFs yourself).
        Reads one reply after the greeting and after each item. Returns the
        list of replies (bytes), greeting first.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.bind((source_ip, 0))
        sock.connect(("127.0.0.1", self.smtp_port))
        f = sock.makefile("rb")

        def reply():
            out = b""
            while True:
                line = f.readline()
                if not line:
                    return out
                out += line
                if len(line) < 4 or line[3:4] != b"-":
                    return out
        replies = [reply()]
        try:
            for item in lines:
                sock.sendall(item)
                replies.append(reply())
        finally:
            f.close()
            sock.close()
        return replies

    # ------------------------------------------------------------------
    # reading back

    def password(self, user):
        return self.users[user]

    def imap_fetch_all(self, user, mailbox="INBOX"):
        """imap_fetch_all - every message in a mailbox over IMAP, raw bytes"""
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        try:
            m.login(user, self.password(user))
            typ, _ = m.select(mailbox, readonly=True)
            if typ != "OK":
                return []
            typ, data = m.search(None, "ALL")
            out = []
            for num in data[0].split():
                typ, parts = m.fetch(num, "(BODY.PEEK[])")
                for p in parts:
                    if isinstance(p, tuple):
                        out.append(p[1])
            return out
        finally:
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def imap_count(self, user, mailbox="INBOX"):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        try:
            m.login(user, self.password(user))
            typ, data = m.select(mailbox, readonly=True)
            return int(data[0]) if typ == "OK" else 0
        finally:
            try:
                m.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def delivered_mids(self, user):
        """delivered_mids - Message-IDs (normalized) of user's INBOX over IMAP"""
        return [norm_mid(header_value(m, "Message-ID")) for m in self.imap_fetch_all(user)]

    def wait_delivered(self, user, n, timeout=60):
        """wait_delivered - poll IMAP until user has >= n messages; return them all"""
        last_flush = time.monotonic()

        def enough():
            nonlocal last_flush
            if self.imap_count(user) >= n:
                return True
            if time.monotonic() - last_flush > 5:
                self.flush()
                last_flush = time.monotonic()
            return False
        try:
            wait_for(enough, timeout, "%d message(s) for %s" % (n, user), interval=0.2)
        except TimeoutError:
            raise TimeoutError("%s has %d message(s) after %d s, wanted %d; queue: %s" % (
                user, self.imap_count(user), timeout, n, self.postfix_queue()))
        return self.imap_fetch_all(user)

    # ------------------------------------------------------------------
    # the ledger

    def cli(self, *args, check=True, timeout=60, input=None):
        """cli - run postmeter -c CONF ARGS (stdin: input bytes); CompletedProcess"""
        return run([self.cli_bin, "-c", self.milter_conf_path] + list(args), check=check,
                   timeout=timeout, input=input)

    def ledger_rows(self, *filters):
        """ledger_rows - postmeter report messages --format json, as a list"""
        p = self.cli("report", "messages", "--format", "json", *filters)
        out = p.stdout.decode("utf-8", "surrogateescape").strip()
        return json.loads(out) if out else []

    def wait_ledger_rows(self, n, timeout=30, *filters):
        """wait_ledger_rows - poll until the report has >= n rows; return them"""
        def enough():
            rows = self.ledger_rows(*filters)
            return rows if len(rows) >= n else None
        try:
            return wait_for(enough, timeout, "%d ledger row(s)" % n, interval=0.3)
        except TimeoutError:
            raise TimeoutError("ledger has %d row(s) after %d s, wanted %d" % (
                len(self.ledger_rows(*filters)), timeout, n))

    def db_query(self, sql, params=()):
        """db_query - raw read-only SQL on the ledger database (sqlite3 module)"""
        con = sqlite3.connect("file:%s?mode=ro" % self.database, uri=True, timeout=10)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, params)]
        finally:
            con.close()

    # ------------------------------------------------------------------
    # diagnostics

    def log_files(self):
        """log_files - {what: path} of every log the harness knows"""
        out = {
            "postfix": getattr(self, "maillog", None),
            "dovecot": self.path("dovecot", "dovecot.log"),
            "dovecot-stderr": self.path("dovecot", "dovecot.stderr"),
            "milter": self.milter_log(),
            "unbound": self.path("unbound", "unbound.log"),
            "smtp-sink": self.path("smtp-sink.log"),
        }
        return {k: v for k, v in out.items() if v and os.path.exists(v)}

    def dump_logs(self, tail=60):
        if not getattr(self, "state", None):
            return
        for what, path in self.log_files().items():
            try:
                with open(path, errors="replace") as f:
                    lines = f.read().splitlines()[-tail:]
            except OSError:
                continue
            sys.stderr.write("----- %s (%s), last %d lines\n" % (what, path, len(lines)))
            for line in lines:
                sys.stderr.write("  " + line + "\n")
        sys.stderr.flush()


# ----------------------------------------------------------------------
# a small test runner: every test file is a list of functions taking the
# harness (or nothing); failures are counted, the last line is
# "N passed, M failed".

class CheckFailed(AssertionError):
    pass


def check(cond, what, *detail):
    """check - raise CheckFailed(what) unless cond"""
    if not cond:
        raise CheckFailed(what + ("".join("\n    %s" % (d,) for d in detail)))


def check_eq(got, want, what):
    if got != want:
        raise CheckFailed("%s: got %r, want %r" % (what, got, want))


def run_tests(cases, harness=None):
    """run_tests - run (name, fn) cases; return (passed, failed).

    With harness, each fn gets it and a failure marks it failed (so the
    state dir is kept and its logs are shown).
    """
    passed = failed = 0
    for name, fn in cases:
        t0 = time.monotonic()
        log("=== %s" % name)
        try:
            fn(harness) if harness is not None else fn()
        except Exception as e:
            failed += 1
            if harness is not None:
                harness.failed = True
            log("FAIL %s (%.1f s): %s" % (name, time.monotonic() - t0, e))
            traceback.print_exc()
            if harness is not None:
                harness.dump_logs()
        else:
            passed += 1
            log("ok   %s (%.1f s)" % (name, time.monotonic() - t0))
    return passed, failed


def main_with_harness(cases, **harness_opts):
    """main_with_harness - one harness for all cases; print the summary, exit.

    The last line is "N passed, M failed"; a failed start counts every case
    as failed, and a bad teardown (daemon that would not stop, sanitizer
    report) counts as one more failure.
    """
    t0 = time.monotonic()
    passed, failed = 0, 0
    h = None
    try:
        with Harness(**harness_opts) as h:
            passed, failed = run_tests(cases, h)
            ok_before_teardown = not h.failed
        if ok_before_teardown and h.failed:
            log("FAIL teardown (see above)")
            failed += 1
    except Exception:
        traceback.print_exc()
        failed = len(cases) - passed
    log("total %.1f s" % (time.monotonic() - t0))
    sys.stderr.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)
