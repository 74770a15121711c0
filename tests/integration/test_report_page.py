#!/usr/bin/python3
"""test_report_page.py - the page of `postmeter report summary --format
html` (and `report opens --format html`) in a real browser.

A ledger of one week is built here with the real schema (schema/*.sql in
order) and fixed rows: mail in and out every day but one, SPF/DKIM/DMARC
results, an outbound message reinjected as two copies (counted once), a
From domain with markup and a control character in it, tracked rows of
both modes with opens of every class. The numbers each chart must show
are worked out here from those rows, independently of postmeter.

Checks:
  - the page is well-formed XML (Python's parser), has no script, no
    event attribute, no src/href and no URL but the two namespaces;
    the hostile domain appears only escaped;
  - the charts: four <svg> elements, and per chart as many bars (or
    line points) as there are non-zero values;
  - headless Chromium (--dump-dom) on a copy of the page with a
    measuring script appended (the page itself has none): each chart
    laid out with a non-zero size, each bar drawn with a non-zero size;
  - a Chromium screenshot (PNG decoded here with zlib) is not blank and
    shows the colours of the chart series (inbound, outbound, human
    opens, scanner opens, the first-open histogram);
  - report opens --format html: well-formed, one row per group.
Needs POSTMETER_BUILD_DIR and POSTMETER_SOURCE_DIR (set by ctest), and
chromium.
"""
import glob
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

BUILD = os.environ.get("POSTMETER_BUILD_DIR", "build")
SOURCE = os.environ.get("POSTMETER_SOURCE_DIR",
                        os.path.dirname(os.path.dirname(os.path.dirname(
                            os.path.abspath(__file__)))))
PROGRAM = os.path.join(BUILD, "cli", "postmeter")
SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"
T0 = 1796083200  # 2026-12-01T00:00:00Z
DAY = 86400
DAYS = 7
HOSTILE = "evil<script>alert(1)</script>\x01.example"
IN_PER_DAY = [3, 5, 0, 4, 2, 6, 1]
OUT_PER_DAY = [1, 0, 2, 3, 0, 1, 2]
# tracked rows: (day, mode, opens as (class, seconds after created_at))
TRACKED = [
    (0, "milter", [("human", 120), ("scanner", 1)]),
    (0, "pipe", [("proxy", 4000)]),
    (1, "milter", [("prefetch", 5)]),
    (2, "milter", []),
    (3, "pipe", [("human", 100000), ("human", 100500)]),
    (5, "milter", [("scanner", 3), ("human", 20000)]),
    (6, "pipe", [("proxy", 900)]),
]
TTFO_LIMITS = [300, 1800, 7200, 21600, 86400, 3 * 86400, 7 * 86400, float("inf")]
COLOURS = {"inbound": (0x3b, 0x6e, 0xa5), "outbound": (0xe0, 0x8a, 0x2c),
           "human": (0x2e, 0x8b, 0x57), "scanner": (0xb2, 0x22, 0x22),
           "histogram": (0x6a, 0x5a, 0xcd)}
failures = []


def check(cond, what, detail=""):
    if not cond:
        failures.append("%s %s" % (what, detail))
        print("FAIL", what, detail)
    else:
        print("ok  ", what)


def build_db(path):
    """build_db - the ledger; returns what each chart must show"""
    db = sqlite3.connect(path)
    for version, sql in enumerate(sorted(glob.glob(os.path.join(SOURCE, "schema",
                                                                "[0-9]*.sql"))), start=1):
        with open(sql, encoding="utf-8") as f:
            db.executescript(f.read())
        db.execute("PRAGMA user_version = %d" % version)
    uid = [0]

    def message(at, direction, mid, sender, action, auth):
        uid[0] += 1
        cur = db.execute(
            "INSERT INTO messages (uid, queue_id, message_id, direction, mail_from, header_from,"
            " action, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("%032x" % uid[0], "Q%d" % uid[0], mid, direction, sender, sender, action, at))
        for pos, (method, result, identity) in enumerate(auth):
            db.execute("INSERT INTO message_auth (message_id, position, method, result, identity)"
                       " VALUES (?, ?, ?, ?, ?)", (cur.lastrowid, pos, method, result, identity))

    want = {"mail_bars": 0, "auth_points": 0, "opens_bars": 0, "ttfo_bars": 0, "rows": 0,
            "messages": 0}
    for d in range(DAYS):
        for k in range(IN_PER_DAY[d]):
            dom = HOSTILE if k == 1 else "ok.example"
            auth = [("spf", "pass" if k % 2 == 0 else "fail", dom),
                    ("dkim", "pass" if k % 3 else "fail", dom),
                    ("dmarc", "fail" if k == 1 else "pass", dom)]
            message(T0 + d * DAY + 600 * (k + 1), "inbound", "<i%d.%d@x>" % (d, k),
                    "a@" + dom, "reject" if k == 1 else "accept", auth)
        for k in range(OUT_PER_DAY[d]):
            message(T0 + d * DAY + 700 * (k + 1), "outbound", "<o%d.%d@x>" % (d, k),
                    "me@local.test", "accept", [("dkim-sign", "signed", "local.test")])
        want["mail_bars"] += (IN_PER_DAY[d] > 0) + (OUT_PER_DAY[d] > 0)
        want["auth_points"] += 3 if IN_PER_DAY[d] else 0
    # a second copy of day 2's first outbound message: one more row, no more messages
    message(T0 + 2 * DAY + 800, "outbound", "<o2.0@x>", "me@local.test", "accept", [])
    want["rows"] = sum(IN_PER_DAY) + sum(OUT_PER_DAY) + 1
    want["messages"] = sum(IN_PER_DAY) + sum(OUT_PER_DAY)
    per_day_class = set()
    buckets = set()
    for n, (d, mode, opens) in enumerate(TRACKED):
        created = T0 + d * DAY + 3600
        cur = db.execute(
            "INSERT INTO tracked_messages (token, queue_id, mail_from, header_from, subject, mode,"
            " outcome, created_at) VALUES (?, ?, 'me@local.test', 'me@local.test', ?, ?,"
            " 'injected', ?)", ("tok%025d" % n, "T%d" % n, "Subject \xe9 <%d>" % n, mode, created))
        db.execute("INSERT INTO tracked_recipients VALUES (?, 0, ?)",
                   (cur.lastrowid, "r%d@remote.test" % n))
        first_human = None
        for k, (cls, after) in enumerate(opens):
            db.execute("INSERT INTO pixel_opens (uid, tracked_id, opened_at, method, class)"
                       " VALUES (?, ?, ?, 'GET', ?)",
                       ("o%d.%d" % (n, k), cur.lastrowid, created + after, cls))
            if (created + after) < T0 + DAYS * DAY:
                per_day_class.add(((created + after - T0) // DAY, cls))
            if cls in ("human", "proxy") and (first_human is None or after < first_human):
                first_human = after
        if first_human is not None:
            buckets.add(next(i for i, lim in enumerate(TTFO_LIMITS) if first_human < lim))
    want["opens_bars"] = len(per_day_class)
    want["ttfo_bars"] = len(buckets)
    want["groups_by_day"] = len({(d, mode) for d, mode, _ in TRACKED})
    db.commit()
    db.close()
    return want


def run(conf, args):
    env = {"PATH": "/usr/bin:/bin", "TZ": "UTC", "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}
    p = subprocess.run([PROGRAM, "-c", conf, *args], env=env, capture_output=True, timeout=60)
    check(p.returncode == 0, "postmeter %s exits 0" % " ".join(args), p.stderr.decode()[-500:])
    return p.stdout


def check_page(page, want):
    """the page as XML: structure, escaping, charts"""
    text = page.decode("utf-8")
    root = ET.fromstring(page)  # raises on a page that is not well-formed
    check(root.tag == XHTML + "html", "the root is <html>")
    check("<script" not in text.lower(), "no script element")
    check(re.search(r"\son[a-z]+\s*=", text) is None, "no event attribute")
    check(re.search(r"\s(src|href)\s*=", text) is None, "no src or href")
    urls = set(re.findall(r"[a-z]+://[^\s\"<]*", text))
    check(urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"},
          "no URL but the namespaces", urls)
    check("evil&lt;script&gt;alert(1)&lt;/script&gt;?.example" in text,
          "the hostile domain is escaped, its control character replaced")
    svgs = root.findall(".//" + SVG + "svg")
    check(len(svgs) == 4, "four charts", len(svgs))
    by_id = {s.get("id"): s for s in svgs}

    def bars(chart):
        return [r for r in by_id[chart].iter(SVG + "rect") if "bar" in r.get("class", "").split()]

    check(len(bars("chart-mail")) == want["mail_bars"], "mail chart bars",
          (len(bars("chart-mail")), want["mail_bars"]))
    check(len(list(by_id["chart-auth"].iter(SVG + "polyline"))) == 3, "three auth lines")
    check(len(list(by_id["chart-auth"].iter(SVG + "circle"))) == want["auth_points"],
          "auth chart points", want["auth_points"])
    check(len(bars("chart-opens")) == want["opens_bars"], "opens chart bars",
          (len(bars("chart-opens")), want["opens_bars"]))
    check(len(bars("chart-ttfo")) == want["ttfo_bars"], "first-open histogram bars",
          (len(bars("chart-ttfo")), want["ttfo_bars"]))
    for s in svgs:
        for r in s.iter(SVG + "rect"):
            check(float(r.get("width")) > 0 and float(r.get("height")) > 0,
                  "%s: a rect of positive size" % s.get("id"))
            break
    check("%d ledger rows = %d messages + 1 copies" % (want["rows"], want["messages"]) in text,
          "the totals line counts the reinjected copy once")


MEASURE = ("<pre id=\"measure\"></pre><script>var out=[];"
           "document.querySelectorAll('svg').forEach(function(s){"
           "var r=s.getBoundingClientRect(),bars=s.querySelectorAll('rect.bar'),nz=0;"
           "bars.forEach(function(b){var q=b.getBoundingClientRect();"
           "if(q.width>0&&q.height>0)nz++;});"
           "out.push([s.id,Math.round(r.width),Math.round(r.height),bars.length,nz].join(' '));});"
           "document.getElementById('measure').textContent=out.join(';');</script>")


def chromium(tmp, args):
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + os.path.join(tmp, "chromium"), *args]
    p = subprocess.run(argv, capture_output=True, timeout=120)
    check(p.returncode == 0, "chromium %s" % args[0], p.stderr.decode(errors="replace")[-800:])
    return p.stdout


def png_pixels(path):
    """png_pixels - the set of distinct RGB colours of an 8-bit RGB/RGBA PNG, and its size"""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours = set()
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xff
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        for x in range(0, stride, bpp):
            colours.add(bytes(line[x:x + 3]))
        prev = line
    return colours, width, height


def main():
    check(os.access(PROGRAM, os.X_OK), "the postmeter program is built", PROGRAM)
    check(shutil.which("chromium") is not None, "chromium is installed (debian-packages.txt)")
    if failures:
        return 1
    tmp = tempfile.mkdtemp(prefix="report_page.", dir=BUILD)  # root-only path: no privsep
    try:
        db = os.path.join(tmp, "ledger.db")
        want = build_db(db)
        conf = os.path.join(tmp, "postmeter.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("database = %s\n" % db)
        span = ["--since", "2026-12-01T00:00Z", "--until", "2026-12-08T00:00Z"]
        page = run(conf, ["report", "summary", *span, "--format", "html"])
        check_page(page, want)
        html = os.path.join(tmp, "summary.html")
        with open(html, "wb") as f:
            f.write(page)
        measured = os.path.join(tmp, "measured.html")
        with open(measured, "wb") as f:
            f.write(page.replace(b"</body>", MEASURE.encode() + b"</body>"))
        dom = chromium(tmp, ["--dump-dom", "file://" + measured]).decode()
        m = re.search(r'<pre id="measure">([^<]*)</pre>', dom)
        check(m is not None, "chromium ran the measuring script")
        charts = [c.split() for c in (m.group(1).split(";") if m else [])]
        check(len(charts) == 4, "chromium lays out four charts", charts)
        for cid, w, h, nbars, drawn in charts:
            check(int(w) > 0 and int(h) > 0, "%s: laid out %sx%s" % (cid, w, h))
            check(nbars == drawn, "%s: every bar drawn with a size (%s of %s)" %
                  (cid, drawn, nbars))
        shot = os.path.join(tmp, "summary.png")
        chromium(tmp, ["--screenshot=" + shot, "--window-size=900,2600", "file://" + html])
        colours, w, h = png_pixels(shot)
        check(w == 900 and h == 2600, "screenshot size", (w, h))
        check(len(colours) > 20, "the screenshot is not blank", len(colours))
        for name, rgb in COLOURS.items():
            check(bytes(rgb) in colours, "the screenshot shows the %s colour" % name)
        opens = run(conf, ["report", "opens", *span, "--by", "day", "--format", "html"])
        root = ET.fromstring(opens)
        rows = root.findall(".//" + XHTML + "table/" + XHTML + "tr")
        check(len(rows) == 1 + want["groups_by_day"], "report opens: a row per day and mode",
              (len(rows), want["groups_by_day"]))
        check(b"<script" not in opens.lower(), "report opens: no script")
    finally:
        shutil.rmtree(tmp)
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
