"""pmtest.dovecot - the Harness's private Dovecot, and reading mail back over IMAP.

DovecotMixin is the part of pmtest.harness.Harness that writes the
Dovecot configuration (passwd-file users, Maildir under the state dir,
IMAP, LMTP and SASL auth for Postfix on loopback ports), starts and stops
Dovecot, and reads delivered mail back over IMAP.
"""

import grp
import imaplib
import os
import pwd
import signal
import subprocess
import time

from pmtest import settings
from pmtest.messages import header_value, norm_mid
from pmtest.procs import wait_for, wait_port


def imap_fetch_all(port, user, password, mailbox="INBOX"):
    """imap_fetch_all - every message in a mailbox on 127.0.0.1:port over IMAP, raw bytes
    (also used by contrib/demo.py, which knows the port but holds no Harness)"""
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        m.login(user, password)
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


class DovecotMixin:
    """DovecotMixin - Dovecot configuration, process and IMAP reading for Harness.

    Uses the Harness's path(), state, users and the ports it picked
    (imap_port, lmtp_port, auth_port); wait_delivered() uses the Postfix
    part's flush() and postfix_queue().
    """

    def write_dovecot_conf(self):
        mu = pwd.getpwnam(settings.MAIL_USER)
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
    # reading back

    def password(self, user):
        return self.users[user]

    def imap_fetch_all(self, user, mailbox="INBOX"):
        """imap_fetch_all - every message in a mailbox over IMAP, raw bytes"""
        return imap_fetch_all(self.imap_port, user, self.password(user), mailbox)

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
