#!/usr/bin/python3
"""gen.py - write the pixel-injection corpus (tests/data/pixel/*.eml) and
expect.txt (file, outcome, number of HTML parts injected).

Run it from anywhere: python3 tests/data/pixel/gen.py. The output is
deterministic and checked in; tests/integration/test_pixel_corpus.py runs
postmeter-pixelfilter over every file and checks the result.
"""

import base64
import os
import quopri

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []  # (name, bytes, outcome, parts)

HDR = ("From: Alice Sender <alice@example.test>\n"
       "To: bob@example.net\n"
       "Subject: {subj}\n"
       "Date: Tue, 24 Nov 2026 10:00:00 +0000\n"
       "Message-ID: <{mid}@example.test>\n"
       "MIME-Version: 1.0\n")

HTML = ("<!DOCTYPE html>\n<html>\n<head><meta charset=\"{cs}\"><title>News</title></head>\n"
        "<body>\n<p>{text}</p>\n<p>Second paragraph with a "
        "<a href=\"https://example.test/x?a=1&b=2\">"
        "link</a>.</p>\n</body>\n</html>\n")


def hdr(name, **extra):
    h = HDR.format(subj="pixel corpus: " + name, mid=name)
    for k, v in extra.items():
        h += k.replace("_", "-") + ": " + v + "\n"
    return h


def b64(data):
    s = base64.b64encode(data).decode()
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def qp(data):
    return quopri.encodestring(data).decode("ascii")


def add(name, text, outcome, parts=0, crlf=False, raw=False):
    data = text if raw else text.encode("utf-8", "surrogateescape")
    if crlf:
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    CASES.append((name + ".eml", data, outcome, parts))


def html(text="Hello there", cs="utf-8"):
    return HTML.format(text=text, cs=cs)


def single(name, body, cte, ctype="text/html; charset=utf-8", outcome="INJECTED", parts=1,
           crlf=False, extra=None):
    h = hdr(name) + "Content-Type: " + ctype + "\n"
    if cte:
        h += "Content-Transfer-Encoding: " + cte + "\n"
    if extra:
        h += extra
    add(name, h + "\n" + body, outcome, parts, crlf)


# --- one text/html part, each encoding and line end
single("01-html-7bit-lf", html(), "7bit")
single("02-html-7bit-crlf", html(), "7bit", crlf=True)
single("03-html-8bit-utf8", html("Grüße aus Köln — ünïcødé ✓"), "8bit")
single("04-html-qp-utf8", qp(html("Grüße " * 40).encode()), "quoted-printable")
single("05-html-b64-utf8", b64(html("Ça va? ✓ " * 30).encode()), "base64")
single("06-html-qp-latin1-crlf",
       qp(html("Café crème à la façon de Noël", "iso-8859-1").encode("latin-1")),
       "quoted-printable", "text/html; charset=ISO-8859-1", crlf=True)
single("07-html-b64-shiftjis",
       b64(html("こんにちは、世界。ソース表示", "shift_jis").encode("shift_jis")),
       "base64", "text/html; charset=Shift_JIS")
add("08-html-8bit-shiftjis",
    (hdr("08-html-8bit-shiftjis") + "Content-Type: text/html; charset=shift_jis\n"
     "Content-Transfer-Encoding: 8bit\n\n").encode()
    + html("表示ソフト予定", "shift_jis").encode("shift_jis"), "INJECTED", 1, raw=True)
single("09-html-b64-utf16le-bom", b64(b"\xff\xfe" + html("UTF-16 ✓ LE").encode("utf-16-le")),
       "base64", "text/html; charset=utf-16")
single("10-html-b64-utf16be", b64(html("UTF-16 ✓ BE").encode("utf-16-be")), "base64",
       "text/html; charset=UTF-16BE")
single("11-html-b64-utf32", b64(html("UTF-32").encode("utf-32")), "base64",
       "text/html; charset=utf-32", outcome="NO_HTML", parts=0)
single("44-html-qp-utf16-left-alone", qp(html("UTF-16 in QP").encode("utf-16")),
       "quoted-printable", "text/html; charset=utf-16", outcome="NO_HTML", parts=0)
single("12-html-no-body-tag", "<html><head></head><p>no body end tag</p>\n</html>\n", "7bit")
single("13-html-fragment", "<p>Just a fragment</p>\n<p>no html, no body</p>\n\n", "7bit")
single("14-html-uppercase", "<HTML><BODY BGCOLOR=white>\n<P>Shouting</P>\n</BODY>\n</HTML>\n",
       "7bit")
single("15-html-body-in-comment",
       "<html><body><p>x</p>\n</body><!-- a template left </body> here --></html>\n", "7bit")
single("16-html-body-in-script",
       "<html><body><p>x</p><script>var s = \"</body></html>\";</script>\n</body>\n"
       "<script type=\"text/javascript\">document.write('</body>')</script></html>\n", "7bit")
long_line = "<p>" + ("word " * 2000) + "</p>"
single("17-html-8bit-10000-char-line", "<html><body>" + long_line + "</body></html>\n", "8bit")
single("18-html-no-cte-10000-char-line-crlf", "<html><body>" + long_line + "</body></html>\n",
       None, crlf=True)
single("19-html-b64-10000-char-line", b64(("<html><body>" + long_line + "</body></html>").encode()),
       "base64")
single("20-html-inline-disposition", html(), "7bit",
       extra="Content-Disposition: inline; filename=\"news.html\"\n")

# --- multipart
TEXT = "Hello there\n\nSecond paragraph with a link: https://example.test/x\n"


def mp(subtype, boundary, parts, preamble="This is a multi-part message in MIME format.\n",
       epilogue="", params=""):
    s = "Content-Type: multipart/" + subtype + "; boundary=\"" + boundary + "\"" + params + "\n\n"
    s += preamble
    for p in parts:
        s += "--" + boundary + "\n" + p + "\n"
    s += "--" + boundary + "--\n" + epilogue
    return s


def part(ctype, body, cte=None, extra=""):
    s = "Content-Type: " + ctype + "\n"
    if cte:
        s += "Content-Transfer-Encoding: " + cte + "\n"
    return s + extra + "\n" + body


alt = mp("alternative", "=_alt_1", [part("text/plain; charset=utf-8", TEXT, "7bit"),
                                     part("text/html; charset=utf-8",
                                          qp(html("Grüße").encode()), "quoted-printable")])
add("21-alternative-lf", hdr("21-alternative-lf") + alt, "INJECTED", 1)
add("22-alternative-crlf", hdr("22-alternative-crlf") + alt, "INJECTED", 1, crlf=True)

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
                       "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
rel_html = html("with an inline image <img src=\"cid:logo@example.test\">")
related = mp("related", "rel-b", [
    part("text/html; charset=utf-8", b64(rel_html.encode()), "base64"),
    part("image/png", b64(PNG), "base64",
         "Content-ID: <logo@example.test>\nContent-Disposition: inline; filename=\"logo.png\"\n")],
    preamble="", params="; type=\"text/html\"")
alt2 = mp("alternative", "alt-b",
          [part("text/plain; charset=utf-8", qp(TEXT.encode()), "quoted-printable"),
           related.rstrip("\n")], preamble="")
mixed = mp("mixed", "mix-b", [alt2.rstrip("\n"),
                              part("application/pdf; name=\"a.pdf\"",
                                   b64(b"%PDF-1.4\n" + bytes(range(256))), "base64",
                                   "Content-Disposition: attachment; filename=\"a.pdf\"\n")])
add("23-mixed-alternative-related-crlf", hdr("23-mixed-alternative-related-crlf") + mixed,
    "INJECTED", 1, crlf=True)
add("24-mixed-alternative-related-lf", hdr("24-mixed-alternative-related-lf") + mixed,
    "INJECTED", 1)

rel_start = mp("related", "rel-s", [
    part("image/png", b64(PNG), "base64", "Content-ID: <img1@example.test>\n"),
    part("text/html; charset=utf-8", html("root is second"), "7bit",
         "Content-ID: <root@example.test>\n")],
    params="; type=\"text/html\"; start=\"<root@example.test>\"")
add("25-related-start-param", hdr("25-related-start-param") + rel_start, "INJECTED", 1)

two = mp("mixed", "two-b", [part("text/html; charset=utf-8", html("first"), "7bit"),
                            part("image/png", b64(PNG), "base64",
                                 "Content-Disposition: inline\n"),
                            part("text/html; charset=utf-8", html("second"), "8bit")])
add("26-mixed-two-html", hdr("26-mixed-two-html") + two, "INJECTED", 2)

attach = mp("mixed", "att-b", [part("text/plain; charset=utf-8", TEXT, "7bit"),
                               part("text/html; charset=utf-8; name=\"page.html\"", html(), "7bit",
                                    "Content-Disposition: attachment; filename=\"page.html\"\n")])
add("27-html-attachment", hdr("27-html-attachment") + attach, "NO_HTML", 0)

inner = hdr("inner") + "Content-Type: text/html; charset=utf-8\n\n" + html("inner forwarded")
fwd = mp("mixed", "fwd-b", [part("text/html; charset=utf-8", html("see below"), "7bit"),
                            part("message/rfc822", inner, None,
                                 "Content-Disposition: inline\n")])
add("28-forward-rfc822-html", hdr("28-forward-rfc822-html") + fwd, "INJECTED", 1)
fwd2 = mp("mixed", "fwd-c", [part("text/plain; charset=utf-8", TEXT, "7bit"),
                             part("message/rfc822", inner, None,
                                  "Content-Disposition: attachment; filename=\"fw.eml\"\n")])
add("29-forward-rfc822-plain-outer", hdr("29-forward-rfc822-plain-outer") + fwd2, "NO_HTML", 0,
    crlf=True)

ICS = ("BEGIN:VCALENDAR\nMETHOD:REQUEST\nPRODID:-//example//corpus//EN\nVERSION:2.0\n"
       "BEGIN:VEVENT\nUID:corpus-1@example.test\nDTSTART:20261201T100000Z\n"
       "DTEND:20261201T110000Z\nSUMMARY:Planning\nORGANIZER:mailto:alice@example.test\n"
       "ATTENDEE;RSVP=TRUE:mailto:bob@example.net\nEND:VEVENT\nEND:VCALENDAR\n")
cal = mp("mixed", "cal-m", [mp("alternative", "cal-a", [
    part("text/plain; charset=utf-8", "You are invited.\n", "7bit"),
    part("text/html; charset=utf-8", qp(html("You are invited.").encode()), "quoted-printable"),
    part("text/calendar; charset=utf-8; method=REQUEST", ICS, "7bit")], preamble="").rstrip("\n"),
    part("application/ics; name=\"invite.ics\"", b64(ICS.encode()), "base64",
         "Content-Disposition: attachment; filename=\"invite.ics\"\n")])
add("30-calendar-invite-crlf", hdr("30-calendar-invite-crlf") + cal, "INJECTED", 1, crlf=True)

# --- never touched
smime = mp("signed", "sig-b", [part("text/html; charset=utf-8", html("signed"), "7bit"),
                               part("application/pkcs7-signature; name=smime.p7s",
                                    b64(bytes(range(200))), "base64",
                                    "Content-Disposition: attachment; filename=smime.p7s\n")],
           params="; protocol=\"application/pkcs7-signature\"; micalg=sha-256")
add("31-smime-signed", hdr("31-smime-signed") + smime, "SKIPPED_SIGNED", 0, crlf=True)
pgp = mp("signed", "pgp-b", [part("text/html; charset=utf-8", qp(html("pgp signed").encode()),
                             "quoted-printable"),
                             part("application/pgp-signature; name=signature.asc",
                                  "-----BEGIN PGP SIGNATURE-----\n\niQEz\n=abcd\n"
                                  "-----END PGP SIGNATURE-----\n")],
         params="; protocol=\"application/pgp-signature\"; micalg=pgp-sha256")
add("32-pgp-mime-signed", hdr("32-pgp-mime-signed") + pgp, "SKIPPED_SIGNED", 0)
pgpe = mp("encrypted", "enc-b", [part("application/pgp-encrypted", "Version: 1\n"),
                                 part("application/octet-stream; name=encrypted.asc",
                                      "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n"
                                      "-----END PGP MESSAGE-----\n")],
          params="; protocol=\"application/pgp-encrypted\"")
add("33-pgp-mime-encrypted", hdr("33-pgp-mime-encrypted") + pgpe, "SKIPPED_ENCRYPTED", 0)
add("34-smime-enveloped",
    hdr("34-smime-enveloped") + "Content-Type: application/pkcs7-mime; smime-type=enveloped-data;"
    " name=smime.p7m\nContent-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=smime.p7m\n\n" + b64(bytes(range(256))),
    "SKIPPED_ENCRYPTED", 0)
nested_sig = mp("mixed", "ns-b", [part("text/html; charset=utf-8", html("outer"), "7bit"),
                                  smime.rstrip("\n")])
add("35-signed-inside-mixed", hdr("35-signed-inside-mixed") + nested_sig, "SKIPPED_SIGNED", 0)
add("36-dkim-signed",
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=sel;\n"
    " h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\n"
    + hdr("36-dkim-signed") + "Content-Type: text/html; charset=utf-8\n\n" + html(),
    "SKIPPED_FOREIGN_DKIM", 0)
# inline PGP (clearsigned or armored text in a text part) and an ARC set break a
# signature too; the whole message is left alone
CLEARSIGN = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nMeet at noon.\n"
             "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n"
             "-----END PGP SIGNATURE-----\n")
single("45-inline-pgp-signed-html", "<html><body><pre>" + CLEARSIGN + "</pre></body></html>\n",
       "7bit", outcome="SKIPPED_SIGNED", parts=0)
add("46-inline-pgp-signed-alternative", hdr("46-inline-pgp-signed-alternative") + mp(
    "alternative", "ip-b", [part("text/plain; charset=us-ascii", CLEARSIGN, "7bit"),
                            part("text/html; charset=utf-8", qp(html("Meet at noon.").encode()),
                                 "quoted-printable")]).rstrip("\n") + "\n",
    "SKIPPED_SIGNED", 0, crlf=True)
add("47-inline-pgp-encrypted-plain-beside-html", hdr("47-inline-pgp-encrypted-plain-beside-html")
    + mp("mixed", "ie-b", [part("text/html; charset=utf-8", html("see below"), "7bit"),
                           part("text/plain", "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n"
                                "-----END PGP MESSAGE-----\n", "7bit")]),
    "SKIPPED_ENCRYPTED", 0)
add("48-arc-sealed",
    "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=fwd.example; s=arc; t=1790000000; b=AAAA\n"
    "ARC-Message-Signature: i=1; a=rsa-sha256; c=relaxed/relaxed; d=fwd.example; s=arc;\n"
    " h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\n"
    "ARC-Authentication-Results: i=1; fwd.example; spf=pass smtp.mailfrom=example.test\n"
    + hdr("48-arc-sealed") + "Content-Type: text/html; charset=utf-8\n\n" + html(),
    "SKIPPED_FOREIGN_ARC", 0)

# --- malformed: passed on byte for byte
add("37-malformed-missing-boundary",
    hdr("37-malformed-missing-boundary") + "Content-Type: multipart/alternative\n\n"
    "--x\nContent-Type: text/html\n\n<html><body>x</body></html>\n--x--\n",
    "MALFORMED_PASSTHROUGH", 0)
trunc = b64(html("truncated " * 50).encode())
trunc = trunc[:len(trunc) // 2 - 3]
add("38-malformed-truncated-base64",
    hdr("38-malformed-truncated-base64") + mp("alternative", "tr-b", [
        part("text/plain", TEXT, "7bit"),
        part("text/html; charset=utf-8", trunc, "base64")]),
    "MALFORMED_PASSTHROUGH", 0)
add("39-malformed-no-closing-delimiter",
    hdr("39-malformed-no-closing-delimiter") + "Content-Type: multipart/alternative; boundary=q\n\n"
    "--q\nContent-Type: text/plain\n\nplain\n--q\nContent-Type: text/html\n\n"
    "<html><body>cut off", "MALFORMED_PASSTHROUGH", 0)

# --- no HTML at all
add("40-plain-text-only", hdr("40-plain-text-only") + "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\nJust text, naïvely.\n", "NO_HTML", 0)
add("41-no-content-type", hdr("41-no-content-type") + "\nNo Content-Type at all.\n", "NO_HTML", 0,
    crlf=True)
add("42-not-a-message", "this is not a mail message\nat all\n", "NOT_MESSAGE", 0)

# preamble, epilogue, transport padding after the delimiters, empty lines before delimiters
pad = ("Content-Type: multipart/alternative; boundary=pad\n\npreamble\n\n--pad  \n"
       "Content-Type: text/plain\n\nplain\n\n--pad\t\nContent-Type: text/html; charset=us-ascii\n"
       "Content-Transfer-Encoding: quoted-printable\n\n"
       "<html><body>padded=\n body</body></html>\n\n\n"
       "--pad-- \nepilogue\n")
add("43-transport-padding-crlf", hdr("43-transport-padding-crlf") + pad, "INJECTED", 1, crlf=True)


def main():
    for f in os.listdir(HERE):
        if f.endswith(".eml"):
            os.unlink(os.path.join(HERE, f))
    with open(os.path.join(HERE, "expect.txt"), "w") as e:
        e.write("# file outcome html-parts-injected (written by gen.py)\n")
        for name, data, outcome, parts in sorted(CASES):
            with open(os.path.join(HERE, name), "wb") as f:
                f.write(data)
            e.write("%s %s %d\n" % (name, outcome, parts))


if __name__ == "__main__":
    main()
