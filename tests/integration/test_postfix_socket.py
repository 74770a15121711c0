#!/usr/bin/python3
"""test_postfix_socket.py - the documented main.cf line reaches the milter.

README.md and contrib/postfix-main.cf.snippet tell Postfix
"smtpd_milters = unix:postmeter/milter.sock" (relative) and leave
postmeter-milter on its default socket, QUEUE_DIRECTORY/postmeter/
milter.sock (/var/spool/postfix/postmeter/milter.sock), saying that a
relative path works for chrooted and unchrooted Postfix alike because
every Postfix process works in the queue directory. The harness's
Postfix is not chrooted (the harder case for that claim: a chrooted one
has the queue directory as / and as its working directory); here its
smtpd (SMTP) and cleanup (sendmail(1)) must both reach the milter
through the relative name, and each message must get its ledger row.
"""
import grp
import os
import pwd
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (INBOUND_IP, MILTER_USER, Harness, check, check_eq,  # noqa: E402
                            main_with_harness, make_message, new_message_id, norm_mid, rows_by_mid,
                            run)

RELATIVE = "unix:postmeter/milter.sock"


class QueueSocketHarness(Harness):
    """QueueSocketHarness - the milter in QUEUE/postmeter, Postfix told a relative path"""

    def milter_socket_path(self):
        return self.path("postfix", "queue", "postmeter", "milter.sock")

    def milter_postfix_spec(self):
        return RELATIVE

    def write_milter_conf(self):
        # as the snippet says (install -d -o postmeter -g postfix -m 0750):
        # the directory exists before the milter starts, postfix may enter it
        d = os.path.dirname(self.milter_socket_path())
        os.makedirs(d, exist_ok=True)
        os.chown(d, pwd.getpwnam(MILTER_USER).pw_uid, grp.getgrnam("postfix").gr_gid)
        os.chmod(d, 0o750)
        super().write_milter_conf()


def row_for(h, mid, timeout=30):
    """row_for - the one ledger row of Message-ID mid"""
    deadline = time.monotonic() + timeout
    while True:
        rows = rows_by_mid(h.ledger_rows()).get(norm_mid(mid), [])
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    check(len(rows) == 1, "one ledger row for %s, got %d" % (mid, len(rows)), *rows)
    return rows[0]


def test_main_cf(h):
    """Postfix really has the relative name, and the socket is in its queue directory"""
    for name in ("smtpd_milters", "non_smtpd_milters"):
        p = run(["postconf", "-c", h.postfix_dir, "-h", name])
        check_eq(p.stdout.decode().strip(), RELATIVE, name)
    queue = run(["postconf", "-c", h.postfix_dir, "-h", "queue_directory"]).stdout.decode().strip()
    check_eq(os.path.join(queue, "postmeter", "milter.sock"), h.milter_socket_path(),
             "the socket under queue_directory")
    check(os.path.exists(h.milter_socket_path()), "socket %s exists" % h.milter_socket_path())


def test_smtpd(h):
    """inbound SMTP: smtpd reaches the milter through the relative name"""
    mid = new_message_id("socket.example.test")
    msg = make_message([("From", "carol@remote.test"), ("To", "alice@example.test"),
                        ("Subject", "relative socket")], "through smtpd\n", message_id=mid)
    h.send("carol@remote.test", ["alice@example.test"], msg, source_ip=INBOUND_IP)
    row = row_for(h, mid)
    check_eq(row.get("direction"), "inbound", "direction")


def test_cleanup(h):
    """sendmail(1): cleanup reaches the milter through the relative name"""
    mid = new_message_id("socket.example.test")
    msg = make_message([("From", "alice@example.test"), ("To", "bob@example.test"),
                        ("Subject", "relative socket, local")], "through cleanup\n",
                       message_id=mid)
    h.sendmail_local("alice@example.test", ["bob@example.test"], msg)
    row_for(h, mid)
    warnings = [l for l in h.maillog_text().splitlines() if "warning: milter" in l]
    check(not warnings, "no milter warning in the maillog", *warnings)


CASES = [
    ("main.cf names unix:postmeter/milter.sock", test_main_cf),
    ("smtpd (SMTP) reaches the milter", test_smtpd),
    ("cleanup (sendmail) reaches the milter", test_cleanup),
]


if __name__ == "__main__":
    main_with_harness(CASES, harness_class=QueueSocketHarness, name="socket",
                      milter_unix=True, milter_default_action="tempfail")
