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

The harness is split into modules of this package; this one holds the
Harness class (options, life cycle, state dir, unbound, smtp-sink,
diagnostics), which combines the parts of the other modules:

    settings     BUILD_DIR, addresses, default users, test zones
    procs        log, wait_port, wait_for, pid_alive, run
    messages     make_message, new_message_id, norm_mid, header_value, ...
    smtpclient   SMTPFailure, SendResult, SMTPSession
    postfix      PostfixMixin: the Postfix instance, sending mail to it
    dovecot      DovecotMixin: Dovecot, reading mail back over IMAP
    milter       MilterMixin: postmeter.conf, the postmeter-milter process
    ledger       LedgerMixin: the postmeter CLI, ledger rows, SQL
    runner       check, check_eq, run_tests, main_with_harness

Every name those define for the test scripts is importable from here too
(from pmtest.harness import ...), as it was before the split. The
settings are re-exported for reading; they are set once, in
pmtest.settings (BUILD_DIR from the environment), and every module reads
them there.
"""

import os
import shutil
import subprocess
import sys
import tempfile

from pmtest import settings
from pmtest.settings import (BUILD_DIR, DEFAULT_USERS, HOSTNAME, INBOUND_IP,  # for reading
                             MAIL_USER, MILTER_USER, OUTBOUND_IP, SOURCE_DIR, ZONE_DATA, ZONES)
from pmtest.dovecot import DovecotMixin
from pmtest.ledger import LedgerMixin
from pmtest.messages import (ISO_UTC_RE, POSTFIX_ID_RE, crlf, header_value, make_message,
                             new_message_id, norm_mid, parse_iso_utc, postfix_queue_id,
                             rows_by_mid)
from pmtest.milter import MilterMixin
from pmtest.postfix import PostfixMixin
from pmtest.procs import log, pid_alive, run, wait_for, wait_port
from pmtest.runner import CheckFailed, check, check_eq, main_with_harness, run_tests
from pmtest.smtpclient import QUEUED_RE, SMTPFailure, SMTPSession, SendResult
from pmtest.unbound import Unbound, free_port

# What the test scripts, contrib/demo.py and bench/ may import from here.
__all__ = [
    "BUILD_DIR", "DEFAULT_USERS", "HOSTNAME", "INBOUND_IP", "MAIL_USER", "MILTER_USER",
    "OUTBOUND_IP", "SOURCE_DIR", "ZONE_DATA", "ZONES",
    "Harness",
    "log", "pid_alive", "run", "wait_for", "wait_port",
    "ISO_UTC_RE", "POSTFIX_ID_RE", "crlf", "header_value", "make_message",
    "new_message_id", "norm_mid", "parse_iso_utc", "postfix_queue_id", "rows_by_mid",
    "QUEUED_RE", "SMTPFailure", "SMTPSession", "SendResult",
    "CheckFailed", "check", "check_eq", "main_with_harness", "run_tests",
    "Unbound", "free_port",
]




class Harness(PostfixMixin, DovecotMixin, MilterMixin, LedgerMixin):
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
        self.zones = list(settings.ZONES) + list(zones)
        self.zone_data = list(settings.ZONE_DATA) + list(zone_data)
        self.unbound_extra = list(unbound_extra)
        self.users = dict(users or settings.DEFAULT_USERS)
        self.base_dir = base_dir
        self.failed = False
        self.started = False

        self.milter_bin = os.path.join(settings.BUILD_DIR, "milter", "postmeter-milter")
        self.cli_bin = os.path.join(settings.BUILD_DIR, "cli", "postmeter")

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
    # diagnostics

    def log_files(self):
        """log_files - {what: path} of every log the harness knows"""
        out = {
            "postfix": getattr(self, "maillog", None),
            "dovecot": self.path("dovecot", "dovecot.log"),
            "dovecot-stderr": self.path("dovecot", "dovecot.stderr"),
            "milter": self.milter_log(),
            "tracker": self.path("tracker.log"),  # pmtest.tracker
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
