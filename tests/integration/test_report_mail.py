#!/usr/bin/python3
"""test_report_mail.py - postmeter report summary --mail-to, as cron runs it.

A message goes through the harness's Postfix and postmeter-milter (so the
ledger has a row to report), then `postmeter report summary --mail-to
bob@example.test` hands the summary to /usr/sbin/sendmail (MAIL_CONFIG
pointing at the harness's Postfix, as cron's environment would name the
system's); the mail is read back from bob's Dovecot mailbox over IMAP and
checked: multipart/alternative with a text/plain part (the table report:
its totals line) and a text/html part that parses (as XML, as the page is
written) with its SVG charts, the headers the man page lists, no line
over 998 octets. A sendmail that fails makes the command fail with a
message; an address that is not one plain address is a usage error.
"""
import email
import email.policy
import os
import shutil
import sqlite3
import sys
import tempfile
import xml.dom.minidom
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (BUILD_DIR, HOSTNAME, check, check_eq, main_with_harness,
                            make_message, new_message_id, run)

RCPT = "bob@example.test"
ROOT_DIRS = []  # root_copy()'s directories, removed at the end


def summary_mails(h):
    """summary_mails - the mails in bob's INBOX whose subject is a summary's, parsed"""
    out = []
    for raw in h.imap_fetch_all(RCPT):
        m = email.message_from_bytes(raw, policy=email.policy.default)
        if str(m.get("Subject", "")).startswith("postmeter summary "):
            out.append((raw, m))
    return out


def root_copy(h):
    """root_copy - a config naming a copy of the ledger in a root-only directory; its path

    The harness's database is the milter user's, so as root postmeter
    would work on it as that user (privsep), and Postfix's sendmail/postdrop
    only take a config directory of their own (MAIL_CONFIG) from root.
    Cron runs as root on a system whose Postfix is the default one; here
    the copy keeps the whole run root's, as the golden tests do.
    """
    d = tempfile.mkdtemp(prefix="report_mail.", dir=BUILD_DIR)
    ROOT_DIRS.append(d)
    src = sqlite3.connect(h.database)
    dst = sqlite3.connect(os.path.join(d, "ledger.db"))
    src.backup(dst)
    src.close()
    dst.close()
    conf = os.path.join(d, "postmeter.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("database = %s\nhostname = %s\n" % (os.path.join(d, "ledger.db"), HOSTNAME))
    return conf


def mail_to(h, addr, mail_config=None):
    """mail_to - run report summary --mail-to addr with MAIL_CONFIG; CompletedProcess"""
    env = dict(os.environ, MAIL_CONFIG=mail_config or h.postfix_dir)
    return run([h.cli_bin, "-c", root_copy(h), "report", "summary", "--since", "2h",
                "--mail-to", addr], check=False, env=env)


def test_summary_mail(h):
    mid = new_message_id()
    msg = make_message([("From", "sender@remote.test"), ("To", RCPT), ("Subject", "hello")],
                       "hello\r\n", message_id=mid)
    h.send("sender@remote.test", [RCPT], msg)
    h.wait_delivered(RCPT, 1)
    h.wait_ledger_rows(1)
    p = mail_to(h, RCPT)
    check_eq(p.returncode, 0, "exit status of report summary --mail-to (stderr %r)" % p.stderr)
    check_eq(p.stdout, b"", "nothing on stdout")
    h.wait_delivered(RCPT, 2)
    mails = summary_mails(h)
    check_eq(len(mails), 1, "summary mails in the mailbox")
    raw, m = mails[0]
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        check(m.get(name), "header %s present" % name)
    check_eq(m["From"].addresses[0].addr_spec, "postmeter@" + HOSTNAME, "From")
    check(str(m["Subject"]).startswith("postmeter summary %s 20" % HOSTNAME), "Subject",
          m["Subject"])
    check_eq(str(m["To"]), RCPT, "To")
    check_eq(m.get_content_type(), "multipart/alternative", "Content-Type")
    parts = list(m.iter_parts())
    check_eq([x.get_content_type() for x in parts], ["text/plain", "text/html"], "the parts")
    text = parts[0].get_content()
    check("totals:" in text and "Mail:" in text, "the text part is the table report", text)
    html = parts[1].get_content()
    HTMLParser().feed(html)  # parses as HTML
    doc = xml.dom.minidom.parseString(html.split("\n", 1)[1] if html.startswith("<!DOCTYPE")
                                      else html)
    check(len(doc.getElementsByTagName("svg")) >= 1, "the page has its charts")
    check(max(len(line) for line in raw.split(b"\n")) <= 998, "no line over 998 octets")


def test_sendmail_fails(h):
    before = len(summary_mails(h))
    p = mail_to(h, RCPT, mail_config=h.path("no-such-postfix"))
    check_eq(p.returncode, 1, "exit status when sendmail fails")
    check(b"sendmail exited with status" in p.stderr and b"not sent" in p.stderr,
          "a clear message", p.stderr)
    p = mail_to(h, "bob@example.test\nBcc: eve@remote.test")
    check_eq(p.returncode, 2, "exit status for an address with a line break")
    h.wait_queue_empty()
    check_eq(len(summary_mails(h)), before, "no mail sent by the failed runs")


if __name__ == "__main__":
    import atexit
    atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in ROOT_DIRS])
    main_with_harness([
        ("summary mailed through Postfix to a Dovecot mailbox", test_summary_mail),
        ("sendmail failure and a bad address", test_sendmail_fails),
    ], name="reportmail")
