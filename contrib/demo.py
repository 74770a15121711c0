#!/usr/bin/python3
"""demo.py - the logic of contrib/demo.sh: a running postmeter to look at.

    demo.py start STATE    stop an older demo in STATE, start a new one in
                           the background, send mail through it, read the
                           mail back over IMAP and print a summary
    demo.py info STATE     how to look around (ports, users, files) and stop
    demo.py stop STATE     stop the demo in STATE and everything it started
    demo.py serve STATE    (internal) the background driver

The demo is the integration tests' Harness (tests/integration/pmtest)
with a fixed state directory STATE: unbound with test zones, Dovecot
(IMAP, LMTP, SASL), a private Postfix, postmeter-milter and
postmeter-tracker (demo_tracker.py), all on 127.0.0.1 high ports. The
driver ("serve") owns the Harness and stays in the background, in its
own session, until "stop" sends it SIGTERM; its pid, log and the ports
live next to STATE (STATE.pid, STATE.log, STATE.json) because the
Harness empties STATE when it starts.

It never touches the system's mail setup (/etc/postfix, /etc/dovecot,
system services, /etc/resolv.conf), and "stop" only ends processes of
this demo: the driver named in STATE.pid (which stops the rest), then,
if a killed driver left some behind, only these (see ours()): unbound,
dovecot, postmeter-milter and postmeter-tracker running with a
configuration under STATE, Postfix processes with
MAIL_CONFIG=STATE/postfix/etc, and Dovecot's children titled after this
instance. Run with Debian's /usr/bin/python3 as root; demo.sh sets
POSTMETER_BUILD_DIR.
"""

import imaplib
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

import demo_dns  # noqa: E402  (contrib/, next to this file)
from demo_procs import (files, is_driver, leftovers, load_info, ours, read_pid,  # noqa: E402
                        say, stop, write_json)
import demo_tour  # noqa: E402
import demo_tracker  # noqa: E402
from pmtest.dovecot import imap_fetch_all  # noqa: E402
from pmtest.harness import (INBOUND_IP, OUTBOUND_IP, SMTPFailure, SMTPSession,  # noqa: E402
                            free_port, header_value, make_message, new_message_id)

START_TIMEOUT = 120   # seconds for the driver to bring everything up
DELIVERY_TIMEOUT = 60


def serve(state):
    """serve - start the Harness in state, publish its ports, wait for SIGTERM"""
    from pmtest.harness import Harness, log

    f = files(state)
    stopping = []

    def on_signal(signum, frame):
        stopping.append(signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    with open(f["pid"] + ".tmp", "w") as pf:
        pf.write("%d\n" % os.getpid())
    os.rename(f["pid"] + ".tmp", f["pid"])
    tracker_port, tracker = free_port(), None  # the pixels' URL names the tracker's port
    h = Harness(name="demo", state_dir=state, log_subject=True, zone_data=ZONE_DATA,
                unbound_extra=[demo_dns.unbound_include(state)],
                milter_conf={"tracking_base_url": demo_tracker.base_url(tracker_port),
                             "dkim_key_dir": os.path.join(state, "keys")})
    try:
        h.start()
        tracker = demo_tracker.start(h, tracker_port)
        info = {
            "state": state,
            "driver_pid": os.getpid(),
            "smtp_port": h.smtp_port,
            "imap_port": h.imap_port,
            "lmtp_port": h.lmtp_port,
            "sasl_port": h.auth_port,
            "milter_port": h.milter_port,
            "dns_port": h.dns_port,
            "tracker_port": tracker_port,
            "tracker_config": tracker.conf_path,
            "postfix_config": h.postfix_dir,
            "milter_config": h.milter_conf_path,
            "database": h.database,
            "users": h.users,
            "cli": h.cli_bin,
            "logs": h.log_files(),
            "pids": {
                "postmeter-milter": h.milter_pid,
                "postmeter-tracker": tracker.proc.pid,
                "postfix master": h.postfix_master_pid(),
                "dovecot": h.dovecot_proc.pid if h.dovecot_proc else None,
                "unbound": getattr(getattr(h.unbound, "proc", None), "pid", None),
            },
        }
        write_json(f["info"], info)
        log("demo running; stop it with contrib/demo.sh stop")
        warned = False
        while not stopping:
            time.sleep(0.5)
            if not warned and not h.milter_alive():
                log("postmeter-milter is gone (see %s); Postfix tempfails mail now"
                    % h.milter_log())
                warned = True
            if not tracker.alive() and tracker.proc is not None:
                log("postmeter-tracker is gone (see %s)" % tracker.log_path)
                tracker.proc = None
        log("signal %d: stopping" % stopping[0])
    except Exception:
        h.failed = True
        import traceback
        traceback.print_exc()
        h.dump_logs()
        return_code = 1
    else:
        return_code = 0
    finally:
        demo_tracker.stop(tracker)
        h.stop()
        for p in (f["info"], f["pid"]):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        log("driver done")
    return return_code


# ----------------------------------------------------------------------
# stop


def spawn_driver(state):
    """spawn_driver - start 'demo.py serve' detached; wait until it is ready"""
    f = files(state)
    os.makedirs(os.path.dirname(state), exist_ok=True)
    logf = open(f["log"], "wb")  # a fresh log per run, like the state dir
    logf.write(("=== %s demo.py serve %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), state))
               .encode())
    logf.flush()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", state],
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                         cwd="/", start_new_session=True)
    logf.close()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        info = load_info(state)
        if info and info.get("driver_pid") == p.pid:
            return info
        if p.poll() is not None:
            tail_log(f["log"])
            raise SystemExit("demo: the driver exited with status %d while starting "
                             "(log: %s)" % (p.returncode, f["log"]))
        if time.monotonic() > deadline:
            tail_log(f["log"])
            stop(state, quiet=True)
            raise SystemExit("demo: not ready after %d s (log: %s)" % (START_TIMEOUT, f["log"]))
        time.sleep(0.2)


def tail_log(path, n=40):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()[-n:]
    except OSError:
        return
    sys.stderr.write("----- last %d lines of %s\n" % (len(lines), path))
    for line in lines:
        sys.stderr.write("  %s\n" % line)


# What the demo sends: (label, how, mail_from, rcpts, headers, body).
# "how" is inbound (127.0.0.2, untrusted), trusted (127.0.0.1), sasl
# (127.0.0.2 + AUTH as the sender) or sendmail (sendmail(1), pickup).
MAILS = [
    ("inbound, 2 recipients", "inbound", "news@remote.test",
     ["alice@example.test", "bob@example.test"],
     [("From", "Remote News <news@remote.test>"), ("To", "alice@example.test, bob@example.test"),
      ("Subject", "This week at remote.test")],
     "Hello,\n\nthree things happened at remote.test this week.\n\n-- \nRemote News\n"),
    ("inbound", "inbound", "carol@remote.test", ["alice@example.test"],
     [("From", "Carol <carol@remote.test>"), ("To", "Alice <alice@example.test>"),
      ("Subject", "Lunch on Friday?")],
     "Hi Alice,\n\nlunch on Friday at noon?\n\nCarol\n"),
    ("outbound, trusted network", "trusted", "alice@example.test", ["carol@remote.test"],
     [("From", "Alice <alice@example.test>"), ("To", "Carol <carol@remote.test>"),
      ("Subject", "Re: Lunch on Friday?")],
     "Carol,\n\nFriday at noon works.\n\nAlice\n"),
    ("outbound, SASL-authenticated", "sasl", "bob@example.test",
     ["carol@remote.test", "dave@remote.test"],
     [("From", "Bob <bob@example.test>"), ("To", "carol@remote.test, dave@remote.test"),
      ("Subject", "Quarterly report")],
     "Hi both,\n\nthe quarterly report is done; numbers look fine.\n\nBob\n"),
    ("local, sendmail(1)", "sendmail", "alice@example.test", ["dave@remote.test"],
     [("From", "Alice <alice@example.test>"), ("To", "dave@remote.test"),
      ("Subject", "Backup finished")],
     "The nightly backup finished without errors.\n"),
    ("outbound newsletter, tracked", "trusted", "news@example.test",
     ["carol@remote.test", "dave@remote.test"],
     [("From", "Example News <news@example.test>"), ("To", "carol@remote.test, dave@remote.test"),
      ("Subject", "November at example.test"), ("MIME-Version", "1.0"),
      ("Content-Type", 'multipart/alternative; boundary="demo-b1"')],
     "--demo-b1\nContent-Type: text/plain; charset=utf-8\n\nNovember news, as text.\n"
     "--demo-b1\nContent-Type: text/html; charset=utf-8\n\n"
     "<html><body><h1>November news</h1><p>As HTML.</p></body></html>\n--demo-b1--\n"),
    ("inbound, forged From", "inbound", "billing@remote.test", ["bob@example.test"],
     [("From", "Alice <alice@example.test>"), ("To", "bob@example.test"),
      ("Subject", "Urgent: pay this invoice")],
     "Bob,\n\nplease pay the attached invoice today.\n\nAlice (really)\n"),
]

# DNS for the demo's domains (served by the harness' unbound, which also
# has their MX and A records): remote.test publishes SPF for its mail
# server 127.0.0.2 and a DMARC record, so its mail passes. example.test's
# SPF and DKIM records are what "postmeter dns example.test" prints,
# published once the keys exist (demo_dns.py); its DMARC record is the
# demo's own, stricter than the p=none postmeter suggests to start with:
# p=reject, so the forged "Alice" from 127.0.0.2 is rejected.
ZONE_DATA = [
    'remote.test. 300 IN TXT "v=spf1 ip4:127.0.0.2 -all"',
    '_dmarc.remote.test. 300 IN TXT "v=DMARC1; p=none"',
    '_dmarc.example.test. 300 IN TXT "v=DMARC1; p=reject"',
]


def send_all(info):
    """send_all - send MAILS; the recipients of each message accepted"""
    users = info["users"]
    out = []
    for label, how, mail_from, rcpts, headers, body in MAILS:
        refused = None
        msg = make_message(headers, body, message_id=new_message_id("demo.example.test"))
        if how == "sendmail":
            data = msg.replace(b"\r\n", b"\n")
            p = subprocess.run(["/usr/sbin/sendmail", "-C", info["postfix_config"], "-i",
                                "-f", mail_from, "--"] + rcpts, input=data,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0:
                raise SystemExit("demo: sendmail failed (%d): %s" % (
                    p.returncode, p.stdout.decode("utf-8", "replace")))
            qid = ""
        else:
            ip = OUTBOUND_IP if how == "trusted" else INBOUND_IP
            helo = {"inbound": "mail.remote.test", "trusted": "app.example.test",
                    "sasl": "laptop.example.test"}[how]
            auth = (mail_from, users[mail_from]) if how == "sasl" else None
            s = SMTPSession(info["smtp_port"], source_ip=ip, helo=helo, auth=auth, timeout=60)
            try:
                qid = s.transaction(mail_from, rcpts, msg).queue_id or ""
            except SMTPFailure as e:
                if e.temporary:
                    raise
                qid, refused = "", "%d %s" % (e.code, e.resp)
            finally:
                s.close()
        src = {"inbound": "SMTP from %s" % INBOUND_IP, "trusted": "SMTP from %s" % OUTBOUND_IP,
               "sasl": "SMTP from %s, AUTH %s" % (INBOUND_IP, mail_from),
               "sendmail": "sendmail -C %s" % info["postfix_config"]}[how]
        print("   %-30s %s -> %s  (%s)%s" % (label, mail_from, ", ".join(rcpts), src,
                                            "  queued as " + qid if qid else ""), flush=True)
        if refused:
            print("   %-30s refused: %s" % ("", refused), flush=True)
        else:
            out.append(rcpts)
    return out


def imap_messages(info, user):
    """imap_messages - raw messages (header and body) of user's INBOX"""
    return imap_fetch_all(info["imap_port"], user, info["users"][user])


def what_postmeter_added(raw):
    """what_postmeter_added - one line per header postmeter adds, in short"""
    out = []
    ar = header_value(raw, "Authentication-Results")
    if ar:
        results = re.findall(r"\b(spf|dkim|dmarc)=([a-z]+)", ar)
        out.append("Authentication-Results: %s; %s" % (
            ar.split(";", 1)[0].strip(), " ".join("%s=%s" % r for r in results)))
    head = re.sub(rb"\r?\n[ \t]+", b" ", re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0])
    for sig in re.findall(rb"(?im)^DKIM-Signature:(.*)$", head):
        tags = dict(re.findall(r"\b([ads])=([^;\s]+)", sig.decode("ascii", "replace")))
        out.append("DKIM-Signature: %s" % " ".join(
            "%s=%s" % (k, tags[k]) for k in ("a", "d", "s") if k in tags))
    pixel = re.search(rb'<img src="([^"]+/o/[A-Za-z0-9_-]+\.gif)"', raw)
    if pixel:
        out.append("tracking pixel: %s" % pixel.group(1).decode("ascii"))
    return out


def prepare_outbound(info):
    """prepare_outbound - DKIM keys for example.test and a tracking rule; SIGHUP the milter"""
    cli = [info["cli"], "-c", info["milter_config"]]
    for alg in ("rsa", "ed25519"):
        p = subprocess.run(cli + ["dkim", "keygen", "example.test", "--algorithm", alg],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            raise SystemExit("demo: dkim keygen failed: %s" % p.stdout.decode("utf-8", "replace"))
        sel = re.search(rb"(\S+)\._domainkey\.", p.stdout)
        print("   dkim keygen example.test --algorithm %-8s -> selector %s" % (
            alg, sel.group(1).decode() if sel else "?"), flush=True)
    p = subprocess.run(cli + ["track", "add", "news@example.test"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise SystemExit("demo: track add failed: %s" % p.stdout.decode("utf-8", "replace"))
    print("   track add news@example.test      -> %s" % p.stdout.decode().splitlines()[0],
          flush=True)
    from pmtest.settings import ZONE_DATA as HARNESS_ZONE_DATA
    for line in demo_dns.publish(info, info["state"], "example.test",
                                 list(HARNESS_ZONE_DATA) + ZONE_DATA,
                                 lambda pid: ours(pid, info["state"], info)):
        print("   dns example.test: " + line, flush=True)
    print("   dns example.test --check          -> all records ok (unbound reloaded)", flush=True)
    mlog = info["logs"]["milter"]
    os.kill(info["pids"]["postmeter-milter"], signal.SIGHUP)
    deadline = time.monotonic() + 20
    while True:
        with open(mlog, errors="replace") as f:
            text = f.read()
        if "2 signing key(s) loaded" in text and "tracking: 1 enabled rule(s)" in text:
            return
        if time.monotonic() > deadline:
            raise SystemExit("demo: postmeter-milter did not load the keys and rule (see %s)"
                             % mlog)
        time.sleep(0.2)


def expected_counts(accepted):
    """expected_counts - {mailbox: messages} from the accepted recipient lists"""
    want = {}
    for rcpts in accepted:
        for r in rcpts:
            want[r] = want.get(r, 0) + 1
    return want


def wait_delivered(info, want):
    """wait_delivered - poll IMAP until every mailbox has what was sent to it"""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    last_flush = time.monotonic()
    while True:
        got = {u: len(imap_messages(info, u)) for u in want}
        if all(got[u] >= n for u, n in want.items()):
            return
        if time.monotonic() > deadline:
            raise SystemExit("demo: not delivered after %d s: got %s, want %s (see %s)" % (
                DELIVERY_TIMEOUT, got, want, info["logs"].get("postfix")))
        if time.monotonic() - last_flush > 5:
            subprocess.run(["postqueue", "-c", info["postfix_config"], "-f"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            last_flush = time.monotonic()
        time.sleep(0.3)


def wait_ledger(info, n, timeout=30, must=True):
    """wait_ledger - poll the ledger until it has n rows; return them"""
    deadline = time.monotonic() + timeout
    while True:
        p = subprocess.run([info["cli"], "-c", info["milter_config"], "report", "messages",
                            "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        rows = json.loads(p.stdout or b"[]") if p.returncode == 0 else []
        if len(rows) >= n:
            return rows
        if time.monotonic() > deadline and not must:
            return rows
        if time.monotonic() > deadline:
            raise SystemExit("demo: the ledger has %d rows after 30 s, want %d (%s)" % (
                len(rows), n, p.stderr.decode("utf-8", "replace").strip()))
        time.sleep(0.3)


def start(state):
    """start - (re)start the demo in state, send mail, show what arrived"""
    try:
        return run_demo(state)
    except (SMTPFailure, OSError, subprocess.SubprocessError, imaplib.IMAP4.error) as e:
        info = load_info(state) or {}
        logs = info.get("logs", {})
        if logs.get("milter"):
            tail_log(logs["milter"], 15)
        sys.stderr.write("demo: %s\n" % e)
        sys.stderr.write("demo: the instance is still running for a look (logs: %s); "
                         "stop it with contrib/demo.sh stop\n"
                         % ", ".join(v for v in logs.values()))
        return 1


def run_demo(state):
    """run_demo - the steps of start()"""
    f = files(state)
    pid = read_pid(f["pid"])
    if (pid is not None and is_driver(pid, state)) or leftovers(state):
        say("a demo is already running in %s: stopping it first" % state)
        if not stop(state, quiet=True):
            raise SystemExit("demo: could not stop the old demo")
    say("starting unbound, Dovecot, Postfix, postmeter-milter and postmeter-tracker under %s"
        % state)
    info = spawn_driver(state)
    say("running: SMTP 127.0.0.1:%d, IMAP 127.0.0.1:%d, milter 127.0.0.1:%d, tracker %s "
        "(driver pid %d)" % (info["smtp_port"], info["imap_port"], info["milter_port"],
                             demo_tracker.base_url(info["tracker_port"]), info["driver_pid"]))

    say("outbound: DKIM keys for example.test, a tracking rule for news@example.test, "
        "their DNS records")
    prepare_outbound(info)
    say("sending %d messages" % len(MAILS))
    accepted = send_all(info)
    want = expected_counts(accepted)

    say("reading the mailboxes back over IMAP")
    wait_delivered(info, want)
    for user in sorted(want):
        msgs = imap_messages(info, user)
        print("   %s: %d message%s" % (user, len(msgs), "" if len(msgs) == 1 else "s"))
        for raw in msgs:
            print("     - %-26s from %s" % (header_value(raw, "Subject") or "(no subject)",
                                            header_value(raw, "From") or "?"))
            for line in what_postmeter_added(raw):
                print("         " + line)
    # accepted mail has its row once delivered; a refused one may take a moment
    wait_ledger(info, len(accepted))
    rows = wait_ledger(info, len(MAILS), timeout=3, must=False)
    kinds = {}
    for r in rows:
        k = "%s %s" % (r.get("direction"), r.get("action"))
        kinds[k] = kinds.get(k, 0) + 1
    say("ledger: %d rows (%s)" % (len(rows), ", ".join(
        "%d %s" % (n, k) for k, n in sorted(kinds.items()))))

    say("the newsletter opened: its pixel fetched as a mail client would, then by a scanner")
    demo_tracker.open_pixel(info, state, imap_messages)

    copy = demo_tour.save_outbound_copy(info, state, imap_messages)
    say("what postmeter says about it (outbound copy kept: %s, %s)"
        % (demo_tour.copy_path(state), copy))
    demo_tour.run_tour(info, state)
    return 0


def info_text(state):
    """info_text - how to look around and how to stop"""
    info = load_info(state)
    if info is None:
        raise SystemExit("demo: no demo running in %s" % state)
    u = "alice@example.test"
    logs = info["logs"]
    print("""
The demo keeps running in the background. To look around:

  IMAP       127.0.0.1:{imap}, no TLS; user {u}, password {pw}
             (also bob@example.test, carol@remote.test, dave@remote.test: <name>-pw)
  send more  swaks --server 127.0.0.1:{smtp} --local-interface {inb} \\
                   --from someone@remote.test --to {u}          # inbound
             swaks --server 127.0.0.1:{smtp} --from {u} --to carol@remote.test   # outbound
  ledger     {cli} -c {conf} report messages [--format json]
             {cli} -c {conf} report summary --format html > report.html
             {cli} -c {conf} report open --queue-id QUEUEID   # a message's opens
             sqlite3 {db}
{tracker}
  commands   what the start ran at its end; again any time:
{tour}
  state dir  {state}
  config     {conf} (postmeter), {pf}/main.cf (Postfix)
  logs       Postfix {plog}
             postmeter-milter {mlog}
             postmeter-tracker {tlog}
             Dovecot {dlog}
             driver {drv}

Stop it (and everything it started): contrib/demo.sh stop""".format(
        imap=info["imap_port"], u=u, pw=info["users"][u], smtp=info["smtp_port"],
        inb=INBOUND_IP, cli=info["cli"], conf=info["milter_config"], db=info["database"],
        state=state, pf=info["postfix_config"], plog=logs.get("postfix", "?"),
        mlog=logs.get("milter", "?"), tlog=logs.get("tracker", "?"),
        dlog=logs.get("dovecot", "?"), tracker="\n".join(demo_tracker.info_lines(info)),
        drv=files(state)["log"], tour="\n".join(demo_tour.listing(info, state))))
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop", "serve", "info"):
        sys.stderr.write("usage: demo.py start|stop|info|serve STATE_DIR\n")
        return 2
    if os.geteuid() != 0:
        sys.stderr.write("demo.py: must run as root (it starts Postfix and Dovecot)\n")
        return 2
    state = os.path.abspath(argv[2])
    if argv[1] == "serve":
        return serve(state)
    if argv[1] == "stop":
        return 0 if stop(state) else 1
    if argv[1] == "info":
        return info_text(state)
    return start(state)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
