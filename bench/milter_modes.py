"""milter_modes.py - the modes of bench/milter_throughput.py: what each measured instance runs.

Mode, the base class, and the modes: NoopMode (the floor), LedgerMode,
AuthMode, SignMode, SignTrackMode (postmeter-milter) and DebianMode,
OpendkimSignMode (Debian's filters, the baselines); the DNS zone and DKIM
helpers they share (txt, key_record, auth_zones, signed_message), the
policyd-spf TCP front POLICY_WRAPPER, and MODES and PAIRS, the registry
milter_throughput.py reads. How each mode is set up and verified:
bench/README.md ("Adding a mode").
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# pmtest lives in tests/integration (milter_throughput.py has put it on sys.path already)
INTEGRATION = os.path.join(os.path.dirname(HERE), "tests", "integration")
if INTEGRATION not in sys.path:
    sys.path.insert(0, INTEGRATION)

from pmtest.harness import log, wait_port  # noqa: E402
from pmtest.unbound import free_port  # noqa: E402

from milter_measure import Failure, make_message, read_count  # noqa: E402

# MAIL FROM of the modes that set no sender of their own (Mode.sender)
SENDER = "bench@remote.test"


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
    ledger = False             # postmeter-milter with a ledger (its durability waits reported)
    wait_ms = None             # its ledger_wait_ms (None: the milter's default; --ledger-wait-ms)
    ready_lines = ()           # milter log lines (bytes) that follow a start once it is ready

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
        return read_count(h.maillog, needle)


class LedgerMode(Mode):
    """ledger - postmeter-milter with only the ledger stage

    No signing keys exist and mail comes from trusted_networks (outbound),
    so no other stage does any work.
    """

    name = "ledger"
    title = "postmeter-milter, ledger stage only"
    target_ratio = 0.95
    rss_target_mib = 15
    ledger = True

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
    ready_lines = (b"2 signing key(s) loaded",)

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
        while read_count(h.milter_log(), self.ready_lines[0]) < 1:
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
    ready_lines = SignMode.ready_lines + (b"tracking: 1 enabled rule(s)",)

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
        while read_count(h.milter_log(), self.ready_lines[1]) < 1:
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
