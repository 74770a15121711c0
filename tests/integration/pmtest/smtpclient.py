"""pmtest.smtpclient - an SMTP client for sending test mail.

SMTPSession is one connection that can carry several transactions; a
transaction gives a SendResult (code, reply, queue id) or raises
SMTPFailure.
"""

import re
import smtplib

from pmtest import settings
from pmtest.messages import crlf


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

    def __init__(self, port, source_ip=settings.INBOUND_IP, helo=None, auth=None, timeout=120):
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
