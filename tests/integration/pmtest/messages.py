"""pmtest.messages - building test messages and reading delivered ones.

make_message() and new_message_id() build CRLF messages with unique
Message-IDs; norm_mid(), header_value() and postfix_queue_id() read
headers of delivered raw messages; rows_by_mid() and parse_iso_utc() help
with ledger rows.
"""

import os
import re
import time

from pmtest import settings


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
    rb"by " + re.escape(settings.HOSTNAME.encode())
    + rb" \(Postfix[^)]*\)\s+(?:with \S+\s+)?id ([0-9A-Za-z]+)")


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
