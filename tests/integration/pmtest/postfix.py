"""pmtest.postfix - the Harness's private Postfix instance, and sending mail to it.

PostfixMixin is the part of pmtest.harness.Harness that writes main.cf and
master.cf (own config, queue and data directory; no chroot; log file in
the state dir), starts and stops Postfix, looks at its queue and log, and
submits mail over SMTP, as a scripted SMTP dialogue or through
sendmail -C.
"""

import json
import os
import pwd
import re
import signal
import socket
import time

from pmtest import settings
from pmtest.procs import log, pid_alive, run, wait_for, wait_port
from pmtest.smtpclient import SMTPSession


class PostfixMixin:
    """PostfixMixin - Postfix configuration, process, queue and SMTP sending for Harness.

    Uses the Harness's path(), state, users, transport, use_dovecot,
    use_milter, milter_default_action, postfix_conf_extra and ports; the
    milter part's milter_postfix_spec(). Sets postfix_dir, maillog,
    queue_dir and postfix_running.
    """

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
            "myhostname": settings.HOSTNAME,
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

    def session(self, source_ip=settings.INBOUND_IP, helo=None, auth=None, timeout=120):
        """session - an open SMTP session to the instance (caller closes)"""
        return SMTPSession(self.smtp_port, source_ip=source_ip, helo=helo, auth=auth,
                           timeout=timeout)

    def send(self, mail_from, rcpts, msg, source_ip=settings.INBOUND_IP, auth=None, helo=None):
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

    def send_raw(self, lines, source_ip=settings.INBOUND_IP, timeout=60):
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
