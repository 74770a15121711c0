"""demo_tracker.py - the demo's postmeter-tracker: the pixel answered, opened, counted.

contrib/demo.py's driver runs postmeter-tracker next to the Harness (as
the Harness runs postmeter-milter: a child of the driver, the same
postmeter.conf plus the tracker's keys in STATE/tracker.conf, dropping
to the same user, its log in STATE/tracker.log, stopped by the driver on
"demo.sh stop"). Its port comes from the harness's port registry
(free_port()), never the default 127.0.0.1:8088, which an installed
postmeter-tracker or another local web service may hold; the milter's
tracking_base_url names that port, so the pixels in the demo's mail
point at this tracker.

After the mail is delivered, "start" opens the tracked newsletter's pixel
once as a person's mail client would and once as a scanner does, and the
closing list shows the opens:

    base_url(port)        tracking_base_url for a tracker on 127.0.0.1:port
    start(h, port)        run postmeter-tracker for the started Harness h
                          (pmtest.tracker.Tracker); returns it
    stop(t)               SIGTERM and wait; never raises (driver shutdown)
    open_pixel(info, state, messages)
                          take the pixel from a delivered copy, save its
                          HTML part as STATE/newsletter.html, render it
                          with headless Chromium if installed (desktop
                          Chrome's agent), else fetch the pixel with curl
                          and that agent; then a HEAD with curl; wait for
                          both opens and check their classes (human,
                          scanner)
    info_lines(info)      the tracker's lines of "demo.sh info"

The person's open comes at least open_min_seconds after the message was
accepted, as a person's would: a sooner one counts as a scanner's where
opens meet their messages (postmeter-tracker(8)). There is no "postmeter
report opens" yet: the closing list (demo_tour.py) shows the opens with
sqlite3. This module only ever writes under STATE and fetches from the
demo's own tracker on loopback.
"""

import email
import email.policy
import os
import re
import shutil
import sqlite3
import subprocess
import time

from demo_tour import shell_line
from pmtest.tracker import Tracker

# A person's desktop Chrome (the agent headless Chromium is told to send:
# its own "HeadlessChrome" is a bot's agent, classified scanner).
CHROME_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/120.0.0.0 Safari/537.36")
IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
OPEN_TIMEOUT = 20     # seconds for the two opens to reach the database
FETCH_TIMEOUT = 60    # seconds for chromium or curl
OPEN_MIN_SECONDS = 2  # open_min_seconds: the default, which the demo's configuration keeps


def base_url(port):
    """base_url - tracking_base_url for the demo's tracker (path /px, as documented)"""
    return "http://127.0.0.1:%d/px" % port


def start(h, port):
    """start - postmeter-tracker on h's configuration and database, listening on port"""
    return Tracker(h, port).start()


def stop(t):
    """stop - SIGTERM t and wait; a tracker that will not stop is killed (Tracker.stop)"""
    if t is None:
        return
    try:
        t.stop()
    except (RuntimeError, OSError) as e:
        print("demo: postmeter-tracker: %s" % e, flush=True)


def html_part(raw):
    """html_part - the decoded text/html part of raw (str), or None"""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            return part.get_content()
    return None


def tracked_copy(info, messages):
    """tracked_copy - (recipient, html, pixel URL) of the first delivered copy with our pixel"""
    base = base_url(info["tracker_port"])
    for user in sorted(info["users"]):
        for raw in messages(info, user):
            html = html_part(raw)
            m = re.search(r'<img src="([^"]+/o/[A-Za-z0-9_-]+\.gif)"', html or "")
            if m and m.group(1).startswith(base + "/o/"):
                return user, html, m.group(1)
    raise SystemExit("demo: no delivered copy has a pixel under %s" % base)


def show(argv, out, rc):
    """show - a command line and its output, demo_tour style"""
    print("   $ " + shell_line(argv, None), flush=True)
    for line in out.rstrip("\n").splitlines():
        print("     " + line)
    print("     (exit %d)" % rc, flush=True)


def run(argv):
    """run - (exit status, standard output, standard error) of argv"""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=FETCH_TIMEOUT)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def person_fetch(state, html_path, url):
    """person_fetch - (argv, what it is) of opening the mail as a person's client would"""
    chromium = shutil.which("chromium")
    if chromium:
        return ([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--user-agent=" + CHROME_AGENT,
                 "--user-data-dir=" + os.path.join(state, "chromium"),
                 "--dump-dom", "file://" + html_path],
                "headless Chromium renders the HTML part (desktop Chrome's agent)")
    return (["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type} "
             "%{size_download} bytes\\n", "-A", CHROME_AGENT, "-H", "Accept: " + IMAGE_ACCEPT,
             url],
            "no chromium installed: curl fetches the pixel with desktop Chrome's agent")


def accepted_at(database, token):
    """accepted_at - when the token's message was accepted, in seconds (created_ms: the
    open_min_seconds rule compares milliseconds; created_at is cut to the second)"""
    con = sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=10)
    try:
        return con.execute("SELECT coalesce(created_ms, created_at * 1000) / 1000.0"
                           " FROM tracked_messages WHERE token = ?", (token,)).fetchone()[0]
    finally:
        con.close()


def opens_of(database, token):
    """opens_of - (method, class, reason) of the token's opens, oldest first (read-only)"""
    con = sqlite3.connect("file:%s?mode=ro" % database, uri=True, timeout=10)
    try:
        return con.execute("SELECT o.method, o.class, o.reason FROM pixel_opens o"
                           " JOIN tracked_messages t ON t.id = o.tracked_id"
                           " WHERE t.token = ? ORDER BY o.id", (token,)).fetchall()
    finally:
        con.close()


def wait_opens(info, token, n):
    """wait_opens - the token's opens once there are n of them"""
    deadline = time.monotonic() + OPEN_TIMEOUT
    while True:
        rows = opens_of(info["database"], token)
        if len(rows) >= n:
            return rows
        if time.monotonic() > deadline:
            raise SystemExit("demo: %d open(s) in the database after %d s, want %d (see %s)"
                             % (len(rows), OPEN_TIMEOUT, n, info["logs"].get("tracker")))
        time.sleep(0.2)


def open_pixel(info, state, messages):
    """open_pixel - open the newsletter's pixel as a person, then as a scanner; check both"""
    user, html, url = tracked_copy(info, messages)
    token = url.rsplit("/", 1)[1][:-len(".gif")]
    html_path = os.path.join(state, "newsletter.html")
    with open(html_path, "w") as f:
        f.write(html)
    before = len(opens_of(info["database"], token))
    print("   %s's copy of the newsletter: the HTML part saved as %s" % (user, html_path))
    print("   pixel %s" % url, flush=True)

    wait = accepted_at(info["database"], token) + OPEN_MIN_SECONDS - time.time()
    if wait > 0:
        print("   (waiting %.1f s: an open sooner than open_min_seconds = %d after acceptance"
              " is a scanner's)" % (wait, OPEN_MIN_SECONDS), flush=True)
        time.sleep(wait)
    argv, what = person_fetch(state, html_path, url)
    print("\n   # %s" % what)
    rc, out, err = run(argv)
    if argv[0] != "curl":  # the DOM Chromium dumps: only whether it has the pixel
        out = "(%d bytes of DOM, %s the pixel's <img>)\n" % (
            len(out), "with" if url in out else "WITHOUT")
    show(argv, out, rc)
    if rc != 0:
        raise SystemExit("demo: %s failed (exit %d): %s" % (
            os.path.basename(argv[0]), rc, err.strip()[-500:]))

    print("\n   # a security scanner's look: HEAD, curl's own agent")
    head = ["curl", "-sS", "-I", url]
    rc, out, err = run(head)
    show(head, out.replace("\r", ""), rc)
    if rc != 0:
        raise SystemExit("demo: curl -I failed (exit %d): %s" % (rc, err.strip()))

    rows = wait_opens(info, token, before + 2)[before:]
    got = [(r[0], r[1]) for r in rows]
    if got != [("GET", "human"), ("HEAD", "scanner")]:
        raise SystemExit("demo: the opens are %s, want a GET human, then a HEAD scanner" % rows)
    print("\n   opens recorded: %s" % "; ".join("%s %s (%s)" % r for r in rows), flush=True)


def info_lines(info):
    """info_lines - the tracker's part of "demo.sh info" (none for a demo started without)"""
    if "tracker_port" not in info:
        return []
    url = "http://127.0.0.1:%d" % info["tracker_port"]
    return [
        "  tracker    postmeter-tracker on %s (pixels under %s/o/)" % (url, base_url(
            info["tracker_port"])),
        "             curl %s/healthz; curl -s %s/metrics | grep opens_total" % (url, url),
        "             opens: report opens in the closing list below",
    ]
