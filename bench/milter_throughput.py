#!/usr/bin/python3
"""milter_throughput.py - Postfix throughput with and without milters.

Run through bench/milter-throughput.sh, which builds postmeter first:

    bench/milter-throughput.sh [--mode noop|ledger|auth|debian|sign|sign-track|opendkim-sign[,...]]
                               [--sessions 10,50] [--messages 2000] [--rounds 3]
                               [--rss-sessions 100] [--size N] [--reuse] [--keep]
                               [--milter-unix] [--ledger-wait-ms N[,N...]]

Private Postfix instances from the integration harness run side by side,
all delivering to smtp-sink (transport="sink"), so delivery costs the
same for all:

    bare    Postfix without milters: the baseline
    MODE    Postfix configured by each mode in --mode (comma separated)

Modes: noop (the floor: postmeter's milter server doing nothing),
ledger (postmeter-milter, ledger only), auth (postmeter's inbound
pipeline: SPF + DKIM verify + DMARC + ledger), debian (opendkim verify +
opendmarc + policyd-spf doing the same checks), sign (postmeter outbound:
RSA-2048 + Ed25519 signing + ledger), opendkim-sign (OpenDKIM signing
RSA-2048). See bench/README.md for how each is set up and verified.

For each number of concurrent sessions, smtp-source (from Postfix) sends
the mode's message N times to each instance, in an order that rotates
between rounds; each point is the median of its rounds, so a noisy
shared machine shows up in every column. Printed per point: accepted
msg/s (smtp-source's wall time; the milters sit on this path), delivered
msg/s, the ratios against bare Postfix (and between auth and debian,
sign and opendkim-sign when both run), and the CPU time the mode's
filter processes (and their children) spent per message (utime + stime
from /proc/PID/stat). Then a run at --rss-sessions (100) concurrent
sessions that stay connected reports each filter's peak resident memory
(VmHWM, reset first through /proc/PID/clear_refs) and the most MTA
connections it held at once. With noop among the modes, each mode's
acc/s is also given against the floor's, round by round.

For the modes with a ledger (postmeter-milter: ledger, auth, sign,
sign-track) the added latency per message: the wait of each answer for
its ledger record to be durable (ledger_wait_ms), median and p99, from
the line postmeter-milter logs when it stops. The bench restarts those
milters after the warm-up and after each point (and after the memory
run), so each figure covers exactly that point's rounds.
--ledger-wait-ms sets ledger_wait_ms; several values run each such mode
once per value side by side (MODE, MODE-wN), compared round by round.

Verification, so a broken filter cannot look fast: Postfix runs with
milter_default_action = tempfail (smtp-source stops on a 4xx), smtp-sink
must receive every message of every instance, and each mode must show it
really checked every message it was sent (ledger rows with the expected
results, or Postfix's header_checks log lines of the headers the Debian
filters add). A failed check makes the exit status 1.

It never touches the system's Postfix, Dovecot or resolver: everything
is a harness instance on 127.0.0.1 high ports under /tmp, removed at
the end (kept with --keep or after a failure). The Debian resolvers that
read only /etc/resolv.conf run in a private mount namespace where that
file is a bind mount.

The code: this file (the driver: instances, runs, tables, verification),
milter_modes.py (the modes) and milter_measure.py (the message, the
source-address shim, the maillog and /proc readers, the durability
waits of the ledger modes).
"""

import argparse
import contextlib
import os
import shutil
import statistics
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from pmtest.harness import Harness, log  # noqa: E402

from milter_measure import (Failure, build_source_ip_shim, count_sent,  # noqa: E402
                            cpu_sum, fmt_wait, maillog_size, print_waits, proc_status,
                            restart_milter, smaps_top, socket_fds, wait_setting, wait_twins)
from milter_measure import fmt_ms as fmt_cpu  # noqa: E402
from milter_modes import MODES, PAIRS, SENDER, SignMode  # noqa: E402

# bench/pixel-inject.sh imports this file and writes m.SignMode's message,
# so SignMode stays importable from here
__all__ = ["main", "SignMode"]

RCPT = "alice@example.test"  # in the harness' virtual_mailbox_maps
RUN_TIMEOUT = 900            # seconds for one smtp-source run
DRAIN_TIMEOUT = 300          # seconds for Postfix to hand everything to smtp-sink


# ----------------------------------------------------------------------
# measuring


class Instance:
    """Instance - one harness instance being measured, with its counters

    It sends its own message file, from its own source address (an
    LD_PRELOAD shim binds smtp-source's sockets when it is not 127.0.0.1).
    """

    def __init__(self, label, h, mode=None, msgfile=None, source_ip="127.0.0.1",
                 sender=SENDER, shim=None):
        self.label, self.h, self.mode = label, h, mode
        self.msgfile, self.source_ip, self.sender, self.shim = msgfile, source_ip, sender, shim
        self.sent_total = 0      # messages smtp-source got accepted
        self.seen_start = mode.seen(h) if mode else None
        self.milter_exits = []   # bad exit statuses of postmeter-milter at restarts

    def pids(self):
        return self.mode.filter_pids(self.h) if self.mode else {}

    def restart(self):
        """restart - restart a ledger mode's postmeter-milter; its waits since it started

        (a dict, see milter_measure.restart_milter, or None: no wait line)
        """
        rc, waits = restart_milter(self.h, self.mode.ready_lines)
        if rc not in (None, 0):
            self.milter_exits.append(rc)
        return waits

    def run(self, sessions, messages, reuse=False):
        """run - one smtp-source run; a dict of what was measured

        reuse: each session sends its share of the messages over one
        connection (smtp-source -d) instead of one connection per message.
        """
        h = self.h
        pids = self.pids()
        for name, pid in pids.items():
            if pid is None:
                raise Failure("%s: %s is not running" % (self.label, name))
        env = dict(os.environ)
        if self.source_ip != "127.0.0.1":
            env["LD_PRELOAD"] = self.shim
            env["BENCH_SOURCE_IP"] = self.source_ip
        cpu0 = cpu_sum(pids.values())
        off = maillog_size(h)
        cmd = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-F", self.msgfile,
               "-f", self.sender, "-t", RCPT, "-M", "client.remote.test",
               "127.0.0.1:%d" % h.smtp_port]
        if reuse:
            cmd.insert(1, "-d")
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT, env=env)
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


def rss_run(inst, sessions, messages):
    """rss_run - a run at many sessions: peak RSS and connections of the filter

    The sessions stay connected for the whole run (smtp-source -d), so
    Postfix keeps that many smtpd processes, each with its own milter
    connection. prespawn() first makes Postfix start that many smtpd
    processes, so that the measured run has them all from its start.
    Connections are counted as
    the filter's socket fds above its idle count (a filter may serve
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
        r = inst.run(sessions, messages, reuse=True)
    finally:
        stop.set()
        t.join()
    mem = {name: (proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"),
                  proc_status(pid, "Threads"), proc_status(pid, "RssAnon"),
                  proc_status(pid, "RssFile"), smaps_top(pid)) for name, pid in pids.items()}
    if os.environ.get("BENCH_SMAPS_DIR"):  # the whole map of each filter, to read later
        for name, pid in pids.items():
            shutil.copyfile("/proc/%d/smaps" % pid,
                            os.path.join(os.environ["BENCH_SMAPS_DIR"], name + ".smaps"))
    return r, mem, peak_conns


def fmt_rate(v):
    return "%.0f" % v


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="milter-throughput.sh",
                                 description="Postfix throughput with and without a milter")
    ap.add_argument("--mode", default="ledger",
                    help="comma separated, measured side by side: %s (ledger)"
                    % ", ".join(MODES))
    ap.add_argument("--sessions", default="10,50",
                    help="concurrent SMTP sessions per point, comma separated (10,50)")
    ap.add_argument("--messages", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each instance per point (3)")
    ap.add_argument("--rss-sessions", type=int, default=100,
                    help="sessions of the memory run (100; 0: skip it)")
    ap.add_argument("--size", type=int, default=None,
                    help="message size in bytes (ledger: 3000; auth, debian, sign, "
                         "opendkim-sign: 16000)")
    ap.add_argument("--reuse", action="store_true",
                    help="send each session's messages over one connection (smtp-source -d); "
                         "default: one connection per message, like most MX traffic")
    ap.add_argument("--keep", action="store_true", help="keep the instances' state dirs")
    ap.add_argument("--milter-unix", action="store_true",
                    help="postmeter-milter (and noop_milter) on a unix socket (as contrib/ "
                         "recommends) instead of inet on loopback")
    ap.add_argument("--ledger-wait-ms", default="",
                    help="ledger_wait_ms of postmeter-milter in the modes with a ledger "
                         "(default: the milter's own); several, comma separated, run each "
                         "such mode once per value side by side (MODE, then MODE-wN)")
    a = ap.parse_args(argv)
    try:
        a.ledger_wait_ms = [int(v) for v in a.ledger_wait_ms.split(",") if v.strip()]
    except ValueError:
        ap.error("--ledger-wait-ms: comma separated numbers")
    if len(set(a.ledger_wait_ms)) != len(a.ledger_wait_ms) or min(a.ledger_wait_ms + [0]) < 0:
        ap.error("--ledger-wait-ms: different numbers >= 0")
    try:
        a.sessions = [int(s) for s in a.sessions.split(",") if s.strip()]
    except ValueError:
        ap.error("--sessions: comma separated numbers")
    a.modes = [m.strip() for m in a.mode.split(",") if m.strip()]
    for m in a.modes:
        if m not in MODES:
            ap.error("--mode: unknown mode %r (have %s)" % (m, ", ".join(MODES)))
    if not a.modes or len(set(a.modes)) != len(a.modes):
        ap.error("--mode: one or more different modes")
    if not a.sessions or min(a.sessions) < 1 or a.messages < 1 or a.rounds < 1:
        ap.error("sessions, messages and rounds must be positive")
    return a


def measure_point(a, s, bare, meas):
    """measure_point - the rounds at s sessions; {label: summary dict}

    Every round runs bare and every mode once, in an order that rotates
    between rounds. Ratios are taken per round (same round, same load),
    then the median.
    """
    insts = [bare] + meas
    res = {i.label: [] for i in insts}
    noop = next((i for i in meas if i.label == "noop"), None)
    for r in range(a.rounds):
        k = r % len(insts)
        order = insts[k:] + insts[:k]
        if r % 2:
            order.reverse()
        for inst in order:
            res[inst.label].append(inst.run(s, a.messages, a.reuse))
        b = res[bare.label][-1]
        for m_inst in meas:
            m = res[m_inst.label][-1]
            vs_noop = "-" if noop in (None, m_inst) else "%.3f" % (
                m["accept"] / res[noop.label][-1]["accept"])
            print("%-8d %-6d %-30s %-14s %10s %12s %7.3f %7s %11s %5s" % (
                s, r + 1, ",".join(i.label for i in order), m_inst.label, fmt_rate(b["accept"]),
                fmt_rate(m["accept"]), m["accept"] / b["accept"], vs_noop,
                fmt_cpu(m["cpu_ms_per_msg"]),
                "%.0f%%" % (100 * m["sys_share"]) if m["sys_share"] is not None else "-"))
        sys.stdout.flush()

    def med(label, key):
        return statistics.median(x[key] for x in res[label])
    out = {}
    for m_inst in meas:
        lab = m_inst.label
        cpu = [x["cpu_ms_per_msg"] for x in res[lab] if x["cpu_ms_per_msg"] is not None]
        out[lab] = dict(
            sessions=s, bare_acc=med(bare.label, "accept"), acc=med(lab, "accept"),
            ratio=statistics.median(m["accept"] / b["accept"]
                                    for b, m in zip(res[bare.label], res[lab])),
            bare_dlv=med(bare.label, "deliver"), dlv=med(lab, "deliver"),
            cpu=statistics.median(cpu) if cpu else None, rounds=res[lab],
            messages=a.rounds * a.messages,
            vs_noop=None if noop in (None, m_inst) else statistics.median(
                m["accept"] / n["accept"] for n, m in zip(res[noop.label], res[lab])),
            # the durability waits of exactly these rounds: restarted after them
            waits=m_inst.restart() if m_inst.mode.ledger else None)
    return out


def print_summary(meas, summary):
    print("\nmedians (acc/s: accepted, smtp-source's rate; /noop: acc/s against the floor's "
          "in the same round; dlv/s: delivered, until smtp-sink has them all; CPU: the mode's "
          "filter processes, ms per message; wait: durability wait per message, median/p99 us)")
    print("%-14s %-8s %10s %10s %7s %7s %6s   %10s %10s %7s   %7s %7s   %s" % (
        "mode", "sessions", "bare acc/s", "acc/s", "ratio", "target", "/noop",
        "bare dlv/s", "dlv/s", "ratio", "CPU ms", "target", "wait p50/p99"))
    for m_inst in meas:
        mode = m_inst.mode
        for pt in summary:
            x = pt[m_inst.label]
            tr = "-" if mode.target_ratio is None else (
                "ok" if x["ratio"] >= mode.target_ratio else "MISSED")
            tc = "-" if mode.target_cpu is None or x["cpu"] is None else (
                "ok" if x["cpu"] <= mode.target_cpu else "MISSED")
            print(("%-14s %-8d %10s %10s %7.3f %7s %6s   %10s %10s %7.3f   %7s %7s   %s" % (
                m_inst.label, x["sessions"], fmt_rate(x["bare_acc"]), fmt_rate(x["acc"]),
                x["ratio"], tr, "-" if x["vs_noop"] is None else "%.3f" % x["vs_noop"],
                fmt_rate(x["bare_dlv"]), fmt_rate(x["dlv"]), x["dlv"] / x["bare_dlv"],
                fmt_cpu(x["cpu"]), tc, fmt_wait(x["waits"], short=True)
                if mode.ledger else "")).rstrip())
    for m_inst in meas:
        mode = m_inst.mode
        t = []
        if mode.target_ratio is not None:
            t.append("acc/s >= %.2f x bare Postfix's" % mode.target_ratio)
        if mode.target_cpu is not None:
            t.append("CPU <= %.1f ms/msg" % mode.target_cpu)
        print("  %s: %s" % (m_inst.label, "; ".join(t) if t else
                            "a baseline (no target of its own)"))
    print_waits(meas, summary)
    labels = [m.label for m in meas]
    for fast, base, target in PAIRS:
        if fast in labels and base in labels:
            print("\n%s vs %s (acc/s of both in the same round; median over rounds)"
                  % (fast, base))
            for pt in summary:
                rs = [f["accept"] / b["accept"]
                      for f, b in zip(pt[fast]["rounds"], pt[base]["rounds"])]
                r = statistics.median(rs)
                cf, cb = pt[fast]["cpu"], pt[base]["cpu"]
                print("  %3d sessions: %s / %s = %.2f x, target >= %.0f x: %s;  CPU ms/msg "
                      "%s vs %s (%s x less)" % (
                          pt[fast]["sessions"], fast, base, r, target,
                          "ok" if r >= target else "MISSED", fmt_cpu(cf), fmt_cpu(cb),
                          "%.1f" % (cb / cf) if cf and cb else "-"))
    if "sign" in labels and "sign-track" in labels:
        print("\nthe pixel stage: sign-track vs sign, milter CPU per message (target: <= 5% more)")
        for pt in summary:
            ct, cs = pt["sign-track"]["cpu"], pt["sign"]["cpu"]
            if ct and cs:
                share = (ct - cs) / cs * 100
                print("  %3d sessions: %s vs %s ms/msg: %+.1f%%: %s" % (
                    pt["sign"]["sessions"], fmt_cpu(ct), fmt_cpu(cs), share,
                    "ok" if share <= 5 else "MISSED"))
    sys.stdout.flush()


def report_memory(a, meas):
    r, mem, conns = rss_run(meas, a.rss_sessions, max(a.messages, 10 * a.rss_sessions))
    for name, (hwm, rss, threads, anon, filed, top) in mem.items():
        target, want = "", meas.mode.rss_target_mib if meas.mode else None
        if name == "postmeter-milter" and want:
            target = ", target <= %d MiB: %s" % (want, "ok" if hwm <= want * 1024 else "MISSED")
        print("\n%s: %s with %d concurrent sessions (kept open, %s msg/s): peak RSS (VmHWM) "
              "%.1f MiB%s" % (meas.label, name, a.rss_sessions, fmt_rate(r["accept"]),
                              hwm / 1024.0, target))
        # RssFile: pages of the binary and shared libraries (clean, shared with the
        # page cache, reclaimable); RssAnon: the process's own memory
        print("  VmRSS after the run %.1f MiB (own memory RssAnon %.1f, file pages RssFile %.1f);"
              " peak MTA connections %d; %d threads" % (
                  rss / 1024.0, anon / 1024.0, filed / 1024.0, conns[name], threads))
        print("  largest after the run (MiB): " + ", ".join(
            "%s %.1f" % (m, kb / 1024.0) for m, kb in top))
    if meas.mode.ledger:  # restarted before this run too: its waits only
        print("  durability wait per message in this run (ledger_wait_ms %s): %s" % (
            wait_setting(meas.mode), fmt_wait(meas.restart())))
    sys.stdout.flush()


def verify(bare, meas):
    """verify - print what was checked; a list of failures"""
    failures = []
    for m in meas:
        v = m.verify()
        if v is not None:
            seen, sent = v
            print("verified: %s: the filter %s %d of the %d messages sent through it%s" % (
                m.label, m.mode.seen_what(), seen, sent, "" if seen == sent else "  <-- FAILED"))
            if seen != sent:
                failures.append("%s: %d of %d messages checked out" % (m.label, seen, sent))
        if m.h.use_milter and not m.h.milter_alive():
            failures.append("%s: postmeter-milter is no longer running" % m.label)
        for rc in m.milter_exits:
            failures.append("%s: postmeter-milter exited with status %s when the bench "
                            "restarted it" % (m.label, rc))
        for name, pid in m.pids().items():
            if pid is None:
                failures.append("%s: %s is no longer running" % (m.label, name))
    print("verified: smtp-sink received every message of every instance (%s)"
          % " + ".join("%s %d" % (i.label, i.sent_total) for i in [bare] + meas))
    return failures


def main(argv):
    a = parse_args(argv)
    modes = [MODES[m] for m in a.modes]
    # the floor with the first mode's message, the one bare Postfix gets too
    for m in modes[1:]:
        if m.name == "noop" and modes[0].name != "noop":
            m.like(modes[0])
    if a.ledger_wait_ms:
        modes = wait_twins(modes, a.ledger_wait_ms)
    if os.geteuid() != 0:
        sys.stderr.write("milter-throughput: must run as root (it starts Postfix)\n")
        return 2
    with contextlib.ExitStack() as stack:
        # smtpd's reverse lookup of 127.0.0.2 goes to the system's resolver
        # (not in /etc/hosts): switched off for every instance when any
        # mode sends from there, so no instance waits for it (a machine
        # whose resolver drops PTR queries stalls all sessions for 5 s)
        inbound = any(m.source_ip != "127.0.0.1" for m in modes)
        no_ptr = {"smtpd_peername_lookup": "no"} if inbound else {}
        bare_h = stack.enter_context(Harness(name="bench-bare", transport="sink", milter=False,
                                             keep_state=a.keep, postfix_conf=dict(no_ptr)))
        shim = build_source_ip_shim(bare_h.state)
        meas = []
        for mode in modes:
            mode.unix = a.milter_unix
            opts = dict(name="bench-" + mode.name, transport="sink", keep_state=a.keep)
            opts.update(mode.harness_opts())
            if a.milter_unix and opts.get("milter"):
                opts["milter_unix"] = True
            opts["postfix_conf"] = dict(opts.get("postfix_conf") or {}, **no_ptr)
            if mode.ledger and mode.wait_ms is not None:
                opts["milter_conf"] = dict(opts.get("milter_conf") or {},
                                           ledger_wait_ms=str(mode.wait_ms))
            mode_h = stack.enter_context(Harness(**opts))
            stack.push(lambda et, e, tb, mode=mode, mode_h=mode_h:
                       mode.stop(mode_h, failed=et is not None))
            mode.start(mode_h)
            msgfile = os.path.join(mode_h.state, "bench-message.txt")
            with open(msgfile, "w") as f:
                f.write(mode.message(a.size or mode.default_size))
            meas.append(Instance(mode.name, mode_h, mode, msgfile, mode.source_ip,
                                 mode.sender, shim))
        # bare Postfix gets the first mode's message, from its address, with its sender
        first = meas[0]
        bare = Instance("bare", bare_h, None, first.msgfile, first.source_ip, first.sender, shim)

        print("milter-throughput: %d CPUs; smtp-source -> Postfix -> smtp-sink; %d messages "
              "per run, %s, %d rounds per point; milter_default_action = %s"
              % (os.cpu_count(), a.messages, "sessions reused (-d)" if a.reuse else
                 "one connection per message", a.rounds, meas[0].h.milter_default_action))
        for m in meas:
            print("  %-14s %s; %d-byte message, MAIL FROM %s, from %s%s" % (
                m.label, m.mode.title, os.path.getsize(m.msgfile), m.sender, m.source_ip,
                "; ledger_wait_ms " + wait_setting(m.mode) if m.mode.ledger else ""))
        print("  %-14s the same Postfix without milters or policy service, side by side, with "
              "%s's message, sender and address; the order rotates" % ("bare", first.label))
        sys.stdout.flush()

        # warm-up: start Postfix's processes, fill caches
        for inst in [bare] + meas:
            prespawn(inst.h, max(a.sessions))
            inst.run(max(a.sessions), max(200, a.messages // 10))
        for inst in meas:  # the first point's waits without the warm-up's
            if inst.mode.ledger:
                inst.restart()

        print("\n%-8s %-6s %-30s %-14s %10s %12s %7s %7s %11s %5s" % (
            "sessions", "round", "order", "mode", "bare acc/s", "mode acc/s", "ratio",
            "/noop", "CPU ms/msg", "sys"))
        summary = [measure_point(a, s, bare, meas) for s in a.sessions]
        print_summary(meas, summary)
        if a.rss_sessions > 0:
            for m in meas:
                if m.pids():
                    report_memory(a, m)
        print()
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
