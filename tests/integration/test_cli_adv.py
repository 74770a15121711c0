#!/usr/bin/python3
"""test_cli_adv.py - postmeter's reports as a careless admin and a broken
system drive them, from an adversarial review (issue 20). No harness: the
fixture ledger of the golden tests (tests/fixtures/make_report_db.py) in a
root-only directory, the program run as root.

- A time before the epoch ("--since 999999999w", the natural "all of it",
  or 0000-01-01) is a range from the first record: report summary and
  report opens answered exit 1 with "summary: range -604798202731620..0"
  (the store takes no negative time) and report opens printed its header
  first.
- The epoch itself is a time, not "not given": --until
  1970-01-01T00:00:00Z listed every message (0 meant "no --until"), and
  report summary --since 1970-01-01T00:00:00Z reported the last 24 hours.
- A sendmail that never finishes (here one that sleeps, bind-mounted over
  /usr/sbin/sendmail in a private mount namespace) hung report summary
  --mail-to, and so cron's or the timer's run, for ever; it is killed
  after REPORT_MAIL_TIMEOUT_S (60 s) with exit 1 and a message.
"""
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("POSTMETER_BUILD_DIR", "build")
SOURCE = os.environ.get("POSTMETER_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))))
PROGRAM = os.path.join(BUILD, "cli", "postmeter")
MAIL_TIMEOUT_S = 60  # REPORT_MAIL_TIMEOUT_S in cli/report_mail.h
FAILURES = []


def check(cond, what):
    """check - record a failure unless cond"""
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILURES.append(what)


def run(conf, *args, timeout=60):
    """run - the program on the fixture (TZ UTC+1, no DST); (exit status, stdout, stderr)"""
    env = {"PATH": "/usr/bin:/bin", "TZ": "XXX-1", "COLUMNS": "100", "NO_COLOR": "1",
           "LC_ALL": "C.UTF-8"}
    p = subprocess.run([PROGRAM, "-c", conf, *args], env=env, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def queue_ids(out):
    """queue_ids - the queue_id column of a CSV report"""
    return [r["queue_id"] for r in csv.DictReader(io.StringIO(out))]


def test_before_epoch(conf):
    """a time before the epoch: a range from the first record, exit 0"""
    _, whole, _ = run(conf, "report", "summary", "--since", "2026-11-01")
    for since in ("999999999w", "0000-01-01", "1969-12-31"):
        rc, out, err = run(conf, "report", "summary", "--since", since)
        check(rc == 0 and err == "" and "= 10 messages" in out,
              f"report summary --since {since}: exit {rc}, stderr {err!r}")
        check(out.split("\n", 1)[1:] == whole.split("\n", 1)[1:],
              f"report summary --since {since}: the same numbers as since 2026-11-01")
    _, all_opens, _ = run(conf, "report", "opens", "--format", "csv")
    rc, out, err = run(conf, "report", "opens", "--since", "999999999w", "--format", "csv")
    check(rc == 0 and err == "" and out == all_opens,
          f"report opens --since 999999999w: exit {rc}, stderr {err!r}, all the opens")
    rc, out, err = run(conf, "report", "opens", "--since", "1960-01-01", "--until", "1965-01-01",
                       "--format", "csv")
    check(rc == 0 and err == "" and len(out.splitlines()) == 1,
          f"report opens in 1960..1965: exit {rc}, stderr {err!r}, only the header: {out!r}")
    rc, out, err = run(conf, "report", "messages", "--since", "0000-01-01", "--format", "csv")
    check(rc == 0 and len(queue_ids(out)) == 10, f"report messages --since 0000-01-01: {rc}")


def test_epoch_is_a_time(conf):
    """the epoch's second is a time like any other, not "not given" """
    rc, out, err = run(conf, "report", "messages", "--until", "1970-01-01T00:00:00Z",
                       "--format", "csv")
    check(rc == 0 and err == "" and queue_ids(out) == [],
          f"report messages --until the epoch: no message (got {queue_ids(out)})")
    rc, out, err = run(conf, "report", "auth", "--until", "1970-01-01T00:00:00Z",
                       "--format", "csv")
    check(rc == 0 and len(out.splitlines()) == 1, f"report auth --until the epoch: {out!r}")
    rc, out, err = run(conf, "report", "summary", "--since", "1970-01-01T00:00:00Z")
    check(rc == 0 and out.startswith("postmeter summary from 1970-01-01 01:00:00 +0100")
          and "= 10 messages" in out,
          f"report summary --since the epoch: from the epoch, every message: {out[:80]!r}")
    rc, out, err = run(conf, "report", "summary", "--until", "1970-01-01T00:00:01Z")
    check(rc == 0 and err == "" and "= 0 messages" in out,
          f"report summary --until 1970-01-01T00:00:01Z: exit {rc}, stderr {err!r}")


def test_sendmail_hangs(conf, tmp):
    """a sendmail that never exits is killed after REPORT_MAIL_TIMEOUT_S: exit 1, a message"""
    fake = os.path.join(tmp, "sendmail")
    with open(fake, "w", encoding="utf-8") as f:
        f.write("#!/bin/sh\nexec sleep 3600\n")
    os.chmod(fake, 0o755)
    script = (f"mount --bind {fake} /usr/sbin/sendmail && exec {PROGRAM} -c {conf} "
              "report summary --since 2026-11-30 --until 2026-12-04 --mail-to admin@example.test")
    start = time.monotonic()
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, timeout=MAIL_TIMEOUT_S + 60)
        rc, err = p.returncode, p.stderr.decode()
    except subprocess.TimeoutExpired:
        rc, err = None, "still running"
    took = time.monotonic() - start
    check(rc == 1 and "was killed" in err and "admin@example.test" in err
          and MAIL_TIMEOUT_S - 1 <= took < MAIL_TIMEOUT_S + 30,
          f"a hung sendmail: exit {rc} after {took:.0f} s, stderr {err!r}")


def main():
    tmp = tempfile.mkdtemp(prefix="cli_adv.", dir=BUILD)  # root-only: no privsep
    try:
        db = os.path.join(tmp, "ledger.db")
        subprocess.run(["/usr/bin/python3",
                        os.path.join(SOURCE, "tests", "fixtures", "make_report_db.py"), db],
                       check=True)
        conf = os.path.join(tmp, "postmeter.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"database = {db}\n")
        test_before_epoch(conf)
        test_epoch_is_a_time(conf)
        test_sendmail_hangs(conf, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if FAILURES:
        sys.exit(f"{len(FAILURES)} failure(s): " + "; ".join(FAILURES))
    print("all passed")


if __name__ == "__main__":
    main()
