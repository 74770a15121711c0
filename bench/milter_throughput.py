#!/usr/bin/python3
"""milter_throughput.py - Postfix throughput with and without milters.

Run through bench/milter-throughput.sh, which builds postmeter first:

    bench/milter-throughput.sh [--mode noop|ledger|auth|debian|sign|sign-track|opendkim-sign[,...]]
                               [--sessions 10,50] [--messages 2000] [--rounds 3]
                               [--rss-sessions 100] [--size N] [--reuse] [--keep]
                               [--milter-unix]

Private Postfix instances from the integration harness run side by side,
all delivering to smtp-sink (transport="sink"), so delivery costs the
same for all:

    bare    Postfix without milters: the baseline
    MODE    Postfix configured by each mode in --mode (comma separated)

Modes: noop (the floor: postmeter's milter server doing nothing),
ledger (postmeter-milter, ledger only), auth (postmeter's inbound
pipeline: SPF + DKIM verify + DMARC + ledger), debian (opendkim verify +
opendmarc + policyd-spf doing the same checks), sign (postmeter outbound:
RSA-2048 + Ed25519 signing + ledger), opendkim-sign (OpenDKIM signing
RSA-2048). See bench/README.md for how each is set up and verified.

For each number of concurrent sessions, smtp-source (from Postfix) sends
the mode's message N times to each instance, in an order that rotates
between rounds; each point is the median of its rounds, so a noisy
shared machine shows up in every column. Printed per point: accepted
msg/s (smtp-source's wall time; the milters sit on this path), delivered
msg/s, the ratios against bare Postfix (and between auth and debian,
sign and opendkim-sign when both run), and the CPU time the mode's
filter processes (and their children) spent per message (utime + stime
from /proc/PID/stat). Then a run at --rss-sessions (100) concurrent
sessions that stay connected reports each filter's peak resident memory
(VmHWM, reset first through /proc/PID/clear_refs) and the most MTA
connections it held at once.

Verification, so a broken filter cannot look fast: Postfix runs with
milter_default_action = tempfail (smtp-source stops on a 4xx), smtp-sink
must receive every message of every instance, and each mode must show it
really checked every message it was sent (ledger rows with the expected
results, or Postfix's header_checks log lines of the headers the Debian
filters add). A failed check makes the exit status 1.

It never touches the system's Postfix, Dovecot or resolver: everything
is a harness instance on 127.0.0.1 high ports under /tmp, removed at
the end (kept with --keep or after a failure). The Debian resolvers that
read only /etc/resolv.conf run in a private mount namespace where that
file is a bind mount.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from pmtest.harness import Harness, log, wait_port  # noqa: E402
from pmtest.unbound import free_port  # noqa: E402

SENDER = "bench@remote.test"
RCPT = "alice@example.test"  # in the harness' virtual_mailbox_maps
RUN_TIMEOUT = 900            # seconds for one smtp-source run
DRAIN_TIMEOUT = 300          # seconds for Postfix to hand everything to smtp-sink


# ----------------------------------------------------------------------
# modes

# SPF + DKIM key + DMARC record in the test zones. Not under .test:
# opendkim's libunbound answers .test itself (one of unbound's default
# local zones, RFC 6761) and cannot be told otherwise without a
# ResolverConfiguration file, which opendkim's threads parse concurrently
# (errors under load).
AUTH_DOMAIN = "sender.example"
AUTH_SENDER = "news@" + AUTH_DOMAIN
AUTH_SELECTOR = "rsa2048"
SIGN_DOMAIN = "example.test"          # the harness' own domain: outbound mail
SIGN_SENDER = "news@" + SIGN_DOMAIN
DKIM_DATA = os.path.join(os.path.dirname(HERE), "tests", "data", "dkim")
RSA2048_KEY = os.path.join(DKIM_DATA, "keys", "rsa2048.key")
AUTHSERV_ID = "mx.example.test"       # the harness' HOSTNAME

# A loopback address of our own (port 53) on which the measured
# instance's unbound also listens, for the resolvers that cannot be told
# a port (opendmarc's libresolv, python3-spf's dnspython): they run in a
# private mount namespace where /etc/resolv.conf is a bind mount of a file
# naming it. The system's /etc/resolv.conf is never changed.
RESOLVER_IP = "127.53.%d.%d" % ((os.getpid() >> 8) & 255, max(1, os.getpid() & 255))


def txt(name, value):
    """txt - an unbound local-data TXT line, split into 255-byte strings"""
    parts = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return "%s. 300 IN TXT %s" % (name, " ".join('"%s"' % p for p in parts))


def key_record(name):
    """key_record - the TXT value of NAME in tests/data/dkim/keys.txt"""
    with open(os.path.join(DKIM_DATA, "keys.txt")) as f:
        for line in f:
            n, _, value = line.rstrip("\n").partition("\t")
            if n == name:
                return value
    raise KeyError(name)


def auth_zones():
    """auth_zones - (zones, zone_data): AUTH_DOMAIN with SPF, DKIM key, DMARC p=reject"""
    return ([(AUTH_DOMAIN + ".", "static")], [
        txt(AUTH_DOMAIN, "v=spf1 ip4:127.0.0.2 -all"),
        txt("%s._domainkey.%s" % (AUTH_SELECTOR, AUTH_DOMAIN),
            key_record("rsa2048._domainkey.example.test")),  # tests/data/dkim/keys/rsa2048.key
        txt("_dmarc." + AUTH_DOMAIN, "v=DMARC1; p=reject"),
    ])


def signed_message(size):
    """signed_message - the auth message, DKIM-signed once by python3-dkim (LF lines)"""
    import dkim  # python3-dkim
    body = make_message(size, from_addr="Sender Newsletter <%s>" % AUTH_SENDER,
                        domain=AUTH_DOMAIN, fake_signature=False)
    raw = body.replace("\n", "\r\n").encode()
    with open(RSA2048_KEY, "rb") as f:
        key = f.read()
    sig = dkim.sign(raw, AUTH_SELECTOR.encode(), AUTH_DOMAIN.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id",
                                     b"list-unsubscribe", b"mime-version", b"content-type"])
    signed = sig + raw

    def dnsfunc(name, timeout=5):
        if name.decode().rstrip(".") == "%s._domainkey.%s" % (AUTH_SELECTOR, AUTH_DOMAIN):
            return key_record("rsa2048._domainkey.example.test").encode()
        return None
    if not dkim.verify(signed, dnsfunc=dnsfunc):
        raise Failure("the signed bench message does not verify with python3-dkim")
    return signed.decode().replace("\r\n", "\n")


def proc_alive(p):
    return p is not None and p.poll() is None


def read_log_count(path, needle):
    """read_log_count - how many times needle (bytes) occurs in the file"""
    try:
        with open(path, "rb") as f:
            return f.read().count(needle)
    except OSError:
        return 0


class Mode:
    """Mode - what the measured instance runs; subclass and add to MODES"""

    name = None
    title = None
    source_ip = "127.0.0.1"    # smtp-source's address (127.0.0.1: trusted, outbound)
    sender = SENDER            # MAIL FROM
    default_size = 3000
    target_ratio = None        # acc/s >= target_ratio x bare (None: a baseline, no target)
    rss_target_mib = None      # peak RSS at --rss-sessions <= this (issue 2: ledger only)
    target_cpu = None          # filter CPU ms/msg <= target_cpu

    def __init__(self):
        self.dir = None        # a private temp dir for configs and logs (tempdir())
        self.procs = {}        # name -> Popen of what start() started

    def message(self, size):
        """message - the message text (LF lines) this mode sends"""
        return make_message(size)

    def harness_opts(self):
        """harness_opts - Harness(...) options of the measured instance"""
        return {}

    def start(self, h):
        """start - start what the mode needs besides the harness (after it)"""

    def stop(self, h, failed=False):
        """stop - stop what start() started (failed: keep the temp dir)"""
        for name, p in self.procs.items():
            if proc_alive(p):
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self.procs = {}
        if self.dir and not (h.keep_state or failed):
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            log("%s: configs and logs kept in %s" % (self.name, self.dir))

    def filter_pids(self, h):
        """filter_pids - {name: pid} of the processes to account CPU and memory to

        CPU counts each process with its descendants (and their reaped
        children), so a wrapper that forks workers counts them all.
        """
        return {name: (p.pid if proc_alive(p) else None) for name, p in self.procs.items()}

    def seen(self, h):
        """seen - messages the filter has handled so far (None: cannot tell)"""
        return None

    def seen_what(self):
        """seen_what - what seen() counts, for the verified: line"""
        return "handled"

    # helpers for modes that run daemons of their own

    def tempdir(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="bench-%s-" % self.name, dir="/tmp")
            os.chmod(self.dir, 0o755)
        return self.dir

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.tempdir(), name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def spawn(self, name, argv, port=None, private_resolver=False):
        """spawn - run argv in the background (log in the temp dir), wait for port

        private_resolver: in a private mount namespace whose /etc/resolv.conf
        is a bind mount of a file naming RESOLVER_IP (the measured
        instance's unbound): for resolvers that read only /etc/resolv.conf.
        """
        if private_resolver:
            rc = self.write("resolv.conf", "nameserver %s\noptions attempts:2 timeout:2\n"
                            % RESOLVER_IP)
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount --bind "$0" /etc/resolv.conf && exec "$@"', rc] + list(argv)
        logf = open(os.path.join(self.tempdir(), name + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                             cwd=self.tempdir())
        logf.close()
        self.procs[name] = p
        if port is not None:
            wait_port(port, proc=p, what=name, timeout=30)
        return p

    def maillog_count(self, h, needle):
        return read_log_count(h.maillog, needle)


class LedgerMode(Mode):
    """ledger - postmeter-milter with only the ledger stage

    No signing keys exist and mail comes from trusted_networks (outbound),
    so no other stage does any work.
    """

    name = "ledger"
    title = "postmeter-milter, ledger stage only"
    target_ratio = 0.95
    rss_target_mib = 15

    def harness_opts(self):
        return dict(milter=True, milter_debug=False, log_subject=False)

    def filter_pids(self, h):
        return {"postmeter-milter": h.milter_pid}

    def seen(self, h):
        return h.db_query("SELECT count(*) AS n FROM messages")[0]["n"]

    def seen_what(self):
        return "has a ledger row for"


class AuthMode(LedgerMode):
    """auth - postmeter's whole inbound pipeline: SPF + DKIM verify + DMARC + ledger"""

    name = "auth"
    title = ("postmeter-milter inbound: SPF + DKIM verify + DMARC + A-R + ledger; "
             "from 127.0.0.2, DKIM-signed mail from %s" % AUTH_DOMAIN)
    source_ip = "127.0.0.2"
    sender = AUTH_SENDER
    default_size = 16000
    target_ratio = 0.90
    rss_target_mib = None
    target_cpu = 0.5

    def message(self, size):
        return signed_message(size)

    def harness_opts(self):
        zones, data = auth_zones()
        return dict(milter=True, milter_debug=False, log_subject=False, zones=zones,
                    zone_data=data)

    def seen(self, h):
        # every result must be a pass, so a broken pipeline cannot look fast
        return h.db_query("""
            SELECT count(*) AS n FROM messages m WHERE
              EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id
                      AND a.method = 'spf' AND a.result = 'pass')
              AND EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id
                      AND a.method = 'dkim' AND a.result = 'pass')
              AND EXISTS (SELECT 1 FROM message_auth a WHERE a.message_id = m.id
                      AND a.method = 'dmarc' AND a.result = 'pass')""")[0]["n"]

    def seen_what(self):
        return "has ledger rows with spf=pass dkim=pass dmarc=pass for"


class SignMode(LedgerMode):
    """sign - postmeter's outbound pipeline: ledger + RSA-2048 and Ed25519 signing"""

    name = "sign"
    title = ("postmeter-milter outbound: DKIM signing RSA-2048 + Ed25519 (postmeter dkim "
             "keygen) + ledger; from 127.0.0.1 (trusted), From %s" % SIGN_DOMAIN)
    sender = SIGN_SENDER
    default_size = 16000
    target_ratio = 0.85
    rss_target_mib = None

    def message(self, size):
        return make_message(size, from_addr="Newsletter <%s>" % SIGN_SENDER,
                            domain=SIGN_DOMAIN, fake_signature=False)

    def start(self, h):
        keydir = os.path.join(self.tempdir(), "keys")
        os.makedirs(keydir)
        os.chmod(keydir, 0o755)
        conf = self.write("postmeter-keys.conf", open(h.milter_conf_path).read()
                          + "dkim_key_dir = %s\n" % keydir)
        for alg in ("rsa", "ed25519"):
            args = [h.cli_bin, "-c", conf, "dkim", "keygen", SIGN_DOMAIN, "--algorithm", alg]
            if alg == "rsa":
                args += ["--bits", "2048"]
            p = subprocess.run(args, capture_output=True, text=True, timeout=120)
            if p.returncode != 0:
                raise Failure("postmeter dkim keygen %s: %s" % (alg, p.stderr.strip()))
        h.reload_milter()
        deadline = time.monotonic() + 30
        while read_log_count(h.milter_log(), b"2 signing key(s) loaded") < 1:
            if time.monotonic() > deadline:
                raise Failure("postmeter-milter did not load the two keys (%s)" % h.milter_log())
            time.sleep(0.2)

    def seen(self, h):
        return h.db_query("""
            SELECT count(*) AS n FROM messages m WHERE
              (SELECT count(*) FROM message_auth a WHERE a.message_id = m.id
               AND a.method = 'dkim-sign' AND a.result = 'signed') = 2""")[0]["n"]

    def seen_what(self):
        return "has ledger rows with two dkim-sign=signed for"


class SignTrackMode(SignMode):
    """sign-track - the sign pipeline with open tracking: every message matches a
    tracking rule, gets a pixel in its HTML part (the milter holds the body,
    injects, replaces it) and is then signed over the new body"""

    name = "sign-track"
    title = ("postmeter-milter outbound: the sign pipeline + open tracking (a rule for %s, "
             "pixel injected before signing)" % SIGN_SENDER)
    target_ratio = None

    def harness_opts(self):
        opts = super().harness_opts()
        opts["milter_conf"] = {"tracking_base_url": "https://t.example.test"}
        return opts

    def start(self, h):
        p = subprocess.run([h.cli_bin, "-c", h.milter_conf_path, "track", "add", SIGN_SENDER],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise Failure("postmeter track add: %s" % p.stderr.strip())
        super().start(h)  # keys, then SIGHUP loads keys and the rule
        deadline = time.monotonic() + 30
        while read_log_count(h.milter_log(), b"tracking: 1 enabled rule(s)") < 1:
            if time.monotonic() > deadline:
                raise Failure("postmeter-milter did not load the rule (%s)" % h.milter_log())
            time.sleep(0.2)

    def seen(self, h):
        return h.db_query("""
            SELECT count(*) AS n FROM messages m JOIN tracked_messages t ON t.message_uid = m.uid
            WHERE t.outcome = 'injected' AND
              (SELECT count(*) FROM message_auth a WHERE a.message_id = m.id
               AND a.method = 'dkim-sign' AND a.result = 'signed') = 2""")[0]["n"]

    def seen_what(self):
        return "has a pixel (tracked_messages: injected) and two dkim-sign=signed for"


class DebianMode(Mode):
    """debian - Debian's chain: opendkim (verify) + opendmarc + policyd-spf

    The same checks as `auth` on the same message from the same address:
    every message must get Received-SPF: Pass from policyd-spf, dkim=pass
    from opendkim and dmarc=pass from opendmarc. Postfix's header_checks /
    milter_header_checks log (WARN) each such header, and those lines
    are counted in its maillog.
    """

    name = "debian"
    title = ("Debian's opendkim (Mode v) + opendmarc milters + policyd-spf "
             "(check_policy_service); from 127.0.0.2, the auth message")
    source_ip = "127.0.0.2"
    sender = AUTH_SENDER
    default_size = 16000
    CHECKS = (b"bench-spf-pass", b"bench-dkim-pass", b"bench-dmarc-pass")

    def message(self, size):
        return signed_message(size)

    def harness_opts(self):
        self.ports = {n: free_port() for n in ("opendkim", "opendmarc", "policyd-spf")}
        d = self.tempdir()
        hc = self.write("header_checks", "/^Received-SPF: Pass / WARN bench-spf-pass\n")
        mhc = self.write("milter_header_checks",
                         "/^Authentication-Results: mx\\.example\\.test;.*dkim=pass/"
                         " WARN bench-dkim-pass\n"
                         "/^Authentication-Results: mx\\.example\\.test;.*dmarc=pass/"
                         " WARN bench-dmarc-pass\n"
                         "/^Authentication-Results:/ WARN bench-other-authres\n")
        zones, data = auth_zones()
        log("%s: configs and logs in %s" % (self.name, d))
        return dict(milter=False, zones=zones, zone_data=data,
                    unbound_extra=["interface: %s@53" % RESOLVER_IP],
                    postfix_conf={
                        "smtpd_milters": "inet:127.0.0.1:%d, inet:127.0.0.1:%d" % (
                            self.ports["opendkim"], self.ports["opendmarc"]),
                        "non_smtpd_milters": "",
                        "smtpd_recipient_restrictions": "check_policy_service "
                            "inet:127.0.0.1:%d" % self.ports["policyd-spf"],
                        "header_checks": "regexp:" + hc,
                        "milter_header_checks": "regexp:" + mhc,
                    })

    def start(self, h):
        d = self.tempdir()
        ignore = self.write("not-loopback.hosts", "192.0.2.1\n")
        dkim_conf = self.write("opendkim.conf", "\n".join([
            "Mode v",
            "Socket inet:%d@127.0.0.1" % self.ports["opendkim"],
            "InternalHosts " + ignore,       # not 127.0.0.0/8: mail from loopback is checked
            "PeerList " + ignore,
            "Nameservers %s" % RESOLVER_IP,
            "AuthservID " + AUTHSERV_ID,
            "AlwaysAddARHeader yes",
            "Syslog no",
            "PidFile " + os.path.join(d, "opendkim.pid"),
            ""]))
        dmarc_conf = self.write("opendmarc.conf", "\n".join([
            "Socket inet:%d@127.0.0.1" % self.ports["opendmarc"],
            "AuthservID " + AUTHSERV_ID,
            "TrustedAuthservIDs " + AUTHSERV_ID,
            "IgnoreHosts " + ignore,         # default: 127.0.0.1; here nothing on loopback
            "IgnoreAuthenticatedClients false",
            "PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat",
            "RejectFailures false",
            "FailureReports false",
            "RequiredHeaders false",
            "SPFIgnoreResults false",
            "SPFSelfValidate false",
            "Syslog false",
            "PidFile " + os.path.join(d, "opendmarc.pid"),
            ""]))
        spf_conf = self.write("policyd-spf.conf", "\n".join([
            "debugLevel = 1",
            "TestOnly = 1",
            "HELO_reject = Fail",
            "Mail_From_reject = Fail",
            "PermError_reject = False",
            "TempError_Defer = False",
            "skip_addresses = 192.0.2.0/24",  # default 127.0.0.0/8: would skip everything
            "Header_Type = SPF",
            "Lookup_Time = 20",
            ""]))
        self.spawn("opendkim", ["opendkim", "-f", "-x", dkim_conf], self.ports["opendkim"],
                   private_resolver=True)
        self.spawn("opendmarc", ["opendmarc", "-f", "-c", dmarc_conf], self.ports["opendmarc"],
                   private_resolver=True)
        self.spawn("policyd-spf", ["/usr/bin/python3", "-c", POLICY_WRAPPER,
                                   str(self.ports["policyd-spf"]), "/usr/bin/policyd-spf",
                                   spf_conf], self.ports["policyd-spf"], private_resolver=True)

    def seen(self, h):
        return min(self.maillog_count(h, c) for c in self.CHECKS)

    def seen_what(self):
        return ("got Received-SPF: Pass (policyd-spf), dkim=pass (opendkim) and dmarc=pass "
                "(opendmarc) on")


class OpendkimSignMode(Mode):
    """opendkim-sign - OpenDKIM signing (RSA-2048), the baseline of `sign`"""

    name = "opendkim-sign"
    title = ("Debian's opendkim, Mode s, RSA-2048 (tests/data/dkim/keys/rsa2048.key), "
             "relaxed/relaxed, From oversigned; the sign message from 127.0.0.1")
    sender = SIGN_SENDER
    default_size = 16000

    def message(self, size):
        return SignMode.message(self, size)

    def harness_opts(self):
        self.ports = {"opendkim": free_port()}
        mhc = self.write("milter_header_checks",
                         "/^DKIM-Signature:.*d=example\\.test;/ WARN bench-dkim-signed\n")
        log("%s: configs and logs in %s" % (self.name, self.tempdir()))
        return dict(milter=False, postfix_conf={
            "smtpd_milters": "inet:127.0.0.1:%d" % self.ports["opendkim"],
            "non_smtpd_milters": "",
            "milter_header_checks": "regexp:" + mhc,
        })

    def start(self, h):
        d = self.tempdir()
        key = os.path.join(d, "rsa2048.private")
        shutil.copyfile(RSA2048_KEY, key)
        os.chmod(key, 0o600)
        internal = self.write("internal.hosts", "127.0.0.1\n")
        conf = self.write("opendkim.conf", "\n".join([
            "Mode s",
            "Socket inet:%d@127.0.0.1" % self.ports["opendkim"],
            "Domain " + SIGN_DOMAIN,
            "Selector rsa2048",
            "KeyFile " + key,
            "RequireSafeKeys no",            # the key lives under /tmp (sticky, world-writable)
            "SignatureAlgorithm rsa-sha256",
            "Canonicalization relaxed/relaxed",
            "OversignHeaders From",
            "InternalHosts " + internal,
            "Syslog no",
            "PidFile " + os.path.join(d, "opendkim.pid"),
            ""]))
        self.spawn("opendkim", ["opendkim", "-f", "-x", conf], self.ports["opendkim"])

    def seen(self, h):
        return self.maillog_count(h, b"bench-dkim-signed")

    def seen_what(self):
        return "signed (DKIM-Signature d=example.test, logged by milter_header_checks)"


# A TCP front for policyd-spf, as Postfix's spawn(8) would run it: one
# policyd-spf process per connection, stdin and stdout on the socket.
# (smtpd keeps its policy connection open, so there are about as many
# policyd-spf processes as busy smtpd processes.) It runs as root inside
# the private mount namespace (its resolv.conf); spawn(8) in the private
# Postfix would run it in the system's. Reaps its children, so their CPU
# lands in its cutime/cstime.
POLICY_WRAPPER = r"""
import os, signal, socket, subprocess, sys
port, argv = int(sys.argv[1]), sys.argv[2:]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(256)
kids = []
def term(*_):
    for k in kids:
        if k.poll() is None:
            k.terminate()
    os._exit(0)
signal.signal(signal.SIGTERM, term)
while True:
    c, _ = ls.accept()
    kids.append(subprocess.Popen(argv, stdin=c.fileno(), stdout=c.fileno(), close_fds=True))
    c.close()
    kids = [k for k in kids if k.poll() is None]
"""

class NoopMode(Mode):
    """noop - the floor: postmeter's milter server doing nothing (bench/noop_milter.c)

    The same engine and negotiation as postmeter-milter, no callback work.
    Its ratio is what any milter costs this Postfix on this machine (the
    MTA's own side of the protocol, the extra round trips, the sockets);
    no mode can do better.
    """

    name = "noop"
    title = "the floor: bench/noop_milter (postmeter's milter server, no work)"
    unix = False  # set by --milter-unix

    def like(self, other):
        """like - send other's message, envelope sender and source address (so the
        floor is measured with what the mode it is the floor of sends)"""
        self.message = other.message
        self.sender = other.sender
        self.source_ip = other.source_ip
        self.default_size = other.default_size
        self.title += ", with %s's message" % other.name

    def harness_opts(self):
        # the milter's spec (libmilter's syntax) and Postfix's for the same socket
        if self.unix:
            self.spec = postfix = "unix:" + os.path.join(self.tempdir(), "noop.sock")
        else:
            self.port = free_port()
            self.spec = "inet:%d@127.0.0.1" % self.port
            postfix = "inet:127.0.0.1:%d" % self.port
        return dict(milter=False, postfix_conf={"smtpd_milters": postfix,
                                                 "non_smtpd_milters": ""})

    def start(self, h):
        binary = os.path.join(os.environ.get("POSTMETER_BUILD_DIR", ""), "bench", "noop_milter")
        p = self.spawn("noop_milter", [binary, self.spec], None if self.unix else self.port)
        if self.unix:
            sock = self.spec[5:]
            for _ in range(300):
                if os.path.exists(sock) or not proc_alive(p):
                    break
                time.sleep(0.1)
            if not os.path.exists(sock):
                raise RuntimeError("noop_milter did not create %s" % sock)


MODES = {m.name: m for m in (NoopMode(), LedgerMode(), AuthMode(), DebianMode(), SignMode(),
                             SignTrackMode(), OpendkimSignMode())}
# (faster, baseline, target): the cross ratio printed when both run together
PAIRS = [("auth", "debian", 5.0), ("sign", "opendkim-sign", 3.0)]


# ----------------------------------------------------------------------
# measuring


def make_message(size, from_addr="Sender Newsletter <news@sender.example>",
                 domain="sender.example", fake_signature=True):
    """make_message - a multipart newsletter of about size bytes (LF lines)

    fake_signature: carry a DKIM-Signature that looks real but is not
    checked (the ledger mode has no verifier).
    """
    head = [
        "Received: from mail-out.%s (mail-out.%s [203.0.113.25])" % (domain, domain),
        "\tby mx.example.test (Postfix) with ESMTPS id 4BENCHBENCH",
        "\tfor <alice@example.test>; Tue, 25 Nov 2026 10:00:00 +0000 (UTC)",
    ]
    if fake_signature:
        head += [
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s2026;" % domain,
            "\tt=1795600000; h=from:to:subject:date:message-id:mime-version:content-type;",
            "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
            "\tb=" + "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgYXMgbG9uZyBhcyBvbmU" * 4,
        ]
    head += [
        "From: " + from_addr,
        "To: Alice <alice@example.test>",
        "Subject: Your weekly digest: 12 new items",
        "Date: Tue, 25 Nov 2026 10:00:00 +0000",
        "Message-ID: <20261125100000.benchmark@%s>" % domain,
        "List-Unsubscribe: <https://%s/u/0123456789abcdef>" % domain,
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b1_bench"',
    ]
    text = ("Item: something happened this week and here is a line about it.\n")
    html = ("<p>Item: something happened this week and <a href=\"https://%s/"
            "x\">here</a> is a line.</p>\n" % domain)
    body_parts = ["--b1_bench", "Content-Type: text/plain; charset=utf-8", ""]
    msg = "\n".join(head) + "\n\n"
    lines_text, lines_html = [], []
    while len(msg) + sum(map(len, lines_text)) + sum(map(len, lines_html)) + 200 < size:
        lines_text.append(text)
        lines_html.append(html)
    body = "\n".join(body_parts) + "\n" + "".join(lines_text)
    body += "\n--b1_bench\nContent-Type: text/html; charset=utf-8\n\n<html><body>\n"
    body += "".join(lines_html) + "</body></html>\n--b1_bench--\n"
    return msg + body


# LD_PRELOAD for smtp-source, which cannot choose its source address:
# connect() binds the socket to $BENCH_SOURCE_IP first.
SOURCE_IP_SHIM = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    const char *ip = getenv("BENCH_SOURCE_IP");
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    if (ip && sa && sa->sa_family == AF_INET) {
        struct sockaddr_in b;
        memset(&b, 0, sizeof b);
        b.sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &b.sin_addr) == 1)
            (void)bind(fd, (struct sockaddr *)&b, sizeof b);
    }
    return real(fd, sa, len);
}
"""


def build_source_ip_shim(directory):
    """build_source_ip_shim - compile SOURCE_IP_SHIM into directory; its path"""
    c = os.path.join(directory, "source_ip_shim.c")
    so = os.path.join(directory, "source_ip_shim.so")
    with open(c, "w") as f:
        f.write(SOURCE_IP_SHIM)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, c, "-ldl"], check=True)
    return so


def count_sent(h, offset):
    """count_sent - (status=sent lines in h's maillog after offset, new offset)"""
    try:
        with open(h.maillog, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return 0, offset
    end = data.rfind(b"\n") + 1  # count whole lines only
    return data[:end].count(b" status=sent "), offset + end


def maillog_size(h):
    try:
        return os.path.getsize(h.maillog)
    except OSError:
        return 0


def cpu_ms(pid):
    """cpu_ms - (utime, stime) of pid (all its threads) in milliseconds"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * 1000.0 / tick, int(fields[12]) * 1000.0 / tick


def children_map():
    """children_map - {ppid: [pid, ...]} of every process now"""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def cpu_tree_ms(pid, kids):
    """cpu_tree_ms - (user, system) ms of pid, its live descendants and reaped children"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    u = (int(fields[11]) + int(fields[13])) * 1000.0 / tick
    s = (int(fields[12]) + int(fields[14])) * 1000.0 / tick
    for k in kids.get(pid, ()):
        a, b = cpu_tree_ms(k, kids)
        u, s = u + a, s + b
    return u, s


def cpu_sum(pids):
    """cpu_sum - (user, system) milliseconds of all pids and their descendants together"""
    u = s = 0.0
    kids = children_map()
    for p in pids:
        a, b = cpu_tree_ms(p, kids)
        u, s = u + a, s + b
    return u, s


def proc_status(pid, key):
    """proc_status - an integer field of /proc/PID/status (kB for Vm*)"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def smaps_top(pid, n=8):
    """smaps_top - the n mappings (by file, or [anon]/[stack]) with most Rss, kB"""
    sums, name = {}, "[anon]"
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                sums[name] = sums.get(name, 0) + int(parts[1])
    return sorted(sums.items(), key=lambda kv: -kv[1])[:n]


class Failure(Exception):
    pass


class Instance:
    """Instance - one harness instance being measured, with its counters

    It sends its own message file, from its own source address (an
    LD_PRELOAD shim binds smtp-source's sockets when it is not 127.0.0.1).
    """

    def __init__(self, label, h, mode=None, msgfile=None, source_ip="127.0.0.1",
                 sender=SENDER, shim=None):
        self.label, self.h, self.mode = label, h, mode
        self.msgfile, self.source_ip, self.sender, self.shim = msgfile, source_ip, sender, shim
        self.sent_total = 0      # messages smtp-source got accepted
        self.seen_start = mode.seen(h) if mode else None

    def pids(self):
        return self.mode.filter_pids(self.h) if self.mode else {}

    def run(self, sessions, messages, reuse=False):
        """run - one smtp-source run; a dict of what was measured

        reuse: each session sends its share of the messages over one
        connection (smtp-source -d) instead of one connection per message.
        """
        h = self.h
        pids = self.pids()
        for name, pid in pids.items():
            if pid is None:
                raise Failure("%s: %s is not running" % (self.label, name))
        env = dict(os.environ)
        if self.source_ip != "127.0.0.1":
            env["LD_PRELOAD"] = self.shim
            env["BENCH_SOURCE_IP"] = self.source_ip
        cpu0 = cpu_sum(pids.values())
        off = maillog_size(h)
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-F", self.msgfile,
               "-f", self.sender, "-t", RCPT, "-M", "client.remote.test",
               "127.0.0.1:%d" % h.smtp_port]
        if reuse:
            cmd.insert(1, "-d")
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT, env=env)
        t_accept = time.monotonic() - t0
        out = p.stdout.decode("utf-8", "replace").strip()
        if p.returncode != 0 or out:
            raise Failure("%s: smtp-source exit %d: %s" % (self.label, p.returncode, out[-2000:]))
        self.sent_total += messages
        # smtp-sink must get every one of them
        sent, deadline = 0, time.monotonic() + DRAIN_TIMEOUT
        while sent < messages:
            n, off = count_sent(h, off)
            sent += n
            if sent >= messages:
                break
            if time.monotonic() > deadline:
                raise Failure("%s: smtp-sink got %d of %d messages after %d s"
                              % (self.label, sent, messages, DRAIN_TIMEOUT))
            time.sleep(0.05)
        t_done = time.monotonic() - t0
        cpu1 = cpu_sum(pids.values())
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        return {"accept": messages / t_accept, "deliver": messages / t_done,
                "cpu_ms_per_msg": (user + system) / messages if pids else None,
                "sys_share": system / (user + system) if user + system > 0 else None}

    def verify(self, timeout=60):
        """verify - the mode saw every message it was sent; (seen, sent)"""
        if self.mode is None or self.seen_start is None:
            return None
        deadline = time.monotonic() + timeout
        while True:
            seen = self.mode.seen(self.h) - self.seen_start
            if seen >= self.sent_total or time.monotonic() > deadline:
                return seen, self.sent_total
            time.sleep(0.3)


def socket_fds(pid):
    """socket_fds - open sockets of pid (its MTA connections + listener + ...)"""
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def prespawn(h, n, timeout=180):
    """prespawn - hold n SMTP sessions open until each got its greeting

    Makes Postfix's master spawn n smtpd processes (on a loaded machine it
    starts only a few per second); they stay idle for the next run.
    Returns the most sessions that had their greeting at the same time.
    """
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", h.smtp_port), timeout=timeout))
        deadline = time.monotonic() + timeout
        greeted = 0
        for sk in socks:
            sk.settimeout(max(1.0, deadline - time.monotonic()))
            if sk.recv(512).startswith(b"220"):
                greeted += 1
        return greeted
    finally:
        for sk in socks:
            try:
                sk.sendall(b"QUIT\r\n")
                sk.close()
            except OSError:
                pass


def rss_run(inst, sessions, messages):
    """rss_run - a run at many sessions: peak RSS and connections of the filter

    The sessions stay connected for the whole run (smtp-source -d), so
    Postfix keeps that many smtpd processes, each with its own milter
    connection. prespawn() first makes Postfix start that many smtpd
    processes, so that the measured run has them all from its start.
    Connections are counted as
    the filter's socket fds above its idle count (a filter may serve
    many connections from a few threads).
    """
    pids = inst.pids()
    idle = {name: socket_fds(pid) for name, pid in pids.items()}
    greeted = prespawn(inst.h, sessions)
    if greeted < sessions:
        log("only %d of %d sessions got a greeting" % (greeted, sessions))
    for pid in pids.values():
        try:  # reset VmHWM to the current RSS (Linux >= 4.0)
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
        except OSError as e:
            log("cannot reset VmHWM of %d: %s (peak includes earlier runs)" % (pid, e))
    peak_conns = {name: 0 for name in pids}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for name, pid in pids.items():
                try:
                    peak_conns[name] = max(peak_conns[name], socket_fds(pid) - idle[name])
                except OSError:
                    pass
            stop.wait(0.05)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        r = inst.run(sessions, messages, reuse=True)
    finally:
        stop.set()
        t.join()
    mem = {name: (proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"),
                  proc_status(pid, "Threads"), proc_status(pid, "RssAnon"),
                  proc_status(pid, "RssFile"), smaps_top(pid)) for name, pid in pids.items()}
    if os.environ.get("BENCH_SMAPS_DIR"):  # the whole map of each filter, to read later
        for name, pid in pids.items():
            shutil.copyfile("/proc/%d/smaps" % pid,
                            os.path.join(os.environ["BENCH_SMAPS_DIR"], name + ".smaps"))
    return r, mem, peak_conns


def fmt_rate(v):
    return "%.0f" % v


def fmt_cpu(v):
    return "%.3f" % v if v is not None else "-"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="milter-throughput.sh",
                                 description="Postfix throughput with and without a milter")
    ap.add_argument("--mode", default="ledger",
                    help="comma separated, measured side by side: %s (ledger)"
                    % ", ".join(MODES))
    ap.add_argument("--sessions", default="10,50",
                    help="concurrent SMTP sessions per point, comma separated (10,50)")
    ap.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each instance per point (3)")
    ap.add_argument("--rss-sessions", type=int, default=100,
                    help="sessions of the memory run (100; 0: skip it)")
    ap.add_argument("--size", type=int, default=None,
                    help="message size in bytes (ledger: 3000; auth, debian, sign, "
                         "opendkim-sign: 16000)")
    ap.add_argument("--reuse", action="store_true",
                    help="send each session's messages over one connection (smtp-source -d); "
                         "default: one connection per message, like most MX traffic")
    ap.add_argument("--keep", action="store_true", help="keep the instances' state dirs")
    ap.add_argument("--milter-unix", action="store_true",
                    help="postmeter-milter (and noop_milter) on a unix socket (as contrib/ "
                         "recommends) instead of inet on loopback")
    a = ap.parse_args(argv)
    try:
        a.sessions = [int(s) for s in a.sessions.split(",") if s.strip()]
    except ValueError:
        ap.error("--sessions: comma separated numbers")
    a.modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in a.modes:
        if m not in MODES:
            ap.error("--mode: unknown mode %r (have %s)" % (m, ", ".join(MODES)))
    if not a.modes or len(set(a.modes)) != len(a.modes):
        ap.error("--mode: one or more different modes")
    if not a.sessions or min(a.sessions) < 1 or a.messages < 1 or a.rounds < 1:
        ap.error("sessions, messages and rounds must be positive")
    return a


def measure_point(a, s, bare, meas):
    """measure_point - the rounds at s sessions; {label: summary dict}

    Every round runs bare and every mode once, in an order that rotates
    between rounds. Ratios are taken per round (same round, same load),
    then the median.
    """
    insts = [bare] + meas
    res = {i.label: [] for i in insts}
    for r in range(a.rounds):
        k = r % len(insts)
        order = insts[k:] + insts[:k]
        if r % 2:
            order.reverse()
        for inst in order:
            res[inst.label].append(inst.run(s, a.messages, a.reuse))
        b = res[bare.label][-1]
        for m_inst in meas:
            m = res[m_inst.label][-1]
            print("%-8d %-6d %-30s %-14s %10s %12s %7.3f %11s %5s" % (
                s, r + 1, ",".join(i.label for i in order), m_inst.label, fmt_rate(b["accept"]),
                fmt_rate(m["accept"]), m["accept"] / b["accept"], fmt_cpu(m["cpu_ms_per_msg"]),
                "%.0f%%" % (100 * m["sys_share"]) if m["sys_share"] is not None else "-"))
        sys.stdout.flush()

    def med(label, key):
        return statistics.median(x[key] for x in res[label])
    out = {}
    for m_inst in meas:
        lab = m_inst.label
        cpu = [x["cpu_ms_per_msg"] for x in res[lab] if x["cpu_ms_per_msg"] is not None]
        out[lab] = dict(
            sessions=s, bare_acc=med(bare.label, "accept"), acc=med(lab, "accept"),
            ratio=statistics.median(m["accept"] / b["accept"]
                                    for b, m in zip(res[bare.label], res[lab])),
            bare_dlv=med(bare.label, "deliver"), dlv=med(lab, "deliver"),
            cpu=statistics.median(cpu) if cpu else None, rounds=res[lab])
    return out


def print_summary(meas, summary):
    print("\nmedians (acc/s: accepted, smtp-source's rate; dlv/s: delivered, until smtp-sink "
          "has them all; CPU: the mode's filter processes, ms per message)")
    print("%-14s %-8s %10s %10s %7s %7s   %10s %10s %7s   %7s %7s" % (
        "mode", "sessions", "bare acc/s", "acc/s", "ratio", "target",
        "bare dlv/s", "dlv/s", "ratio", "CPU ms", "target"))
    for m_inst in meas:
        mode = m_inst.mode
        for pt in summary:
            x = pt[m_inst.label]
            tr = "-" if mode.target_ratio is None else (
                "ok" if x["ratio"] >= mode.target_ratio else "MISSED")
            tc = "-" if mode.target_cpu is None or x["cpu"] is None else (
                "ok" if x["cpu"] <= mode.target_cpu else "MISSED")
            print("%-14s %-8d %10s %10s %7.3f %7s   %10s %10s %7.3f   %7s %7s" % (
                m_inst.label, x["sessions"], fmt_rate(x["bare_acc"]), fmt_rate(x["acc"]),
                x["ratio"], tr, fmt_rate(x["bare_dlv"]), fmt_rate(x["dlv"]),
                x["dlv"] / x["bare_dlv"], fmt_cpu(x["cpu"]), tc))
    for m_inst in meas:
        mode = m_inst.mode
        t = []
        if mode.target_ratio is not None:
            t.append("acc/s >= %.2f x bare Postfix's" % mode.target_ratio)
        if mode.target_cpu is not None:
            t.append("CPU <= %.1f ms/msg" % mode.target_cpu)
        print("  %s: %s" % (m_inst.label, "; ".join(t) if t else
                            "a baseline (no target of its own)"))
    labels = [m.label for m in meas]
    for fast, base, target in PAIRS:
        if fast in labels and base in labels:
            print("\n%s vs %s (acc/s of both in the same round; median over rounds)"
                  % (fast, base))
            for pt in summary:
                rs = [f["accept"] / b["accept"]
                      for f, b in zip(pt[fast]["rounds"], pt[base]["rounds"])]
                r = statistics.median(rs)
                cf, cb = pt[fast]["cpu"], pt[base]["cpu"]
                print("  %3d sessions: %s / %s = %.2f x, target >= %.0f x: %s;  CPU ms/msg "
                      "%s vs %s (%s x less)" % (
                          pt[fast]["sessions"], fast, base, r, target,
                          "ok" if r >= target else "MISSED", fmt_cpu(cf), fmt_cpu(cb),
                          "%.1f" % (cb / cf) if cf and cb else "-"))
    if "sign" in labels and "sign-track" in labels:
        print("\nthe pixel stage: sign-track vs sign, milter CPU per message (target: <= 5% more)")
        for pt in summary:
            ct, cs = pt["sign-track"]["cpu"], pt["sign"]["cpu"]
            if ct and cs:
                share = (ct - cs) / cs * 100
                print("  %3d sessions: %s vs %s ms/msg: %+.1f%%: %s" % (
                    pt["sign"]["sessions"], fmt_cpu(ct), fmt_cpu(cs), share,
                    "ok" if share <= 5 else "MISSED"))
    sys.stdout.flush()


def report_memory(a, meas):
    r, mem, conns = rss_run(meas, a.rss_sessions, max(a.messages, 10 * a.rss_sessions))
    for name, (hwm, rss, threads, anon, filed, top) in mem.items():
        target, want = "", meas.mode.rss_target_mib if meas.mode else None
        if name == "postmeter-milter" and want:
            target = ", target <= %d MiB: %s" % (want, "ok" if hwm <= want * 1024 else "MISSED")
        print("\n%s: %s with %d concurrent sessions (kept open, %s msg/s): peak RSS (VmHWM) "
              "%.1f MiB%s" % (meas.label, name, a.rss_sessions, fmt_rate(r["accept"]),
                              hwm / 1024.0, target))
        # RssFile: pages of the binary and shared libraries (clean, shared with the
        # page cache, reclaimable); RssAnon: the process's own memory
        print("  VmRSS after the run %.1f MiB (own memory RssAnon %.1f, file pages RssFile %.1f);"
              " peak MTA connections %d; %d threads" % (
                  rss / 1024.0, anon / 1024.0, filed / 1024.0, conns[name], threads))
        print("  largest after the run (MiB): " + ", ".join(
            "%s %.1f" % (m, kb / 1024.0) for m, kb in top))
    sys.stdout.flush()


def verify(bare, meas):
    """verify - print what was checked; a list of failures"""
    failures = []
    for m in meas:
        v = m.verify()
        if v is not None:
            seen, sent = v
            print("verified: %s: the filter %s %d of the %d messages sent through it%s" % (
                m.label, m.mode.seen_what(), seen, sent, "" if seen == sent else "  <-- FAILED"))
            if seen != sent:
                failures.append("%s: %d of %d messages checked out" % (m.label, seen, sent))
        if m.h.use_milter and not m.h.milter_alive():
            failures.append("%s: postmeter-milter is no longer running" % m.label)
        for name, pid in m.pids().items():
            if pid is None:
                failures.append("%s: %s is no longer running" % (m.label, name))
    print("verified: smtp-sink received every message of every instance (%s)"
          % " + ".join("%s %d" % (i.label, i.sent_total) for i in [bare] + meas))
    return failures


def main(argv):
    a = parse_args(argv)
    modes = [MODES[m] for m in a.modes]
    # the floor with the first mode's message, the one bare Postfix gets too
    for m in modes[1:]:
        if m.name == "noop" and modes[0].name != "noop":
            m.like(modes[0])
    if os.geteuid() != 0:
        sys.stderr.write("milter-throughput: must run as root (it starts Postfix)\n")
        return 2
    with contextlib.ExitStack() as stack:
        # smtpd's reverse lookup of 127.0.0.2 goes to the system's resolver
        # (not in /etc/hosts): switched off for every instance when any
        # mode sends from there, so no instance waits for it (a machine
        # whose resolver drops PTR queries stalls all sessions for 5 s)
        inbound = any(m.source_ip != "127.0.0.1" for m in modes)
        no_ptr = {"smtpd_peername_lookup": "no"} if inbound else {}
        bare_h = stack.enter_context(Harness(name="bench-bare", transport="sink", milter=False,
                                             keep_state=a.keep, postfix_conf=dict(no_ptr)))
        shim = build_source_ip_shim(bare_h.state)
        meas = []
        for mode in modes:
            mode.unix = a.milter_unix
            opts = dict(name="bench-" + mode.name, transport="sink", keep_state=a.keep)
            opts.update(mode.harness_opts())
            if a.milter_unix and opts.get("milter"):
                opts["milter_unix"] = True
            opts["postfix_conf"] = dict(opts.get("postfix_conf") or {}, **no_ptr)
            mode_h = stack.enter_context(Harness(**opts))
            stack.push(lambda et, e, tb, mode=mode, mode_h=mode_h:
                       mode.stop(mode_h, failed=et is not None))
            mode.start(mode_h)
            msgfile = os.path.join(mode_h.state, "bench-message.txt")
            with open(msgfile, "w") as f:
                f.write(mode.message(a.size or mode.default_size))
            meas.append(Instance(mode.name, mode_h, mode, msgfile, mode.source_ip,
                                 mode.sender, shim))
        # bare Postfix gets the first mode's message, from its address, with its sender
        first = meas[0]
        bare = Instance("bare", bare_h, None, first.msgfile, first.source_ip, first.sender, shim)

        print("milter-throughput: %d CPUs; smtp-source -> Postfix -> smtp-sink; %d messages "
              "per run, %s, %d rounds per point; milter_default_action = %s"
              % (os.cpu_count(), a.messages, "sessions reused (-d)" if a.reuse else
                 "one connection per message", a.rounds, meas[0].h.milter_default_action))
        for m in meas:
            print("  %-14s %s; %d-byte message, MAIL FROM %s, from %s" % (
                m.label, m.mode.title, os.path.getsize(m.msgfile), m.sender, m.source_ip))
        print("  %-14s the same Postfix without milters or policy service, side by side, with "
              "%s's message, sender and address; the order rotates" % ("bare", first.label))
        sys.stdout.flush()

        # warm-up: start Postfix's processes, fill caches
        for inst in [bare] + meas:
            prespawn(inst.h, max(a.sessions))
            inst.run(max(a.sessions), max(200, a.messages // 10))

        print("\n%-8s %-6s %-30s %-14s %10s %12s %7s %11s %5s" % (
            "sessions", "round", "order", "mode", "bare acc/s", "mode acc/s", "ratio",
            "CPU ms/msg", "sys"))
        summary = [measure_point(a, s, bare, meas) for s in a.sessions]
        print_summary(meas, summary)
        if a.rss_sessions > 0:
            for m in meas:
                if m.pids():
                    report_memory(a, m)
        print()
        failures = verify(bare, meas)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print("FAILED: %s" % e)
        sys.exit(1)
