#!/usr/bin/python3
"""test_ledger_kill.py - acknowledged means recorded: SIGKILL of
postmeter-milter under load never loses a ledger record of mail Postfix
went on to deliver.

Once the milter has answered a message's end of data, that message's
ledger record (its messages row, its message_recipients rows and, when
tracked, its tracked_messages and tracked_recipients rows) must survive
the death of the process at any instant. Two scenarios, each on real
Postfix (milter_default_action = tempfail, so Postfix answers 4xx while
no milter listens and keeps nothing it could not filter):

  ledger    smtp-source (10 sessions, 16 KB messages, -A: it goes on
            after a 4xx) from 127.0.0.1 to alice@example.test, while the
            milter is killed with SIGKILL at random moments (KILLS times,
            each only after a random number of new deliveries since the
            last restart, so mail is in flight) and restarted;
  tracking  the same with an HTML message from a tracked sender
            (`postmeter track add`, tracking_base_url) to
            carol@remote.test; every delivered copy carries a pixel token.

After the load: Postfix's queue drains, the milter is stopped cleanly and
started again (a spool, if any, is replayed) and the ledger settles.
Postfix's log says which queue ids it delivered (status=sent; one
recipient per message, so one line each). Then:

  - every delivered queue id has exactly one messages row (no duplicate
    queue ids at all) with its recipient row; tracking: the token in
    every delivered copy has its tracked_messages row (same queue id,
    linked to that messages row) with its recipient row;
  - a row whose queue id Postfix did not deliver can only come from the
    one window the milter cannot close: the record is durable, the
    milter dies before Postfix reads its answer, Postfix tempfails the
    message (and never queues it: no qmgr line). Every session can sit
    in that window at a kill, so there are at most KILLS x SESSIONS of
    them, and each must be a queue id Postfix never queued.

So "ledger rows = messages Postfix delivered" holds up to that stated
window. The kill moments are random; the seed is logged (set
PMTEST_SEED to repeat a run).
"""
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pmtest.harness import check, check_eq, crlf, log, main_with_harness, postfix_queue_id

KILLS = 4                 # SIGKILLs per scenario (the issue asks for >= 3)
SESSIONS = 10             # smtp-source -s
RUN_MESSAGES = 2000       # smtp-source -m of one run (runs repeat until the kills are done)
SENT_BEFORE_KILL = (100, 400)  # new deliveries since the restart before a kill (random)
BASE = "https://t.example.test/px"
TRACKED = "news@example.test"
TOKEN_RE = re.compile(rb"https://t\.example\.test/px/o/([A-Za-z0-9_-]{28})\.gif")
SENT_RE = re.compile(r"postfix-pmtest/\w+\[\d+\]: ([0-9A-Za-z]+): to=<([^>]*)>,.* status=sent ")
SEED = int(os.environ.get("PMTEST_SEED") or time.time_ns() % 1000000007)
RNG = random.Random(SEED)
FOUND = {}                # scenario -> what it found, for the summary


def maillog_from(h, offset):
    """maillog_from - (maillog text after byte offset, whole lines only; offset after it)"""
    try:
        with open(h.maillog, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return "", offset
    data = data[:data.rfind(b"\n") + 1]
    return data.decode("utf-8", "replace"), offset + len(data)


def maillog_size(h):
    try:
        return os.path.getsize(h.maillog)
    except OSError:
        return 0


class Load:
    """Load - smtp-source runs, one after the other, until stop()"""

    def __init__(self, h, sender, rcpt, msgfile=None, size=None):
        self.cmd = ["smtp-source", "-A", "-s", str(SESSIONS), "-m", str(RUN_MESSAGES),
                    "-f", sender, "-t", rcpt, "-M", "client.example.test"]
        self.cmd += ["-F", msgfile] if msgfile else ["-l", str(size)]
        self.cmd.append("127.0.0.1:%d" % h.smtp_port)
        self.out = h.path("smtp-source.out")
        self.runs = 0
        self.failure = None
        self.proc = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        self.thread.start()

    def _loop(self):
        while not self.stopping.is_set():
            with open(self.out, "ab") as out, self.lock:
                if self.stopping.is_set():
                    return
                self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=out)
            rc = self.proc.wait()
            self.runs += 1
            # -A: 4xx answers are no failure; a non-zero exit that was not
            # ours (SIGTERM from stop()) means smtp-source itself gave up
            if rc != 0 and not self.stopping.is_set():
                self.failure = "smtp-source exit %d (output: %s)" % (rc, self.out)
                return

    def stop(self):
        with self.lock:
            self.stopping.set()
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
        self.thread.join(60)
        check(not self.thread.is_alive(), "smtp-source load loop did not stop")
        check(self.failure is None, "load: %s" % self.failure)


def kill_under_load(h, load):
    """kill_under_load - KILLS x (wait for deliveries, SIGKILL, pause, restart); stop load"""
    for k in range(KILLS):
        want = RNG.randint(*SENT_BEFORE_KILL)
        off, seen = maillog_size(h), 0
        deadline = time.monotonic() + 90
        while seen < want:
            check(load.failure is None, "load: %s" % load.failure)
            check(time.monotonic() < deadline,
                  "only %d new deliveries in 90 s before kill %d" % (seen, k + 1))
            time.sleep(0.02)
            text, off = maillog_from(h, off)
            seen += text.count(" status=sent ")
        delay = RNG.uniform(0, 0.25)
        time.sleep(delay)
        pid = h.milter_pid
        h.kill_milter(signal.SIGKILL)
        down = RNG.uniform(0.05, 0.5)
        log("kill %d: SIGKILL postmeter-milter %d after %d new deliveries + %.3f s; "
            "down %.3f s" % (k + 1, pid, seen, delay, down))
        time.sleep(down)
        h.start_milter()
    # a little more load on the last restart, then stop
    time.sleep(RNG.uniform(0.3, 1.0))
    load.stop()
    log("load stopped after %d smtp-source run(s)" % load.runs)


def settle_ledger(h, timeout=30):
    """settle_ledger - stop/start the milter cleanly, wait until the ledger stops changing"""
    rc = h.stop_milter()
    check_eq(rc, 0, "postmeter-milter exit status after SIGTERM")
    h.start_milter()
    spool = getattr(h, "spool", None)
    deadline = time.monotonic() + timeout
    last, stable = None, 0
    while True:
        n = h.db_query("SELECT count(*) AS n FROM messages")[0]["n"]
        spool_left = os.path.exists(spool) and os.path.getsize(spool) > 0 if spool else False
        stable = stable + 1 if n == last else 0
        last = n
        if stable >= 4 and not spool_left:
            return n
        if time.monotonic() > deadline:
            log("ledger not settled after %d s (rows %d, spool left: %s); going on"
                % (timeout, n, spool_left))
            return n
        time.sleep(0.5)


def delivered_ids(h, start_off, rcpt):
    """delivered_ids - {queue id: count of status=sent lines to rcpt} after start_off"""
    out = {}
    for qid, to in SENT_RE.findall(maillog_from(h, start_off)[0]):
        check_eq(to, rcpt, "recipient of delivered queue id %s" % qid)
        out[qid] = out.get(qid, 0) + 1
    return out


def queued_ids(h, start_off):
    """queued_ids - queue ids qmgr picked up (from= lines) after start_off"""
    return set(re.findall(r"postfix-pmtest/qmgr\[\d+\]: ([0-9A-Za-z]+): from=<",
                          maillog_from(h, start_off)[0]))


def run_scenario(h, name, sender, rcpt, msgfile=None, size=None):
    """run_scenario - load + kills + drain + settle; (delivered ids, new rows, log offset)"""
    first_id = h.db_query("SELECT coalesce(max(id), 0) AS n FROM messages")[0]["n"]
    start_off = maillog_size(h)
    log("%s: seed %d (PMTEST_SEED=%d repeats it), %d kills, %d sessions"
        % (name, SEED, SEED, KILLS, SESSIONS))
    load = Load(h, sender, rcpt, msgfile=msgfile, size=size)
    t0 = time.monotonic()
    load.start()
    try:
        kill_under_load(h, load)
    finally:
        if not load.stopping.is_set():
            load.stop()
    h.wait_queue_empty(180)
    n = settle_ledger(h)
    delivered = delivered_ids(h, start_off, rcpt)
    dup_lines = {q: c for q, c in delivered.items() if c != 1}
    check(not dup_lines, "Postfix delivered queue ids more than once", dup_lines)
    check(len(delivered) >= KILLS * SENT_BEFORE_KILL[0],
          "too little delivered to mean anything: %d" % len(delivered))
    rows = h.db_query(
        "SELECT m.id, m.uid, m.queue_id, m.mail_from,"
        " (SELECT count(*) FROM message_recipients r WHERE r.message_id = m.id) AS nrcpt,"
        " (SELECT group_concat(address) FROM message_recipients r"
        "  WHERE r.message_id = m.id) AS rcpts"
        " FROM messages m WHERE m.id > ?", (first_id,))
    log("%s: Postfix delivered %d, ledger rows %d (all rows %d), %.1f s"
        % (name, len(delivered), len(rows), n, time.monotonic() - t0))
    return delivered, rows, start_off


def check_rows(h, name, delivered, rows, start_off, rcpt):
    """check_rows - the assertions common to both scenarios; the rows by queue id"""
    by_qid = {}
    for r in rows:
        by_qid.setdefault(r["queue_id"], []).append(r)
    dups = h.db_query("SELECT queue_id, count(*) AS n FROM messages"
                      " GROUP BY queue_id HAVING count(*) > 1")
    missing = sorted(set(delivered) - set(by_qid))
    extra = sorted(set(by_qid) - set(delivered))
    FOUND[name] = dict(delivered=len(delivered), rows=len(rows), missing=len(missing),
                       extra=len(extra), duplicates=len(dups))
    log("%s: delivered %d, rows %d, missing %d, extra %d, duplicate queue ids %d"
        % (name, len(delivered), len(rows), len(missing), len(extra), len(dups)))
    check(not dups, "%s: queue ids with more than one ledger row" % name,
          *["%s: %d rows" % (d["queue_id"], d["n"]) for d in dups[:20]])
    check(not missing, "%s: %d of %d delivered messages have no ledger row"
          % (name, len(missing), len(delivered)), "some: %s" % " ".join(missing[:20]))
    queued = queued_ids(h, start_off)
    if extra:
        log("%s: rows Postfix did not deliver (durable, then killed before Postfix read "
            "the answer): %s" % (name, " ".join(extra)))
    check(len(extra) <= KILLS * SESSIONS,
          "%s: %d rows for undelivered queue ids, more than %d kills x %d sessions"
          % (name, len(extra), KILLS, SESSIONS), " ".join(extra[:40]))
    queued_extra = [q for q in extra if q in queued]
    check(not queued_extra, "%s: rows for queue ids Postfix queued but did not deliver" % name,
          " ".join(queued_extra))
    bad_rcpt = [r["queue_id"] for r in rows
                if r["queue_id"] in delivered and (r["nrcpt"] != 1 or r["rcpts"] != rcpt)]
    check(not bad_rcpt, "%s: delivered messages without their one recipient row" % name,
          " ".join(bad_rcpt[:20]))
    return by_qid


def test_ledger(h):
    delivered, rows, off = run_scenario(h, "ledger", "load@example.test",
                                        "alice@example.test", size=16000)
    check_rows(h, "ledger", delivered, rows, off, "alice@example.test")


HTML_MESSAGE = (
    "From: News <%s>\nTo: carol@remote.test\nSubject: tracked under SIGKILL\n"
    "Date: Tue, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <kill-load@example.test>\n"
    "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: 7bit\n\n"
    "<!DOCTYPE html>\n<html><head><title>News</title></head>\n<body>\n%s</body>\n</html>\n"
    % (TRACKED, "<p>A line of this week's news, long enough to look like mail.</p>\n" * 40))


def read_maildir(h, user):
    """read_maildir - [raw CRLF message] in user's Maildir (new and cur)"""
    local, dom = user.split("@", 1)
    out = []
    for sub in ("new", "cur"):
        d = h.path("mail", dom, local, "Maildir", sub)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else ():
            with open(os.path.join(d, f), "rb") as fh:
                out.append(crlf(fh.read()))
    return out


def test_tracking(h):
    p = h.cli("track", "add", TRACKED)
    check(b"(enabled)" in p.stdout, "track add", p.stdout)
    h.reload_milter()

    def loaded():
        with open(h.milter_log(), errors="replace") as f:
            return "tracking: 1 enabled rule(s)" in f.read()
    t0 = time.monotonic()
    while not loaded():
        check(time.monotonic() - t0 < 20, "the milter did not load the tracking rule")
        time.sleep(0.1)
    msgfile = h.path("tracked.eml")
    with open(msgfile, "w") as f:
        f.write(HTML_MESSAGE)
    rcpt = "carol@remote.test"
    delivered, rows, off = run_scenario(h, "tracking", TRACKED, rcpt, msgfile=msgfile)

    # every delivered copy: its queue id (Received) and its one token
    copies = {}
    for raw in read_maildir(h, rcpt):
        qid = postfix_queue_id(raw)
        check(qid, "a delivered copy without our Received header")
        toks = TOKEN_RE.findall(raw)
        check_eq(len(toks), 1, "pixel tokens in the copy of %s" % qid)
        check(qid not in copies, "two copies of queue id %s in the Maildir" % qid)
        copies[qid] = toks[0].decode()
    check_eq(sorted(copies), sorted(delivered), "queue ids in the Maildir = status=sent")
    tracked = {t["token"]: t for t in h.db_query(
        "SELECT t.token, t.queue_id, t.message_uid, t.mode, t.outcome,"
        " (SELECT group_concat(address) FROM tracked_recipients r"
        "  WHERE r.tracked_id = t.id) AS rcpts FROM tracked_messages t")}
    lost = sorted(q for q, tok in copies.items() if tok not in tracked)
    FOUND["tracking tokens"] = dict(delivered=len(copies), lost=len(lost))
    log("tracking: %d delivered tokens, %d without a tracked_messages row"
        % (len(copies), len(lost)))
    by_qid = check_rows(h, "tracking", delivered, rows, off, rcpt)
    check(not lost, "tracking: %d of %d delivered pixel tokens have no tracked_messages row"
          % (len(lost), len(copies)), "queue ids: %s" % " ".join(lost[:20]))
    for qid, tok in sorted(copies.items()):
        t = tracked[tok]
        check_eq((t["queue_id"], t["mode"], t["outcome"], t["rcpts"]),
                 (qid, "milter", "injected", rcpt), "tracked row of token %s" % tok)
        check_eq(t["message_uid"], by_qid[qid][0]["uid"],
                 "tracked row of %s names its messages row" % qid)


def test_summary(h):
    log("found: %s" % FOUND)
    check(h.milter_alive(), "postmeter-milter running at the end")


if __name__ == "__main__":
    main_with_harness([
        ("ledger: smtp-source + %d SIGKILLs, rows = delivered" % KILLS, test_ledger),
        ("tracking: tracked HTML + %d SIGKILLs, every token recorded" % KILLS, test_tracking),
        ("summary", test_summary),
    ], name="ledger-kill", milter_conf={"tracking_base_url": BASE})
