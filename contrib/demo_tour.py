"""demo_tour.py - the demo's closing list: postmeter commands on the running demo.

contrib/demo.py runs each once at the end of "start" and shows its output;
"info" lists them again to copy. All use the demo's own configuration
(-c STATE/postmeter.conf), so they talk to the demo's database and its
unbound, never to a system postmeter.

    save_outbound_copy(info, state, messages)
                        keep one delivered, DKIM-signed outbound copy as
                        STATE/outbound-copy.eml for "postmeter auth"
    commands(info, state)
                        [(what it shows, argv, stdin file or None)]
    run_tour(info, state)
                        run them, print each with its output and exit
                        status; a wrong answer where the demo knows the
                        right one (dns --check, auth's dkim=) is an error

The newsletter's pixel opens (demo_tracker.py) show in "report opens"
and in its story, "report open --queue-id"; "report summary" closes the
list.
"""

import os
import re
import shlex
import subprocess

from pmtest.harness import INBOUND_IP, OUTBOUND_IP, header_value

DOMAIN = "example.test"
OUTBOUND = ("alice@example.test", "app.example.test")  # sender, HELO of the outbound mail


def copy_path(state):
    return os.path.join(state, "outbound-copy.eml")


def save_outbound_copy(info, state, messages):
    """save_outbound_copy - the first delivered copy signed d=DOMAIN from OUTBOUND's sender"""
    for user in sorted(info["users"]):
        if user.endswith("@" + DOMAIN):
            continue
        for raw in messages(info, user):
            sig = header_value(raw, "DKIM-Signature") or ""
            if (re.search(r"\bd=%s\s*;" % re.escape(DOMAIN), sig)
                    and OUTBOUND[0] in (header_value(raw, "From") or "")):
                with open(copy_path(state), "wb") as f:
                    f.write(raw.replace(b"\r\n", b"\n"))
                return "%s in %s's mailbox" % (header_value(raw, "Subject"), user)
    raise SystemExit("demo: no delivered copy signed d=%s from %s" % (DOMAIN, OUTBOUND[0]))


def commands(info, state):
    """commands - (what it shows, argv, stdin path) of the closing list"""
    pm = [info["cli"], "-c", info["milter_config"]]
    return [
        ("the DNS records example.test needs, checked against the demo's DNS",
         pm + ["dns", DOMAIN, "--check"], None),
        ("an outbound copy as delivered, authenticated as a receiver would",
         pm + ["auth", "--ip", OUTBOUND_IP, "--helo", OUTBOUND[1], "--mail-from", OUTBOUND[0]],
         copy_path(state)),
        ("SPF for alice@example.test from the demo's mail server",
         pm + ["spf", "--ip", OUTBOUND_IP, "--mail-from", OUTBOUND[0]], None),
        ("SPF for the forged alice@example.test from %s" % INBOUND_IP,
         pm + ["spf", "--ip", INBOUND_IP, "--mail-from", OUTBOUND[0]], None),
        ("postmeter-milter, its keys and its ledger on one screen",
         pm + ["status"], None),
        ("inbound authentication results per From domain", pm + ["report", "auth"], None),
        ("the tracking rules", pm + ["track", "list"], None),
        ("the messages in the ledger, newest last", pm + ["report", "messages", "--limit", "10"],
         None),
        ("tracked mail: open rates counting people, not machines (postmeter-tracker)",
         pm + ["report", "opens", "--by", "message"], None),
        ("the morning summary", pm + ["report", "summary", "--since", "today"], None),
    ]


def shell_quote(arg):
    """shell_quote - arg for a shell line to copy: bare, '...', or "..." around SQL's quotes"""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    if "'" in arg and not re.search(r'["$`\\!]', arg):
        return '"%s"' % arg
    return shlex.quote(arg)


def shell_line(argv, stdin):
    return " ".join(shell_quote(a) for a in argv) + (" < " + stdin if stdin else "")


def run_one(argv, stdin):
    """run_one - (exit status, output) of argv"""
    inp = open(stdin, "rb") if stdin else subprocess.DEVNULL
    try:
        p = subprocess.run(argv, stdin=inp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
    finally:
        if stdin:
            inp.close()
    return p.returncode, p.stdout.decode("utf-8", "replace")


def judge(argv, rc, out):
    """judge - what is wrong with an answer the demo can predict, else None"""
    sub = argv[3]  # after postmeter -c CONF
    if sub == "dns" and rc != 0:
        return "postmeter dns --check found records needing attention"
    if sub == "auth" and (rc != 0 or not re.search(r"\bdkim=pass\b", out)
                          or re.search(r"\bdkim=(?!pass)", out)):
        return "the outbound copy did not get dkim=pass for every signature"
    if sub == "report" and rc != 0:
        return "postmeter %s failed" % " ".join(argv[3:5])
    return None


def run_tour(info, state):
    """run_tour - run and show the closing list; raise SystemExit on a wrong answer"""
    wrong = []
    for what, argv, stdin in commands(info, state):
        print("\n   # %s" % what)
        print("   $ %s" % shell_line(argv, stdin), flush=True)
        rc, out = run_one(argv, stdin)
        for line in out.rstrip("\n").splitlines():
            print("     " + line)
        print("     (exit %d)" % rc, flush=True)
        bad = judge(argv, rc, out)
        if bad:
            wrong.append(bad)
    if wrong:
        raise SystemExit("demo: " + "; ".join(wrong))


def listing(info, state):
    """listing - the closing list as lines to copy (for "demo.sh info")"""
    out = []
    for what, argv, stdin in commands(info, state):
        out.append("             # " + what)
        out.append("             " + shell_line(argv, stdin))
    return out
