#!/usr/bin/python3
"""tracker_bench.py - postmeter-tracker against nginx's empty_gif, with wrk.

Run through bench/tracker.sh, which builds postmeter first:

    bench/tracker.sh [--connections 64,256] [--modes keepalive,close] [--duration 10]
                     [--rounds 1] [--threads 2] [--set KEY=VALUE] [--keep] [--floor]

One harness instance (tests/integration/pmtest, transport="sink": Postfix
and postmeter-milter, no Dovecot) makes the valid tokens the way a
deployment does: a tracking rule, tracked HTML mail sent through Postfix
and the milter, the tokens read from tracked_messages. Then, on loopback
high ports, side by side:

    tracker   postmeter-tracker on the harness's database, the caps on
              opens (tracker_opens_per_*) and connections per client
              (tracker_max_per_ip) raised so that none refuses a request,
              every other key at its default
    nginx     Debian's nginx from a private configuration in the state
              dir (own pid file and logs, never /etc/nginx): empty_gif
              under the same path, the access log on (combined format,
              one write per request), keep-alive requests unbounded

For every number of connections and every mode (keepalive; close: each
request on a new connection, wrk -H 'Connection: close') wrk runs against
both, back to back (the order alternating by round), each tracker run
asking for tokens of its own (one per wrk thread). Printed: requests/s of
each and the ratio tracker/nginx, p99 latency, CPU time per request of
each server's processes, the tracker's peak RSS (VmHWM) per run and over
the whole bench, and the targets.

Every request recorded: after each tracker run the bench waits until the
tracker's writer has written everything it was handed (its /metrics),
then counts the run's rows in pixel_opens: they must equal the pixel
requests the tracker answered in that run (exactly), and wrk's completed
requests must not exceed them (the excess is at most the requests in
flight when wrk stopped: answered by the tracker, never read by wrk). A
missing row, a dropped, capped or discarded open, or a non-2xx answer
fails the bench (exit status 1). A missed target is printed, not failed.

The machine is shared and noisy: read the ratios, and re-run when one
surprises you. Everything runs under the harness's state dir in /tmp,
removed at the end (kept with --keep or after a failure).
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from pmtest.harness import (OUTBOUND_IP, Harness, free_port, make_message,  # noqa: E402
                            new_message_id, wait_for)
from pmtest.procs import wait_port  # noqa: E402
from pmtest.tracker import Tracker, get  # noqa: E402

LUA = os.path.join(HERE, "tracker_wrk.lua")
PREFIX = "/px"
SETTLE_TIMEOUT = 300  # seconds for the tracker's writer to write a run's rows
TARGET_RATIO = 1.0    # tracker req/s >= this x nginx's, every mode
TARGET_P99_MS = 5.0   # tracker p99 at 64 connections
TARGET_RSS_MB = 20.0  # tracker peak RSS, MiB
HTML = "<html><body><p>News.</p></body></html>\n"


class Failure(Exception):
    """Failure - a check of the bench failed: the numbers mean nothing"""


def cpu_s(pids):
    """cpu_s - utime + stime of the processes, seconds"""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def cpu_http_s(pid):
    """cpu_http_s - utime + stime of the process's libmicrohttpd threads, seconds

    libmicrohttpd names its threads "MHD-worker"; the rest of the
    tracker's CPU is its ledger writer's (and an idle main thread and
    deadline sweeper).
    """
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if not f.read().startswith("MHD-"):
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass  # a thread that ended
    return total / tick


def vm_hwm_kb(pid):
    """vm_hwm_kb - the process's peak resident memory (VmHWM), kB"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise Failure("no VmHWM for %d" % pid)


def reset_hwm(pid):
    """reset_hwm - VmHWM back to the current RSS (Linux >= 4.0)"""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


class BenchTracker(Tracker):
    """BenchTracker - postmeter-tracker as deployed: no -d, no sanitizer settings"""

    def start(self):
        self.write_conf()
        cmd = [self.bin, "-c", self.conf_path, "-f"]
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf)
        wait_port(self.port, proc=self.proc, what="postmeter-tracker")
        return self

    def pids(self):
        return [self.proc.pid]

    def metrics(self):
        """metrics - the /metrics counters the bench checks, as integers"""
        text = self.request(get("/metrics")).decode()
        one = lambda name: int(re.search(r"(?m)^%s (\d+)$" % re.escape(name), text).group(1))
        return {
            "answered": one('postmeter_tracker_requests_total{method="GET",outcome="open"}'),
            "handed": sum(int(n) for n in re.findall(
                r"(?m)^postmeter_opens_total\{[^}]*\} (\d+)$", text)),
            "written": one("postmeter_tracker_rows_written_total"),
            "discarded": one("postmeter_tracker_opens_discarded_total"),
            "dropped": one("postmeter_tracker_rows_dropped_total"),
        }

    def settle(self):
        """settle - wait until every open handed over is written, discarded or dropped"""
        def done():
            m = self.metrics()
            return m if m["handed"] == m["written"] + m["discarded"] + m["dropped"] else None
        return wait_for(done, SETTLE_TIMEOUT, "the tracker's writer to drain", interval=0.2)


class Nginx:
    """Nginx - Debian's nginx on a private configuration under dir"""

    def __init__(self, directory, port):
        self.dir, self.port, self.proc = directory, port, None
        self.conf = os.path.join(directory, "nginx.conf")
        self.access_log = os.path.join(directory, "access.log")

    def start(self):
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        d = self.dir
        with open(self.conf, "w") as f:
            f.write("""# bench/tracker_bench.py: nginx serving empty_gif, its access log on
user www-data;
worker_processes %(workers)d;  # as many as postmeter-tracker's threads: one per CPU
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 4096; }
http {
    access_log %(d)s/access.log combined;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:%(port)d backlog=1024;
        location %(prefix)s/o/ { empty_gif; }
    }
}
""" % {"d": d, "port": self.port, "prefix": PREFIX, "workers": min(os.cpu_count() or 1, 8)})
        with open(os.path.join(d, "stdout.log"), "ab") as out:
            self.proc = subprocess.Popen(
                ["nginx", "-p", d, "-c", self.conf, "-e", os.path.join(d, "error.log"),
                 "-g", "daemon off;"], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc, what="nginx")
        return self

    def pids(self):
        """pids - the master and its workers"""
        kids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                            kids.append(int(name))
                except OSError:
                    pass
        return [self.proc.pid] + kids

    def log_lines(self):
        try:
            with open(self.access_log, "rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


class Floor:
    """Floor - bench/mhd_floor: libmicrohttpd set up as the tracker, answering the GIF only"""

    def __init__(self, directory, port, turbo=False):
        self.dir, self.port, self.turbo, self.proc = directory, port, turbo, None

    def start(self):
        exe = os.path.join(os.environ["POSTMETER_BUILD_DIR"], "bench", "mhd_floor")
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "floor.log"), "ab") as out:
            self.proc = subprocess.Popen([exe, str(self.port)] + (["turbo"] if self.turbo else []),
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc, what="mhd_floor")
        return self

    def pids(self):
        return [self.proc.pid]

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.terminate()
            p.wait(30)


def make_tokens(h, n):
    """make_tokens - n valid tokens: n tracked mails through Postfix and the milter"""
    p = h.cli("track", "add", "news@example.test")
    if b"rule" not in p.stdout:
        raise Failure("postmeter track add: %r" % p.stdout)
    h.reload_milter()
    wait_for(lambda: "tracking: 1 enabled rule(s)" in open(h.milter_log(),
                                                           errors="replace").read(),
             20, "the milter to load the rule")
    for i in range(n):
        body = ("--b1\nContent-Type: text/plain\n\nNews.\n--b1\nContent-Type: text/html\n\n" +
                HTML + "--b1--\n")
        m = make_message([("From", "news@example.test"), ("To", "carol@remote.test"),
                          ("Subject", "newsletter %d" % i), ("MIME-Version", "1.0"),
                          ("Content-Type", 'multipart/alternative; boundary="b1"')], body,
                         message_id=new_message_id("example.test"))
        h.send("news@example.test", ["carol@remote.test"], m, source_ip=OUTBOUND_IP)
    rows = wait_for(lambda: (lambda r: r if len(r) >= n else None)(h.db_query(
        "SELECT id, token FROM tracked_messages ORDER BY id")), 60,
        "%d tracked_messages rows" % n, interval=0.3)
    return [(r["id"], r["token"]) for r in rows]


def wrk(port, paths, conns, mode, a):
    """wrk - one wrk run; the numbers of its wrk-summary line"""
    cmd = ["wrk", "-t", str(a.threads), "-c", str(conns), "-d", "%ds" % a.duration,
           "--timeout", "5s", "-s", LUA]
    if mode == "close":
        cmd += ["-H", "Connection: close"]
    cmd += ["http://127.0.0.1:%d%s" % (port, paths[0]), "--"] + paths
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=a.duration + 120)
    out = p.stdout.decode(errors="replace")
    m = re.search(r"(?m)^wrk-summary (.*)$", out)
    if p.returncode != 0 or m is None:
        raise Failure("wrk failed (exit %d): %s %s" % (p.returncode, out[-1500:],
                                                       p.stderr.decode(errors="replace")))
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    if r["status"]:
        raise Failure("%d answers were not 2xx/3xx: %s" % (r["status"], out[-1500:]))
    return r


def run_nginx(n, paths, conns, mode, a):
    before_cpu, before_lines = cpu_s(n.pids()), n.log_lines()
    r = wrk(n.port, paths, conns, mode, a)
    r["cpu_us"] = (cpu_s(n.pids()) - before_cpu) * 1e6 / max(r["requests"], 1)
    r["logged"] = n.log_lines() - before_lines
    return r


def run_floor(f, paths, conns, mode, a):
    before_cpu = cpu_s(f.pids())
    r = wrk(f.port, paths, conns, mode, a)
    r["cpu_us"] = (cpu_s(f.pids()) - before_cpu) * 1e6 / max(r["requests"], 1)
    return r


def run_tracker(t, h, toks, conns, mode, a):
    """run_tracker - one wrk run on the run's own tokens, then count and check its rows

    r["problems"] lists what was not recorded (empty: every request was).
    """
    ids = ",".join(str(i) for i, _ in toks)
    paths = ["%s/o/%s.gif" % (PREFIX, tok) for _, tok in toks]
    m0 = t.settle()
    rows0 = h.db_query("SELECT count(*) AS n FROM pixel_opens WHERE tracked_id IN (%s)" % ids)
    if rows0[0]["n"]:
        raise Failure("the run's tokens already have opens")
    reset_hwm(t.proc.pid)
    cpu0, http0 = cpu_s(t.pids()), cpu_http_s(t.proc.pid)
    r = wrk(t.port, paths, conns, mode, a)
    t0 = time.monotonic()
    m1 = t.settle()  # the writer's CPU for the run's rows counts too
    r["drain_s"] = time.monotonic() - t0
    r["cpu_us"] = (cpu_s(t.pids()) - cpu0) * 1e6 / max(r["requests"], 1)
    r["http_us"] = (cpu_http_s(t.proc.pid) - http0) * 1e6 / max(r["requests"], 1)
    r["rss_kb"] = vm_hwm_kb(t.proc.pid)
    d = {k: m1[k] - m0[k] for k in m1}
    rows = h.db_query("SELECT count(*) AS n FROM pixel_opens WHERE tracked_id IN (%s)"
                      % ids)[0]["n"]
    r["rows"], r["answered"], r["dropped"] = rows, d["answered"], d["dropped"]
    problems = r["problems"] = []
    if d["dropped"] or d["discarded"]:
        problems.append("%d open(s) dropped, %d discarded" % (d["dropped"], d["discarded"]))
    if d["handed"] != d["answered"]:
        problems.append("%d pixel requests answered, %d opens handed to the writer (capped?)"
                        % (d["answered"], d["handed"]))
    if rows != d["answered"]:
        problems.append("%d rows for %d pixel requests answered" % (rows, d["answered"]))
    if r["requests"] > rows:
        problems.append("wrk completed %d requests, %d rows" % (r["requests"], rows))
    if rows - r["requests"] > conns:
        problems.append("%d rows, wrk completed %d: more in flight than connections" % (
            rows, r["requests"]))
    return r


def fmt_us(us):
    return "%.2f ms" % (us / 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", default="64,256")
    ap.add_argument("--modes", default="keepalive,close")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="wrk threads")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a tracker.conf key for a what-if run (repeatable)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--floor", action="store_true",
                    help="also run bench/mhd_floor (libmicrohttpd alone, as the tracker sets it "
                    "up) and its MHD_USE_TURBO variant in the same rounds")
    a = ap.parse_args()
    conns_list = [int(c) for c in a.connections.split(",")]
    modes = a.modes.split(",")
    if set(modes) - {"keepalive", "close"}:
        ap.error("--modes: keepalive and/or close")
    if os.geteuid() != 0:
        sys.stderr.write("tracker-bench: must run as root (it starts Postfix and nginx)\n")
        return 2
    points = [(c, m) for c in conns_list for m in modes]
    tport, nport = free_port(), free_port()
    base = "http://127.0.0.1:%d%s" % (tport, PREFIX)
    results = {p: {"nginx": [], "tracker": [], "floor": [], "turbo": []} for p in points}
    t = n = None
    floors = {}
    failed = False
    lost = []  # runs where a request the tracker answered has no row
    h = Harness(name="bench-tracker", transport="sink", milter_debug=False, keep_state=a.keep,
                milter_conf={"tracking_base_url": base})
    with h:
        try:
            toks = make_tokens(h, a.threads * (1 + a.rounds * len(points)))
            conf = {
                "ledger_flush_ms": "50",  # the default (pmtest's Tracker sets 20)
                "tracker_max_per_ip": "1000",  # wrk's 256 connections come from one address
                "tracker_opens_per_network": "1000000",
                "tracker_opens_per_token": "1000000"}
            conf.update(kv.split("=", 1) for kv in a.set)
            t = BenchTracker(h, tport, conf=conf).start()
            n = Nginx(h.path("nginx"), nport).start()
            if a.floor:
                floors = {"floor": Floor(h.path("floor"), free_port()).start(),
                          "turbo": Floor(h.path("turbo"), free_port(), turbo=True).start()}
            start_rss = vm_hwm_kb(t.proc.pid)
            print("tracker-bench: %d CPUs (shared: other work on the machine shows in every "
                  "column); wrk -t%d, %d s per run, %d round(s); tracker :%d, nginx :%d"
                  % (os.cpu_count(), a.threads, a.duration, a.rounds, tport, nport), flush=True)
            if a.set:
                print("what-if: tracker.conf " + ", ".join(a.set), flush=True)
            # warm-up: both servers, the first tokens
            warm = toks[:a.threads]
            toks = toks[a.threads:]
            short = argparse.Namespace(**dict(vars(a), duration=2))
            run_nginx(n, ["%s/o/%s.gif" % (PREFIX, tok) for _, tok in warm], 64, "keepalive",
                      short)
            r = run_tracker(t, h, warm, 64, "keepalive", short)
            start_rss = max(start_rss, r["rss_kb"])
            if r["problems"]:
                lost.append("warm-up, 64 connections, keepalive: " + "; ".join(r["problems"]))
            for rnd in range(a.rounds):
                for conns, mode in points:
                    mine, toks = toks[:a.threads], toks[a.threads:]
                    paths = ["%s/o/%s.gif" % (PREFIX, tok) for _, tok in mine]
                    order = ("nginx", "tracker") if rnd % 2 == 0 else ("tracker", "nginx")
                    order += tuple(sorted(floors))
                    for who in order:
                        if who in floors:
                            r = run_floor(floors[who], paths, conns, mode, a)
                            extra = "(mhd_floor%s)" % (" turbo" if who == "turbo" else "")
                        elif who == "nginx":
                            r = run_nginx(n, paths, conns, mode, a)
                            extra = "access log +%d lines" % r["logged"]
                        else:
                            r = run_tracker(t, h, mine, conns, mode, a)
                            extra = ("(HTTP threads %.1f us) rows %d, answered %d, wrk "
                                     "completed %d, dropped %d; drained %.1f s after wrk; peak "
                                     "RSS %.1f MiB" % (r["http_us"], r["rows"], r["answered"],
                                                       r["requests"], r["dropped"],
                                                       r["drain_s"], r["rss_kb"] / 1024))
                            if r["problems"]:
                                lost.append("round %d, %d connections, %s: %s" % (
                                    rnd + 1, conns, mode, "; ".join(r["problems"])))
                        results[(conns, mode)][who].append(r)
                        print("  round %d %4d conns %-9s %-7s %8.0f req/s  p99 %s  "
                              "%.1f us CPU/req  socket errors %d  %s" % (
                                  rnd + 1, conns, mode, who, r["rps"], fmt_us(r["p99_us"]),
                                  r["cpu_us"], r["errors"], extra), flush=True)
            peak_kb = max([start_rss] + [r["rss_kb"] for p in points
                                         for r in results[p]["tracker"]])
        except Failure as e:
            failed = True
            h.failed = True
            print("FAILED: %s" % e, flush=True)
        finally:
            for f in floors.values():
                f.stop()
            if n is not None:
                n.stop()
            if t is not None:
                code = t.stop()
                if code != 0:
                    print("FAILED: postmeter-tracker exit status %s" % code)
                    failed = True
    if failed:
        return 1
    med = lambda rs, k: statistics.median(r[k] for r in rs)
    print("\n%5s %-9s %12s %12s %7s %10s %10s %9s %9s %9s %9s %9s" % (
        "conns", "mode", "nginx req/s", "tracker r/s", "ratio", "nginx p99", "trk p99",
        "nginx CPU", "trk CPU", "trk HTTP", "trk RSS", "unrecord"))
    misses = []
    for conns, mode in points:
        ng, tr = results[(conns, mode)]["nginx"], results[(conns, mode)]["tracker"]
        ratio = med(tr, "rps") / med(ng, "rps")
        lost_share = (sum(r["answered"] - r["rows"] for r in tr) /
                      max(sum(r["answered"] for r in tr), 1))
        p99 = med(tr, "p99_us")
        print("%5d %-9s %12.0f %12.0f %7.2f %10s %10s %7.1fus %7.1fus %7.1fus %6.1fMiB %8.1f%%"
              % (conns, mode, med(ng, "rps"), med(tr, "rps"), ratio, fmt_us(med(ng, "p99_us")),
                 fmt_us(p99), med(ng, "cpu_us"), med(tr, "cpu_us"), med(tr, "http_us"),
                 max(r["rss_kb"] for r in tr) / 1024, 100.0 * lost_share))
        if ratio < TARGET_RATIO:
            misses.append("%d conns %s: tracker/nginx %.2f < %.1f" % (conns, mode, ratio,
                                                                      TARGET_RATIO))
        if conns == 64 and p99 / 1000 > TARGET_P99_MS:
            misses.append("%d conns %s: p99 %s > %.0f ms" % (conns, mode, fmt_us(p99),
                                                             TARGET_P99_MS))
    if floors:
        print("\nthe floor (bench/mhd_floor: libmicrohttpd as the tracker sets it up, no work):")
        for conns, mode in points:
            ng = results[(conns, mode)]["nginx"]
            for who in sorted(floors):
                fl = results[(conns, mode)][who]
                print("%5d %-9s %-6s %9.0f req/s  %5.2f x nginx  p99 %s  %.1f us CPU/req" % (
                    conns, mode, who, med(fl, "rps"), med(fl, "rps") / med(ng, "rps"),
                    fmt_us(med(fl, "p99_us")), med(fl, "cpu_us")))
    print("tracker peak RSS (VmHWM) over the bench: %.1f MiB" % (peak_kb / 1024))
    if peak_kb / 1024 > TARGET_RSS_MB:
        misses.append("peak RSS %.1f MiB > %.0f MiB" % (peak_kb / 1024, TARGET_RSS_MB))
    if lost:
        print("every request recorded: NO")
        for x in lost:
            print("FAILED: MISSING OPENS: " + x)
    else:
        print("every request recorded: yes (rows = pixel requests answered, each run)")
    print("targets: tracker >= %.1f x nginx req/s in every mode; p99 <= %.0f ms at 64 "
          "connections; peak RSS <= %.0f MiB" % (TARGET_RATIO, TARGET_P99_MS, TARGET_RSS_MB))
    for m in misses:
        print("target missed: " + m)
    if not misses:
        print("targets: all met")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
