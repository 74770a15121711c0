#!/usr/bin/python3
"""test_parallel.py - 50 messages over 10 parallel SMTP sessions.

Ten client threads each open one SMTP session (half inbound from
127.0.0.2, half outbound from 127.0.0.1) and send five messages on it.
Every message must be delivered exactly once (IMAP) and have exactly one
ledger row with the queue id Postfix gave it.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import (DEFAULT_USERS, INBOUND_IP, OUTBOUND_IP, check, check_eq,
                            main_with_harness, make_message, new_message_id, norm_mid,
                            rows_by_mid)

SESSIONS = 10
PER_SESSION = 5
USERS = sorted(DEFAULT_USERS)
SENT = []          # (mid, queue_id, rcpt)
ERRORS = []
LOCK = threading.Lock()


def client(h, n, barrier):
    inbound = n % 2 == 0
    try:
        barrier.wait(30)
        s = h.session(source_ip=INBOUND_IP if inbound else OUTBOUND_IP,
                      helo="client%d.%s" % (n, "remote.test" if inbound else "example.test"))
        try:
            for i in range(PER_SESSION):
                rcpt = USERS[(n * PER_SESSION + i) % len(USERS)]
                sender = "s%d@remote.test" % n if inbound else "s%d@example.test" % n
                mid = new_message_id()
                msg = make_message([("From", sender), ("To", rcpt),
                                    ("Subject", "parallel %d/%d" % (n, i))],
                                   ("session %d message %d\n" % (n, i)) * 20, message_id=mid)
                r = s.transaction(sender, [rcpt], msg)
                with LOCK:
                    SENT.append((mid, r.queue_id, rcpt, "inbound" if inbound else "outbound"))
        finally:
            s.close()
    except Exception as e:
        with LOCK:
            ERRORS.append("session %d: %r" % (n, e))


def test_parallel(h):
    barrier = threading.Barrier(SESSIONS)
    threads = [threading.Thread(target=client, args=(h, n, barrier)) for n in range(SESSIONS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    print("sent %d messages over %d sessions in %.2f s" % (len(SENT), SESSIONS,
                                                            time.monotonic() - t0))
    check(not ERRORS, "client errors", *ERRORS)
    total = SESSIONS * PER_SESSION
    check_eq(len(SENT), total, "messages accepted")
    check(all(q for _, q, _, _ in SENT), "every 250 reply names a queue id")

    want = {}
    for mid, q, rcpt, _ in SENT:
        want.setdefault(rcpt, []).append(mid)
    for rcpt, mids in want.items():
        h.wait_delivered(rcpt, len(mids), timeout=120)
    h.wait_queue_empty(60)
    for rcpt, mids in want.items():
        got = h.delivered_mids(rcpt)
        check_eq(sorted(got), sorted(mids), "Message-IDs delivered to %s" % rcpt)

    rows = h.wait_ledger_rows(total, 60)
    check_eq(len(rows), total, "ledger rows")
    by = rows_by_mid(rows)
    for mid, q, rcpt, direction in SENT:
        r = by.get(mid, [])
        check_eq(len(r), 1, "rows for <%s>" % mid)
        check_eq(r[0].get("queue_id"), q, "queue_id of <%s>" % mid)
        check_eq(r[0].get("recipients"), [rcpt], "recipients of <%s>" % mid)
        check_eq(r[0].get("direction"), direction, "direction of <%s>" % mid)
    check(h.milter_alive(), "postmeter-milter still running")


if __name__ == "__main__":
    main_with_harness([("50 messages over 10 parallel sessions", test_parallel)],
                      name="parallel")
