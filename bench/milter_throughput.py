#!/usr/bin/python3
"""milter_throughput.py - Postfix throughput with and without a milter.

Run through bench/milter-throughput.sh, which builds postmeter first:

    bench/milter-throughput.sh [--mode ledger] [--sessions 10,50]
                               [--messages 2000] [--rounds 3]
                               [--rss-sessions 100] [--size 3000] [--keep]

Two private Postfix instances from the integration harness run side by
side, both delivering to smtp-sink (transport="sink"), so delivery costs
the same for both:

    bare    Postfix without milters: the baseline
    MODE    Postfix configured by the mode (ledger: + postmeter-milter)

For each number of concurrent sessions, smtp-source (from Postfix) sends
the same ~3 KB message N times to one instance, then to the other; the
order alternates between rounds and each point is the median of its
rounds, so a noisy shared machine shows up in both columns. Printed per
point: accepted msg/s (smtp-source's wall time; the milter sits on this
path), delivered msg/s (until smtp-sink has them all), the ratios, and
the CPU time the filter processes spent per message (utime + stime from
/proc/PID/stat). Then a run at --rss-sessions (100) concurrent sessions
that stay connected reports the filter's peak resident memory (VmHWM,
reset first through /proc/PID/clear_refs) and the most MTA connections it
held at once (so it shows the concurrency really reached the filter).

Verification, so a broken filter cannot look fast: Postfix runs with
milter_default_action = tempfail (smtp-source stops on a 4xx), smtp-sink
must receive every message of both instances, and the mode must show it
saw every message it was sent (ledger: rows in the database). A failed
check makes the exit status 1.

Modes live in MODES. A mode says how to configure the measured instance
(Harness options), what else to start around it, which processes are
"the filter" for CPU and memory, and how many messages it has handled.
Later modes (the full inbound authentication pipeline, outbound
signing, Debian's opendkim + opendmarc + policyd-spf chain) add a class
there.

It never touches the system's Postfix, Dovecot or resolver: everything
is a harness instance on 127.0.0.1 high ports under /tmp, removed at
the end (kept with --keep or after a failure).
"""

import argparse
import contextlib
import os
import statistics
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from pmtest.harness import Harness, log  # noqa: E402

SENDER = "bench@remote.test"
RCPT = "alice@example.test"  # in the harness' virtual_mailbox_maps
RUN_TIMEOUT = 900            # seconds for one smtp-source run
DRAIN_TIMEOUT = 300          # seconds for Postfix to hand everything to smtp-sink


# ----------------------------------------------------------------------
# modes


class Mode:
    """Mode - what the measured instance runs; subclass and add to MODES"""

    name = None
    title = None

    def harness_opts(self):
        """harness_opts - Harness(...) options of the measured instance"""
        return {}

    def start(self, h):
        """start - start what the mode needs besides the harness (after it)"""

    def stop(self, h):
        """stop - stop what start() started"""

    def filter_pids(self, h):
        """filter_pids - {name: pid} of the processes to account CPU and memory to"""
        return {}

    def seen(self, h):
        """seen - messages the filter has handled so far (None: cannot tell)"""
        return None


class LedgerMode(Mode):
    """ledger - postmeter-milter with only the ledger stage

    Today the ledger is postmeter-milter's only stage; once it has more,
    this mode keeps the others switched off (milter_conf) so it goes on
    measuring the ledger alone.
    """

    name = "ledger"
    title = "postmeter-milter, ledger stage only"

    def harness_opts(self):
        return dict(milter=True, milter_debug=False, log_subject=False)

    def filter_pids(self, h):
        return {"postmeter-milter": h.milter_pid}

    def seen(self, h):
        return h.db_query("SELECT count(*) AS n FROM messages")[0]["n"]


MODES = {m.name: m for m in (LedgerMode(),)}


# ----------------------------------------------------------------------
# measuring


def make_message(size):
    """make_message - a plain-looking newsletter of about size bytes (LF lines)"""
    head = [
        "Received: from mail-out.sender.example (mail-out.sender.example [203.0.113.25])",
        "\tby mx.example.test (Postfix) with ESMTPS id 4BENCHBENCH",
        "\tfor <alice@example.test>; Tue, 25 Nov 2026 10:00:00 +0000 (UTC)",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example; s=s2026;",
        "\tt=1795600000; h=from:to:subject:date:message-id:mime-version:content-type;",
        "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
        "\tb=" + "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgYXMgbG9uZyBhcyBvbmU" * 4,
        "From: Sender Newsletter <news@sender.example>",
        "To: Alice <alice@example.test>",
        "Subject: Your weekly digest: 12 new items",
        "Date: Tue, 25 Nov 2026 10:00:00 +0000",
        "Message-ID: <20261125100000.benchmark@sender.example>",
        "List-Unsubscribe: <https://sender.example/u/0123456789abcdef>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b1_bench"',
    ]
    text = ("Item: something happened this week and here is a line about it.\n")
    html = ("<p>Item: something happened this week and <a href=\"https://sender.example/"
            "x\">here</a> is a line.</p>\n")
    body_parts = ["--b1_bench", "Content-Type: text/plain; charset=utf-8", ""]
    msg = "\n".join(head) + "\n\n"
    lines_text, lines_html = [], []
    while len(msg) + sum(map(len, lines_text)) + sum(map(len, lines_html)) + 200 < size:
        lines_text.append(text)
        lines_html.append(html)
    body = "\n".join(body_parts) + "\n" + "".join(lines_text)
    body += "\n--b1_bench\nContent-Type: text/html; charset=utf-8\n\n<html><body>\n"
    body += "".join(lines_html) + "</body></html>\n--b1_bench--\n"
    return msg + body


def count_sent(h, offset):
    """count_sent - (status=sent lines in h's maillog after offset, new offset)"""
    try:
        with open(h.maillog, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return 0, offset
    end = data.rfind(b"\n") + 1  # count whole lines only
    return data[:end].count(b" status=sent "), offset + end


def maillog_size(h):
    try:
        return os.path.getsize(h.maillog)
    except OSError:
        return 0


def cpu_ms(pid):
    """cpu_ms - (utime, stime) of pid (all its threads) in milliseconds"""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) * 1000.0 / tick, int(fields[12]) * 1000.0 / tick


def cpu_sum(pids):
    """cpu_sum - (user, system) milliseconds of all pids together"""
    u = s = 0.0
    for p in pids:
        a, b = cpu_ms(p)
        u, s = u + a, s + b
    return u, s


def proc_status(pid, key):
    """proc_status - an integer field of /proc/PID/status (kB for Vm*)"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Failure(Exception):
    pass


class Instance:
    """Instance - one harness instance being measured, with its counters"""

    def __init__(self, label, h, mode=None):
        self.label, self.h, self.mode = label, h, mode
        self.sent_total = 0      # messages smtp-source got accepted
        self.seen_start = mode.seen(h) if mode else None

    def pids(self):
        return self.mode.filter_pids(self.h) if self.mode else {}

    def run(self, sessions, messages, msgfile, reuse=False):
        """run - one smtp-source run; a dict of what was measured

        reuse: each session sends its share of the messages over one
        connection (smtp-source -d) instead of one connection per message.
        """
        h = self.h
        pids = self.pids()
        for name, pid in pids.items():
            if pid is None:
                raise Failure("%s: %s is not running" % (self.label, name))
        cpu0 = cpu_sum(pids.values())
        off = maillog_size(h)
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-F", msgfile,
               "-f", SENDER, "-t", RCPT, "-M", "client.remote.test",
               "127.0.0.1:%d" % h.smtp_port]
        if reuse:
            cmd.insert(1, "-d")
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT)
        t_accept = time.monotonic() - t0
        out = p.stdout.decode("utf-8", "replace").strip()
        if p.returncode != 0 or out:
            raise Failure("%s: smtp-source exit %d: %s" % (self.label, p.returncode, out[-2000:]))
        self.sent_total += messages
        # smtp-sink must get every one of them
        sent, deadline = 0, time.monotonic() + DRAIN_TIMEOUT
        while sent < messages:
            n, off = count_sent(h, off)
            sent += n
            if sent >= messages:
                break
            if time.monotonic() > deadline:
                raise Failure("%s: smtp-sink got %d of %d messages after %d s"
                              % (self.label, sent, messages, DRAIN_TIMEOUT))
            time.sleep(0.05)
        t_done = time.monotonic() - t0
        cpu1 = cpu_sum(pids.values())
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        return {"accept": messages / t_accept, "deliver": messages / t_done,
                "cpu_ms_per_msg": (user + system) / messages if pids else None,
                "sys_share": system / (user + system) if user + system > 0 else None}

    def verify(self, timeout=60):
        """verify - the mode saw every message it was sent; (seen, sent)"""
        if self.mode is None or self.seen_start is None:
            return None
        deadline = time.monotonic() + timeout
        while True:
            seen = self.mode.seen(self.h) - self.seen_start
            if seen >= self.sent_total or time.monotonic() > deadline:
                return seen, self.sent_total
            time.sleep(0.3)


def socket_fds(pid):
    """socket_fds - open sockets of pid (its MTA connections + listener + ...)"""
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def prespawn(h, n, timeout=180):
    """prespawn - hold n SMTP sessions open until each got its greeting

    Makes Postfix's master spawn n smtpd processes (on a loaded machine it
    starts only a few per second); they stay idle for the next run.
    Returns the most sessions that had their greeting at the same time.
    """
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", h.smtp_port), timeout=timeout))
        deadline = time.monotonic() + timeout
        greeted = 0
        for sk in socks:
            sk.settimeout(max(1.0, deadline - time.monotonic()))
            if sk.recv(512).startswith(b"220"):
                greeted += 1
        return greeted
    finally:
        for sk in socks:
            try:
                sk.sendall(b"QUIT\r\n")
                sk.close()
            except OSError:
                pass


def rss_run(inst, sessions, messages, msgfile):
    """rss_run - a run at many sessions: peak RSS and connections of the filter

    The sessions stay connected for the whole run (smtp-source -d), so
    Postfix keeps that many smtpd processes, each with its own milter
    connection. prespawn() first makes Postfix start that many smtpd
    processes, so that the measured run has them all from its start.
    Connections are counted as
    the filter's socket fds above its idle count (libmilter may serve
    many connections from a few threads).
    """
    pids = inst.pids()
    idle = {name: socket_fds(pid) for name, pid in pids.items()}
    greeted = prespawn(inst.h, sessions)
    if greeted < sessions:
        log("only %d of %d sessions got a greeting" % (greeted, sessions))
    for pid in pids.values():
        try:  # reset VmHWM to the current RSS (Linux >= 4.0)
            with open("/proc/%d/clear_refs" % pid, "w") as f:
                f.write("5")
        except OSError as e:
            log("cannot reset VmHWM of %d: %s (peak includes earlier runs)" % (pid, e))
    peak_conns = {name: 0 for name in pids}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for name, pid in pids.items():
                try:
                    peak_conns[name] = max(peak_conns[name], socket_fds(pid) - idle[name])
                except OSError:
                    pass
            stop.wait(0.05)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        r = inst.run(sessions, messages, msgfile, reuse=True)
    finally:
        stop.set()
        t.join()
    mem = {name: (proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"),
                  proc_status(pid, "Threads")) for name, pid in pids.items()}
    return r, mem, peak_conns


def fmt_rate(v):
    return "%.0f" % v


def fmt_cpu(v):
    return "%.3f" % v if v is not None else "-"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="milter-throughput.sh",
                                 description="Postfix throughput with and without a milter")
    ap.add_argument("--mode", default="ledger", choices=sorted(MODES))
    ap.add_argument("--sessions", default="10,50",
                    help="concurrent SMTP sessions per point, comma separated (10,50)")
    ap.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each instance per point (3)")
    ap.add_argument("--rss-sessions", type=int, default=100,
                    help="sessions of the memory run (100; 0: skip it)")
    ap.add_argument("--size", type=int, default=3000, help="message size in bytes (3000)")
    ap.add_argument("--reuse", action="store_true",
                    help="send each session's messages over one connection (smtp-source -d); "
                         "default: one connection per message, like most MX traffic")
    ap.add_argument("--keep", action="store_true", help="keep the instances' state dirs")
    a = ap.parse_args(argv)
    try:
        a.sessions = [int(s) for s in a.sessions.split(",") if s.strip()]
    except ValueError:
        ap.error("--sessions: comma separated numbers")
    if not a.sessions or min(a.sessions) < 1 or a.messages < 1 or a.rounds < 1:
        ap.error("sessions, messages and rounds must be positive")
    return a


def measure_point(a, s, bare, meas, msgfile):
    """measure_point - the rounds at s sessions; one summary tuple"""
    res = {bare.label: [], meas.label: []}
    for r in range(a.rounds):
        order = (bare, meas) if r % 2 == 0 else (meas, bare)
        for inst in order:
            res[inst.label].append(inst.run(s, a.messages, msgfile, a.reuse))
        b, m = res[bare.label][-1], res[meas.label][-1]
        print("%-8d %-6d %-14s %10s %12s %7.3f %11s %5s" % (
            s, r + 1, ",".join(i.label for i in order), fmt_rate(b["accept"]),
            fmt_rate(m["accept"]), m["accept"] / b["accept"], fmt_cpu(m["cpu_ms_per_msg"]),
            "%.0f%%" % (100 * m["sys_share"]) if m["sys_share"] is not None else "-"))
        sys.stdout.flush()

    def med(label, key):
        return statistics.median(x[key] for x in res[label])
    cpu = [x["cpu_ms_per_msg"] for x in res[meas.label] if x["cpu_ms_per_msg"] is not None]
    ratio = statistics.median(m["accept"] / b["accept"]
                              for b, m in zip(res[bare.label], res[meas.label]))
    return (s, med(bare.label, "accept"), med(meas.label, "accept"), ratio,
            med(bare.label, "deliver"), med(meas.label, "deliver"),
            statistics.median(cpu) if cpu else None)


def print_summary(label, summary):
    print("\nmedians (acc/s: accepted, smtp-source's rate; dlv/s: delivered, until smtp-sink "
          "has them all)")
    print("%-8s %12s %12s %7s %6s   %12s %12s %7s   %10s" % (
        "sessions", "bare acc/s", label + " acc/s", "ratio", "target",
        "bare dlv/s", label + " dlv/s", "ratio", "CPU ms/msg"))
    for s, ba, ma, ratio, bd, md, cpu in summary:
        print("%-8d %12s %12s %7.3f %6s   %12s %12s %7.3f   %10s" % (
            s, fmt_rate(ba), fmt_rate(ma), ratio, "ok" if ratio >= 0.95 else "MISSED",
            fmt_rate(bd), fmt_rate(md), md / bd, fmt_cpu(cpu)))
    print("  target: %s acc/s >= 0.95 x bare Postfix's" % label)
    sys.stdout.flush()


def report_memory(a, meas, msgfile):
    r, mem, conns = rss_run(meas, a.rss_sessions, max(a.messages, 10 * a.rss_sessions), msgfile)
    for name, (hwm, rss, threads) in mem.items():
        print("\n%s with %d concurrent sessions (kept open, %s msg/s): peak RSS (VmHWM) "
              "%.1f MiB, target <= 15 MiB: %s" % (
                  name, a.rss_sessions, fmt_rate(r["accept"]), hwm / 1024.0,
                  "ok" if hwm <= 15 * 1024 else "MISSED"))
        print("  VmRSS after the run %.1f MiB; peak MTA connections %d; %d threads" % (
            rss / 1024.0, conns[name], threads))
    sys.stdout.flush()


def verify(bare, meas):
    """verify - print what was checked; a list of failures"""
    failures = []
    v = meas.verify()
    if v is not None:
        seen, sent = v
        print("\nverified: %s handled %d of the %d messages sent through it%s" % (
            meas.label, seen, sent, "" if seen == sent else "  <-- FAILED"))
        if seen != sent:
            failures.append("%s saw %d of %d messages" % (meas.label, seen, sent))
    print("verified: smtp-sink received every message of both instances (%d + %d)"
          % (bare.sent_total, meas.sent_total))
    if meas.h.use_milter and not meas.h.milter_alive():
        failures.append("postmeter-milter is no longer running")
    return failures


def main(argv):
    a = parse_args(argv)
    mode = MODES[a.mode]
    if os.geteuid() != 0:
        sys.stderr.write("milter-throughput: must run as root (it starts Postfix)\n")
        return 2
    with contextlib.ExitStack() as stack:
        bare_h = stack.enter_context(Harness(name="bench-bare", transport="sink", milter=False,
                                             keep_state=a.keep))
        opts = dict(name="bench-" + mode.name, transport="sink", keep_state=a.keep)
        opts.update(mode.harness_opts())
        mode_h = stack.enter_context(Harness(**opts))
        mode.start(mode_h)
        stack.callback(mode.stop, mode_h)
        msgfile = os.path.join(mode_h.state, "bench-message.txt")
        with open(msgfile, "w") as f:
            f.write(make_message(a.size))
        bare = Instance("bare", bare_h)
        meas = Instance(mode.name, mode_h, mode)

        print("milter-throughput: mode %s (%s)" % (mode.name, mode.title))
        print("  %d-byte message, %d messages per run, %s, %d rounds per point; "
              "smtp-source -> Postfix -> smtp-sink; %d CPUs; milter_default_action = %s"
              % (os.path.getsize(msgfile), a.messages, "sessions reused (-d)" if a.reuse else
                 "one connection per message", a.rounds, os.cpu_count(),
                 mode_h.milter_default_action))
        print("  baseline: the same Postfix without milters, side by side; the order alternates")
        sys.stdout.flush()

        # warm-up: start Postfix's processes, fill caches
        for inst in (bare, meas):
            prespawn(inst.h, max(a.sessions))
            inst.run(max(a.sessions), max(200, a.messages // 10), msgfile)

        print("\n%-8s %-6s %-14s %10s %12s %7s %11s %5s" % (
            "sessions", "round", "order", "bare acc/s", mode.name + " acc/s", "ratio",
            "CPU ms/msg", "sys"))
        summary = [measure_point(a, s, bare, meas, msgfile) for s in a.sessions]
        print_summary(mode.name, summary)
        if a.rss_sessions > 0 and meas.pids():
            report_memory(a, meas, msgfile)
        failures = verify(bare, meas)
    if failures:
        print("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        print("FAILED: %s" % e)
        sys.exit(1)
