#!/usr/bin/python3
"""report_bench.py - time every postmeter report on the big ledger.

Usage: report_bench.py POSTMETER DIR [--rounds N] [--messages N] [--only WORD]
                       [--compare OTHER]

Builds DIR/ledger.db with bench/report_fill.py (1,000,000 messages, 2
recipients and 3 auth rows each, 200,000 tracked messages, 600,000
opens; kept in DIR: a second run on the same DIR reuses it when
DIR/ledger.end is there), writes DIR/postmeter.conf naming it, then runs
each report --rounds times (default 5) with its output to /dev/null, the
order rotating between rounds, and prints per report the median wall
time, the fastest and slowest round, the median over its target and a
miss marker. The baseline of the same run: `postmeter --version` (the
process's start, paid by every report). Reports the binary does not
have (report open, report message) are skipped with a note. --only
runs the reports whose name contains WORD. --compare OTHER times a
second postmeter binary (another build, e.g. of the commit before a
change) in the same rounds, each report run by both back to back in an
order alternating between rounds, and checks that both print the same
bytes; the table then has both medians and their ratio.

Exit 1 when a report fails (a non-zero exit); a missed target is
printed, not failed.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DAY = 86400


def iso(t):
    """t as an ISO date-time in UTC, as postmeter reads it"""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def reports(end):
    """(name, arguments, target seconds) of every report timed"""
    day = ["--since", iso(end - DAY), "--until", iso(end)]
    week = ["--since", iso(end - 7 * DAY), "--until", iso(end)]
    every = ["--since", iso(end - 31 * DAY), "--until", iso(end)]
    mid = 500001  # an inbound message in the middle of the ledger
    dom = "d%d.example" % ((mid * 7919) % 5000)
    r = [
        ("messages --limit 100", ["report", "messages", "--limit", "100"], 1.0),
        ("messages last 24h --limit 100", ["report", "messages", "--limit", "100"] + day, 1.0),
        ("messages --sender @D", ["report", "messages", "--sender", "@" + dom], 1.0),
        ("messages --sender @D --limit 20",
         ["report", "messages", "--sender", "@" + dom, "--limit", "20"], 1.0),
        ("messages --from-domain D", ["report", "messages", "--from-domain", dom], 1.0),
        ("messages --recipient A --limit 100",
         ["report", "messages", "--recipient", "u5@local.test", "--limit", "100"], 1.0),
        ("messages --dmarc fail --limit 100",
         ["report", "messages", "--dmarc", "fail", "--limit", "100"], 1.0),
        ("messages --dkim fail --spf fail --limit 100",
         ["report", "messages", "--dkim", "fail", "--spf", "fail", "--limit", "100"], 1.0),
        ("messages --direction outbound --action accept --limit 100",
         ["report", "messages", "--direction", "outbound", "--action", "accept", "--limit",
          "100"], 1.0),
        ("messages --action reject last 24h",
         ["report", "messages", "--action", "reject"] + day, 1.0),
        ("messages --queue-id Q", ["report", "messages", "--queue-id", "Q%09X" % mid], 1.0),
        ("messages --message-id ID",
         ["report", "messages", "--message-id", "m%d@%s" % (mid, dom)], 1.0),
        ("messages --subject TEXT --limit 20",
         ["report", "messages", "--subject", "subject 4242", "--limit", "20"], 1.0),
        ("auth last 24h", ["report", "auth"] + day, 1.0),
        ("auth last 7d", ["report", "auth"] + week, 1.0),
        ("auth (all)", ["report", "auth"], 1.0),
        ("auth --domain D (all)", ["report", "auth", "--domain", dom], 1.0),
        ("summary last 24h", ["report", "summary"] + day, 0.3),
        ("summary last 7d", ["report", "summary"] + week, 0.3),
        ("summary last 31d (all)", ["report", "summary"] + every, 0.3),
        ("summary --format html last 7d", ["report", "summary", "--format", "html"] + week, 0.3),
        ("opens (all)", ["report", "opens"], 1.0),
        ("opens last 24h", ["report", "opens"] + day, 1.0),
        ("opens --sender @local.test", ["report", "opens", "--sender", "@local.test"], 1.0),
    ]
    for by in ("message", "sender", "recipient", "day", "subject"):
        r.append(("opens --by " + by, ["report", "opens", "--by", by], 1.0))
    r.append(("open TOKEN", ["report", "open", "tok%025d" % 100000], 0.02))
    r.append(("message Q", ["report", "message", "Q%09X" % mid], 1.0))
    return r


def has_command(pm, conf, args):
    """whether this postmeter knows report args[1] (its --help exits 0)"""
    p = subprocess.run([pm, "-c", conf, args[0], args[1], "--help"], capture_output=True)
    return p.returncode == 0


def run_once(pm, conf, args):
    """seconds one run took; exits the bench when the report fails"""
    t0 = time.perf_counter()
    p = subprocess.run([pm, "-c", conf] + args, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin", "TZ": "UTC",
                                                   "NO_COLOR": "1", "LC_ALL": "C.UTF-8"})
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit("postmeter %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                p.stderr.decode(errors="replace")[-400:]))
    return dt


def run_output(pm, conf, args):
    """what one run prints (the warm-up run), exits the bench when the report fails"""
    p = subprocess.run([pm, "-c", conf] + args, capture_output=True,
                       env={"PATH": "/usr/bin:/bin", "TZ": "UTC", "NO_COLOR": "1",
                            "LC_ALL": "C.UTF-8"})
    if p.returncode != 0:
        sys.exit("postmeter %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                p.stderr.decode(errors="replace")[-400:]))
    return p.stdout


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    pm, d = args[0], args[1]
    rounds, messages, only, other = 5, 1000000, None, None
    rest = args[2:]
    while rest:
        if rest[0] == "--rounds" and len(rest) > 1:
            rounds = int(rest[1])
        elif rest[0] == "--messages" and len(rest) > 1:
            messages = int(rest[1])
        elif rest[0] == "--only" and len(rest) > 1:
            only = rest[1]
        elif rest[0] == "--compare" and len(rest) > 1:
            other = rest[1]
        else:
            sys.exit(__doc__)
        rest = rest[2:]
    db, endf = os.path.join(d, "ledger.db"), os.path.join(d, "ledger.end")
    if not os.path.exists(endf):
        if os.path.exists(db):
            os.unlink(db)
        end = int(time.time()) // 60 * 60
        t0 = time.perf_counter()
        subprocess.run([sys.executable, os.path.join(HERE, "report_fill.py"), db, str(end),
                        str(messages)], check=True)
        print("== ledger built in %.1f s (%.0f MB)" % (time.perf_counter() - t0,
                                                     os.path.getsize(db) / 1e6))
        with open(endf, "w") as f:
            f.write("%d\n" % end)
    with open(endf) as f:
        end = int(f.read())
    conf = os.path.join(d, "postmeter.conf")
    with open(conf, "w") as f:
        f.write("database = %s\n" % db)
    todo = []
    for name, a, target in reports(end):
        if only and only not in name:
            continue
        if a[1] in ("open", "message") and not all(
                has_command(p, conf, a) for p in [pm] + ([other] if other else [])):
            print("-- %s: not in this postmeter, skipped" % name)
            continue
        todo.append((name, a, target))
    pms = [pm] + ([other] if other else [])
    base = [run_once(pm, conf, ["--version"]) for _ in range(rounds)]
    # one warm-up run of each: the database in the page cache, as on a server in use
    for _, a, _ in todo:
        outs = [run_output(p, conf, a) for p in pms]
        if len(set(outs)) != 1:
            sys.exit("postmeter %s: %s and %s print different output" % (" ".join(a), pm, other))
    times = {(p, name): [] for p in pms for name, _, _ in todo}
    for r in range(rounds):
        k = r % len(todo) if todo else 0
        for name, a, _ in todo[k:] + todo[:k]:
            for p in (pms if r % 2 == 0 else pms[::-1]):
                times[(p, name)].append(run_once(p, conf, a))
    print("baseline: postmeter --version %.1f ms (median of %d)"
          % (1000 * statistics.median(base), rounds))
    if other:
        print("%-56s %9s %9s %6s %8s %7s" % ("report", "other ms", "median ms", "ratio", "target",
                                             "/target"))
    else:
        print("%-56s %9s %9s %9s %8s %7s" % ("report", "median ms", "min", "max", "target",
                                              "/target"))
    missed = 0
    for name, _, target in todo:
        t = times[(pm, name)]
        med = statistics.median(t)
        miss = med >= target
        missed += miss
        if other:
            o = statistics.median(times[(other, name)])
            cols = "%9.1f %9.1f %6.2f" % (1000 * o, 1000 * med, med / o)
        else:
            cols = "%9.1f %9.1f %9.1f" % (1000 * med, 1000 * min(t), 1000 * max(t))
        print("%-56s %s %8.0f %7.2f%s" % (name, cols, 1000 * target, med / target,
                                          "  MISSED" if miss else ""))
    print("%d of %d reports missed their target" % (missed, len(todo)))

if __name__ == "__main__":
    main()
