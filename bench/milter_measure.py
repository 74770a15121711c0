"""milter_measure.py - the measuring helpers of bench/milter_throughput.py.

The bench message (make_message), the LD_PRELOAD shim that gives
smtp-source its source address (SOURCE_IP_SHIM, build_source_ip_shim),
the maillog counters (count_sent, maillog_size), the /proc readers (CPU
of a process tree, memory, sockets), the reader of postmeter-milter's
durability-wait line and what the bench prints of it (restart_milter,
fmt_wait, print_waits; wait_twins for --ledger-wait-ms) and Failure, the
exception of a failed check or step (the bench then exits 1).
"""

import copy
import os
import re
import statistics
import subprocess
import time


# ----------------------------------------------------------------------
# measuring


def make_message(size, from_addr="Sender Newsletter <news@sender.example>",
                 domain="sender.example", fake_signature=True):
    """make_message - a multipart newsletter of about size bytes (LF lines)

    fake_signature: carry a DKIM-Signature that looks real but is not
    checked (the ledger mode has no verifier).
    """
    head = [
        "Received: from mail-out.%s (mail-out.%s [203.0.113.25])" % (domain, domain),
        "\tby mx.example.test (Postfix) with ESMTPS id 4BENCHBENCH",
        "\tfor <alice@example.test>; Tue, 25 Nov 2026 10:00:00 +0000 (UTC)",
    ]
    if fake_signature:
        head += [
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s2026;" % domain,
            "\tt=1795600000; h=from:to:subject:date:message-id:mime-version:content-type;",
            "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
            "\tb=" + "dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgYXMgbG9uZyBhcyBvbmU" * 4,
        ]
    head += [
        "From: " + from_addr,
        "To: Alice <alice@example.test>",
        "Subject: Your weekly digest: 12 new items",
        "Date: Tue, 25 Nov 2026 10:00:00 +0000",
        "Message-ID: <20261125100000.benchmark@%s>" % domain,
        "List-Unsubscribe: <https://%s/u/0123456789abcdef>" % domain,
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="b1_bench"',
    ]
    text = ("Item: something happened this week and here is a line about it.\n")
    html = ("<p>Item: something happened this week and <a href=\"https://%s/"
            "x\">here</a> is a line.</p>\n" % domain)
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


# LD_PRELOAD for smtp-source, which cannot choose its source address:
# connect() binds the socket to $BENCH_SOURCE_IP first.
SOURCE_IP_SHIM = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    const char *ip = getenv("BENCH_SOURCE_IP");
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    if (ip && sa && sa->sa_family == AF_INET) {
        struct sockaddr_in b;
        memset(&b, 0, sizeof b);
        b.sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &b.sin_addr) == 1)
            (void)bind(fd, (struct sockaddr *)&b, sizeof b);
    }
    return real(fd, sa, len);
}
"""


def build_source_ip_shim(directory):
    """build_source_ip_shim - compile SOURCE_IP_SHIM into directory; its path"""
    c = os.path.join(directory, "source_ip_shim.c")
    so = os.path.join(directory, "source_ip_shim.so")
    with open(c, "w") as f:
        f.write(SOURCE_IP_SHIM)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, c, "-ldl"], check=True)
    return so


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


def children_map():
    """children_map - {ppid: [pid, ...]} of every process now"""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def cpu_tree_ms(pid, kids):
    """cpu_tree_ms - (user, system) ms of pid, its live descendants and reaped children"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    u = (int(fields[11]) + int(fields[13])) * 1000.0 / tick
    s = (int(fields[12]) + int(fields[14])) * 1000.0 / tick
    for k in kids.get(pid, ()):
        a, b = cpu_tree_ms(k, kids)
        u, s = u + a, s + b
    return u, s


def cpu_sum(pids):
    """cpu_sum - (user, system) milliseconds of all pids and their descendants together"""
    u = s = 0.0
    kids = children_map()
    for p in pids:
        a, b = cpu_tree_ms(p, kids)
        u, s = u + a, s + b
    return u, s


def proc_status(pid, key):
    """proc_status - an integer field of /proc/PID/status (kB for Vm*)"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def smaps_top(pid, n=8):
    """smaps_top - the n mappings (by file, or [anon]/[stack]) with most Rss, kB"""
    sums, name = {}, "[anon]"
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
            elif parts[0] == "Rss:":
                sums[name] = sums.get(name, 0) + int(parts[1])
    return sorted(sums.items(), key=lambda kv: -kv[1])[:n]


class Failure(Exception):
    pass


# postmeter-milter logs this when it stops (milter/main.c): its answers'
# waits for their ledger records to be durable (ledger_wait_ms), from a
# log-linear histogram (the value is the top of a 19% wide bucket)
WAIT_RE = re.compile(rb"ledger: answers waited for (\d+) record\(s\): median (\d+) us, "
                     rb"p99 (\d+) us; (?:(\d+) journaled, )?(\d+) self-spooled, "
                     rb"(\d+) only in memory")


def restart_milter(h, ready_lines=(), timeout=30):
    """restart_milter - stop h's postmeter-milter, read its wait line, start it again

    Returns (exit status of the stop, waits): waits is a dict (waits,
    median_us, p99_us, journaled, self_spooled, unsafe) from the line the milter
    logged as it stopped, covering everything since it started, or None
    if it logged none (a milter from before ledger_wait_ms). ready_lines:
    log lines (bytes) the new milter must log once more before it counts
    as ready (keys, rules loaded).
    """
    path = h.milter_log()
    off = os.path.getsize(path) if os.path.exists(path) else 0
    try:
        rc = h.stop_milter()
    except RuntimeError as e:
        raise Failure("%s: %s" % (h.name, e))
    with open(path, "rb") as f:
        f.seek(off)
        found = WAIT_RE.findall(f.read())
    waits = None
    if found:
        waits = dict(zip(("waits", "median_us", "p99_us", "journaled", "self_spooled",
                          "unsafe"), (int(x or 0) for x in found[-1])))
    before = [read_count(path, n) for n in ready_lines]
    h.start_milter()
    deadline = time.monotonic() + timeout
    for n, c in zip(ready_lines, before):
        while read_count(path, n) <= c:
            if time.monotonic() > deadline or not h.milter_alive():
                raise Failure("%s: restarted postmeter-milter did not log %r (%s)"
                              % (h.name, n.decode(), path))
            time.sleep(0.1)
    return rc, waits


def read_count(path, needle):
    """read_count - how many times needle (bytes) occurs in the file"""
    try:
        with open(path, "rb") as f:
            return f.read().count(needle)
    except OSError:
        return 0


def fmt_us(us):
    return "%d us" % us if us < 10000 else "%.1f ms" % (us / 1000.0)


def fmt_wait(w, short=False):
    """fmt_wait - a waits dict (restart_milter) as text; short: median/p99 us"""
    if w is None:
        return "-" if short else "no wait line in the milter's log (a milter without " \
            "ledger_wait_ms: answers at once)"
    if w["waits"] == 0:
        return "0 waits" if short else "no waits (ledger_wait_ms = 0: answers at once)"
    if short:
        return "%d/%d" % (w["median_us"], w["p99_us"])
    return "%d waits: median %s, p99 %s; %d journaled, %d self-spooled, %d only in memory" % (
        w["waits"], fmt_us(w["median_us"]), fmt_us(w["p99_us"]), w["journaled"],
        w["self_spooled"], w["unsafe"])


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


def fmt_ms(v):
    """fmt_ms - milliseconds (CPU per message) as text, "-" for none"""
    return "%.3f" % v if v is not None else "-"


def wait_twins(modes, values):
    """wait_twins - modes with each ledger mode once per ledger_wait_ms value

    The mode itself gets the first value; a copy of it named MODE-wN,
    measured side by side, each further one.
    """
    out = []
    for m in modes:
        out.append(m)
        if not m.ledger:
            continue
        m.wait_ms = values[0]
        for v in values[1:]:
            t = copy.copy(m)
            t.name, t.wait_ms, t.twin_of = "%s-w%d" % (m.name, v), v, m.name
            t.procs, t.dir = {}, None
            out.append(t)
    return out


def wait_setting(mode):
    """wait_setting - the mode's ledger_wait_ms as text"""
    return "default" if mode.wait_ms is None else "%d" % mode.wait_ms


def print_waits(meas, summary):
    """print_waits - the ledger modes' durability waits per point, and MODE vs MODE-wN"""
    led = [m for m in meas if m.mode.ledger]
    if not led:
        return
    print("\nadded latency per message: each answer's wait for its ledger record to be durable "
          "(postmeter-milter's stop line; the milter is restarted after each point, so each "
          "line covers exactly that point's rounds)")
    for m_inst in led:
        for pt in summary:
            x = pt[m_inst.label]
            print("  %-14s %3d sessions, ledger_wait_ms %s: %s (of %d messages)" % (
                m_inst.label, x["sessions"], wait_setting(m_inst.mode), fmt_wait(x["waits"]),
                x["messages"]))
    for m_inst in led:
        base = getattr(m_inst.mode, "twin_of", None)
        if base is None:
            continue
        b_mode = next(i.mode for i in meas if i.label == base)
        print("\n%s (ledger_wait_ms %s) vs %s (%s): acc/s in the same round, median over rounds"
              % (base, wait_setting(b_mode), m_inst.label, wait_setting(m_inst.mode)))
        for pt in summary:
            rs = [b["accept"] / t["accept"]
                  for b, t in zip(pt[base]["rounds"], pt[m_inst.label]["rounds"])]
            print("  %3d sessions: %s / %s = %.3f (rounds %s); CPU ms/msg %s vs %s" % (
                pt[base]["sessions"], base, m_inst.label, statistics.median(rs),
                " ".join("%.2f" % r for r in rs), fmt_ms(pt[base]["cpu"]),
                fmt_ms(pt[m_inst.label]["cpu"])))
