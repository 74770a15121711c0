/*
 * test_pixel_inject.c - the pixel engine: the insertion-point rule, the
 * base64 and quoted-printable codecs, URL checks, and pixel_inject() on
 * small messages (byte-identical pass-through, line ends, the
 * Content-Transfer-Encoding switch, UTF-16, what is never touched: signed
 * or encrypted parts beside an HTML part, inline PGP, ARC). The corpus test
 * (tests/integration/test_pixel_corpus.py) covers whole messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject.h"
#include "pixel_int.h"

#define URL "https://t.example/o/TOK.gif"
#define TAG                                                                                        \
    "<img src=\"" URL "\" width=\"1\" height=\"1\" alt=\"\" "                                      \
    "style=\"display:block;border:0;width:1px;height:1px\">"

/* insertion point: the HTML with the expected offset marked by '|' */
static const char *const insert_cases[] = {
    "<html><body>x|</body></html>",
    "<html><body>x|</BODY></HTML>",
    "<html><body>x|</Body ></html>",
    "<html><body>x|</body\n></html>",
    "<html><body></body>a|</body></html>",         /* the last one */
    "<html><p>no body end|</html>\n",              /* before </html> */
    "<html><p>x</p>|</html><p>after</p>",          /* last </html> */
    "<p>fragment</p>|\r\n\r\n",                    /* end, before trailing white space */
    "<p>fragment</p>|",                            /* end */
    "|",                                           /* empty */
    "|  \n",                                       /* only white space: start */
    "<body>x|</body><!-- </body> -->",             /* not inside a comment */
    "<body>x|</body><!-- </body>",                 /* unterminated comment runs to the end */
    "<body>x|</body><script>s='</body>'</script>", /* not inside script */
    "<body>x|</body><SCRIPT type=x>s='</body>'</SCRIPT>",
    "<body>x|</body><style>/* </body> */</style>",
    "<body><script>s='</body>'</script>x|</body>",
    "<body>x</bodyx>|</body>",          /* </bodyx> is not </body> */
    "<body>x<scripts></body>y|</body>", /* <scripts> is not <script> */
    "<body>x</body|",                   /* </body without a tag end: not a match, end of text */
};

/* test_insert_point - every case in insert_cases */
static void test_insert_point(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(insert_cases) / sizeof(insert_cases[0]); i++) {
        const char *c = insert_cases[i], *bar = strchr(c, '|');
        char html[256];
        size_t want, n;

        assert_non_null(bar);
        want = (size_t)(bar - c);
        memcpy(html, c, want);
        strcpy(html + want, bar + 1);
        n = strlen(html);
        if (pixel_html_insert_point(html, n) != want)
            fail_msg("case %zu (%s): got %zu, want %zu", i, c, pixel_html_insert_point(html, n),
                     want);
    }
}

struct b64_case {
    const char *plain;
    const char *enc;
};

static const struct b64_case b64_cases[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/* test_b64 - RFC 4648 vectors both ways, line length, strictness */
static void test_b64(void **state)
{
    struct buf b = BUF_INIT;
    char big[300];

    (void)state;
    for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
        buf_reset(&b);
        pixel_b64_encode(b64_cases[i].plain, strlen(b64_cases[i].plain), "\n", &b);
        assert_string_equal(buf_cstr(&b), b64_cases[i].enc);
        buf_reset(&b);
        assert_true(pixel_b64_decode(b64_cases[i].enc, strlen(b64_cases[i].enc), &b));
        assert_string_equal(buf_cstr(&b), b64_cases[i].plain);
    }
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    buf_reset(&b);
    pixel_b64_encode(big, sizeof(big), "\r\n", &b);
    assert_int_equal(pixel_max_line(b.data, b.len), 76);
    assert_non_null(strstr(buf_cstr(&b), "\r\n"));
    {
        struct buf d = BUF_INIT;
        assert_true(pixel_b64_decode(b.data, b.len, &d));
        assert_int_equal(d.len, sizeof(big));
        assert_memory_equal(d.data, big, sizeof(big));
        buf_free(&d);
    }
    buf_reset(&b);
    assert_false(pixel_b64_decode("Zm9vYm", 6, &b));   /* truncated */
    assert_false(pixel_b64_decode("Zm9vY", 5, &b));    /* truncated */
    assert_false(pixel_b64_decode("Zm9v!mFy", 8, &b)); /* garbage */
    assert_false(pixel_b64_decode("Zg==Zm9v", 8, &b)); /* data after padding */
    assert_false(pixel_b64_decode("Z===", 4, &b));     /* too much padding */
    buf_reset(&b);
    assert_true(pixel_b64_decode("Zm9v\r\nYmFy\r\n", 12, &b));
    assert_string_equal(buf_cstr(&b), "foobar");
    buf_free(&b);
}

struct qp_case {
    const char *enc;
    const char *plain;
};

static const struct qp_case qp_dec_cases[] = {
    {"a=3Db", "a=b"},
    {"caf=C3=A9", "caf\xc3\xa9"},
    {"soft=\nbreak", "softbreak"},
    {"soft=\r\nbreak\r\n", "softbreak\r\n"},
    {"trailing   \nspace", "trailing\nspace"},
    {"lone = sign", "lone = sign"},
    {"lower=c3=a9", "lower\xc3\xa9"},
    {"end=", "end"},
    {"bad=ZZ", "bad=ZZ"},
};

/* test_qp - decode table, encode round trips, line length, trailing space, "From " */
static void test_qp(void **state)
{
    struct buf b = BUF_INIT, d = BUF_INIT;
    char longline[3000];

    (void)state;
    for (size_t i = 0; i < sizeof(qp_dec_cases) / sizeof(qp_dec_cases[0]); i++) {
        buf_reset(&b);
        pixel_qp_decode(qp_dec_cases[i].enc, strlen(qp_dec_cases[i].enc), &b);
        if (strcmp(buf_cstr(&b), qp_dec_cases[i].plain) != 0)
            fail_msg("qp decode case %zu: got '%s'", i, buf_cstr(&b));
    }
    buf_reset(&b);
    pixel_qp_encode("a=b \nFrom x\t\n", 13, "\r\n", &b);
    assert_string_equal(buf_cstr(&b), "a=3Db=20\r\n=46rom x=09\r\n");
    buf_reset(&b);
    pixel_qp_encode("x\xff", 2, "\n", &b);
    assert_string_equal(buf_cstr(&b), "x=FF");
    /* no encoded line may start with '-' (it could become a MIME delimiter) */
    buf_reset(&b);
    pixel_qp_encode("--b1\n-a-\n", 9, "\n", &b);
    assert_string_equal(buf_cstr(&b), "=2D-b1\n=2Da-\n");

    for (size_t i = 0; i < sizeof(longline); i++)
        longline[i] = (char)(i % 97 == 0 ? '\n' : 32 + i % 100);
    buf_reset(&b);
    pixel_qp_encode(longline, sizeof(longline), "\n", &b);
    assert_true(pixel_max_line(b.data, b.len) <= 76);
    pixel_qp_decode(b.data, b.len, &d);
    assert_int_equal(d.len, sizeof(longline));
    assert_memory_equal(d.data, longline, sizeof(longline));
    buf_free(&b);
    buf_free(&d);
}

/* test_url - what pixel_url_ok() accepts */
static void test_url(void **state)
{
    (void)state;
    assert_true(pixel_url_ok(URL));
    assert_true(pixel_url_ok("https://t.example/o/a-b_c.gif?x=1&y=2"));
    assert_false(pixel_url_ok(""));
    assert_false(pixel_url_ok("https://t.example/o/a b.gif"));
    assert_false(pixel_url_ok("https://t.example/o/\"x.gif"));
    assert_false(pixel_url_ok("https://t.example/o/'x.gif"));
    assert_false(pixel_url_ok("https://t.example/o/<x>.gif"));
    assert_false(pixel_url_ok("https://t.example/o/\x7fx.gif"));
    assert_false(pixel_url_ok("https://t.example/o/\xc3\xa9.gif"));
}

struct inject_case {
    const char *in;
    enum pixel_outcome outcome;
    const char *out; /* NULL: the input, unchanged */
};

static const struct inject_case inject_cases[] = {
    {"Content-Type: text/html\n\n<body>x</body>\n", PIXEL_INJECTED,
     "Content-Type: text/html\n\n<body>x" TAG "</body>\n"},
    {"Content-Type: text/html\r\n\r\n<body>x</body>\r\n", PIXEL_INJECTED,
     "Content-Type: text/html\r\n\r\n<body>x" TAG "</body>\r\n"},
    {"Subject: s\nContent-Type: text/html\nContent-Transfer-Encoding: "
     "base64\n\nPGJvZHk+eDwvYm9keT4=\n",
     PIXEL_INJECTED, NULL /* checked below */},
    {"Subject: plain\n\nhello\n", PIXEL_NO_HTML, NULL},
    {"Subject: header only\n", PIXEL_NO_HTML, NULL},
    {"Content-Type: text/html\n", PIXEL_NO_HTML, NULL},
    {"DKIM-Signature: v=1\nContent-Type: text/html\n\n<body></body>\n", PIXEL_SKIPPED_FOREIGN_DKIM,
     NULL},
    {"Content-Type: multipart/mixed\n\n--b\n\n--b--\n", PIXEL_MALFORMED_PASSTHROUGH, NULL},
    {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<body>",
     PIXEL_MALFORMED_PASSTHROUGH, NULL},
    {"Content-Type: multipart/mixed; boundary=b\n\n--b\nnot a header\n\n--b--\n",
     PIXEL_MALFORMED_PASSTHROUGH, NULL},
    {"Content-Type: multipart/signed; boundary=b\n\n--b\nContent-Type: text/html\n\nx\n--b--\n",
     PIXEL_SKIPPED_SIGNED, NULL},
    {"Content-Type: application/pkcs7-mime; smime-type=signed-data\n\nMIIB\n", PIXEL_SKIPPED_SIGNED,
     NULL},
    {"Content-Type: application/pkcs7-mime\n\nMIIB\n", PIXEL_SKIPPED_ENCRYPTED, NULL},
    {"Content-Type: text/html\nContent-Disposition: attachment\n\n<body></body>\n", PIXEL_NO_HTML,
     NULL},
    /* a signed or encrypted part beside an HTML part anywhere: the whole
     * message is left alone (before or after the HTML, however deep) */
    {"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/html\n\n<body>h</body>\n"
     "--m\nContent-Type: multipart/signed; boundary=s\n\n--s\nContent-Type: text/html\n\n"
     "<body>s</body>\n--s\nContent-Type: application/pkcs7-signature\n\nMIIB\n--s--\n--m--\n",
     PIXEL_SKIPPED_SIGNED, NULL},
    {"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: application/pkcs7-mime; "
     "smime-type=signed-data\n\nMIIB\n--m\nContent-Type: text/html\n\n<body>h</body>\n--m--\n",
     PIXEL_SKIPPED_SIGNED, NULL},
    {"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: multipart/alternative; "
     "boundary=a\n\n--a\nContent-Type: text/html\n\n<body>h</body>\n--a--\n--m\n"
     "Content-Type: application/x-pkcs7-mime; smime-type=enveloped-data\n\nMIIB\n--m--\n",
     PIXEL_SKIPPED_ENCRYPTED, NULL},
    {"Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: "
     "text/html\n\n<body>h</body>\n"
     "--r\nContent-Type: multipart/encrypted; boundary=e\n\n--e\n\nx\n--e--\n--r--\n",
     PIXEL_SKIPPED_ENCRYPTED, NULL},
    /* inline PGP in a text part, rendered or beside the HTML part */
    {"Content-Type: text/html\n\n<body><pre>-----BEGIN PGP SIGNED MESSAGE-----\nHash: "
     "SHA256\n\nhi\n"
     "-----BEGIN PGP SIGNATURE-----\n\niQEz\n-----END PGP SIGNATURE-----\n</pre></body>\n",
     PIXEL_SKIPPED_SIGNED, NULL},
    {"Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain\n\n"
     "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhi\n--a\nContent-Type: text/html\n\n"
     "<body>hi</body>\n--a--\n",
     PIXEL_SKIPPED_SIGNED, NULL},
    {"Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: "
     "text/html\n\n<body>h</body>\n"
     "--a\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
     "=2D----BEGIN PGP MESSAGE=2D----\n\nhQEMA\n--a--\n",
     PIXEL_SKIPPED_ENCRYPTED, NULL},
    {"Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n"
     "LS0tLS1CRUdJTiBQR1AgTUVTU0FHRS0tLS0tCjxib2R5PjwvYm9keT4=\n",
     PIXEL_SKIPPED_ENCRYPTED, NULL},
    /* an attached .asc is a document of its own: the body still gets the pixel */
    {"Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/html\n\n<body>h</body>\n"
     "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.asc\n\n"
     "-----BEGIN PGP MESSAGE-----\n--m--\n",
     PIXEL_INJECTED, NULL},
    /* an ARC set already there: as a foreign DKIM signature */
    {"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=fwd.example; s=x; b=AAAA\n"
     "Content-Type: text/html\n\n<body></body>\n",
     PIXEL_SKIPPED_FOREIGN_ARC, NULL},
    {"Subject: x\narc-message-signature: i=1; a=rsa-sha256; d=fwd.example; s=x; bh=AA; b=AA\n"
     "Content-Type: text/html\n\n<body></body>\n",
     PIXEL_SKIPPED_FOREIGN_ARC, NULL},
    {"ARC-Authentication-Results: i=1; fwd.example; spf=pass\nContent-Type: text/html\n\n<body>"
     "</body>\n",
     PIXEL_INJECTED, NULL},
    {"Content-Type: message/rfc822\n\nContent-Type: text/html\n\n<body></body>\n", PIXEL_NO_HTML,
     NULL},
    {"Subject: x\nBad name: y\nContent-Type: text/html\n\n<body></body>\n",
     PIXEL_MALFORMED_PASSTHROUGH, NULL},
    {"Subject : obsolete\nContent-Type: text/html\n\n<body></body>\n", PIXEL_INJECTED, NULL},
    {"no header here\n", PIXEL_NOT_MESSAGE, NULL},
    {"", PIXEL_NOT_MESSAGE, NULL},
    {"\n\n<body></body>\n", PIXEL_NOT_MESSAGE, NULL},
    {" folded: first\n\nx\n", PIXEL_NOT_MESSAGE, NULL},
    {"Content-Type: multipart/alternative; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\n"
     "p\n--x\nContent-Type: text/html\n\n<body>h</body>\n--x--\n",
     PIXEL_INJECTED,
     "Content-Type: multipart/alternative; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\n"
     "p\n--x\nContent-Type: text/html\n\n<body>h" TAG "</body>\n--x--\n"},
};

/* test_inject_table - outcomes and exact output of small messages (every
 * wrong outcome is printed before the test fails) */
static void test_inject_table(void **state)
{
    size_t wrong = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(inject_cases) / sizeof(inject_cases[0]); i++) {
        const struct inject_case *c = &inject_cases[i];
        struct buf out = BUF_INIT;
        struct pixel_report rep;
        enum pixel_outcome o = pixel_inject(c->in, strlen(c->in), URL, &out, &rep);

        if (o != c->outcome || rep.outcome != o) {
            print_error("case %zu: %s, want %s\n", i, pixel_outcome_name(o),
                        pixel_outcome_name(c->outcome));
            wrong++;
            buf_free(&out);
            continue;
        }
        if (o == PIXEL_NOT_MESSAGE)
            assert_int_equal(out.len, 0);
        else if (c->out != NULL)
            assert_string_equal(buf_cstr(&out), c->out);
        else if (o != PIXEL_INJECTED)
            assert_string_equal(buf_cstr(&out), c->in);
        buf_free(&out);
    }
    assert_int_equal(wrong, 0);
}

/* test_inject_skip_reason - the report names inline PGP as the reason, even
 * after a part that was left alone for another one; UTF-16 text is read too */
static void test_inject_skip_reason(void **state)
{
    static const char u16[] = "-\0-\0-\0-\0-\0B\0E\0G\0I\0N\0 \0P\0G\0P\0 \0S\0I\0G\0N\0E\0D\0 "
                              "\0M\0E\0S\0S\0A\0G\0E\0-\0-\0-\0-\0-\0";
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    buf_puts(&in, "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/html; "
                  "charset=utf-32\n\nx\n--m\nContent-Type: text/plain\n\n"
                  "-----BEGIN PGP SIGNED MESSAGE-----\n--m--\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_SKIPPED_SIGNED);
    assert_string_equal(rep.reason, "inline PGP signature in a text part");
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    buf_reset(&in);
    buf_reset(&out);
    buf_puts(&in, "Content-Type: text/plain\n\n-----BEGIN PGP MESSAGE-----\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_SKIPPED_ENCRYPTED);
    assert_string_equal(rep.reason, "inline PGP message in a text part");
    buf_reset(&in);
    buf_reset(&out);
    buf_puts(&in,
             "Content-Type: text/html; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n");
    pixel_b64_encode(u16, sizeof(u16) - 1, "\n", &in);
    buf_puts(&in, "\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_SKIPPED_SIGNED);
    buf_free(&in);
    buf_free(&out);
}

/* test_inject_base64 - a base64 body decodes to the HTML with the tag */
static void test_inject_base64(void **state)
{
    const char *in = inject_cases[2].in;
    const char *body;
    struct buf out = BUF_INIT, dec = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    assert_int_equal(pixel_inject(in, strlen(in), URL, &out, &rep), PIXEL_INJECTED);
    assert_int_equal(rep.parts, 1);
    body = strstr(buf_cstr(&out), "\n\n") + 2;
    assert_memory_equal(buf_cstr(&out), in, (size_t)(body - buf_cstr(&out)));
    assert_true(pixel_b64_decode(body, strlen(body), &dec));
    assert_string_equal(buf_cstr(&dec), "<body>x" TAG "</body>");
    assert_true(pixel_max_line(out.data, out.len) <= 76);
    assert_int_equal(out.data[out.len - 1], '\n');
    buf_free(&out);
    buf_free(&dec);
}

/* test_inject_long_line - an 8bit body with a 2000-octet line becomes quoted-printable */
static void test_inject_long_line(void **state)
{
    struct buf in = BUF_INIT, out = BUF_INIT, dec = BUF_INIT;
    struct pixel_report rep;
    const char *body;

    (void)state;
    buf_puts(&in, "Subject: x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n"
                  "X-After: y\r\n\r\n<body>");
    for (int i = 0; i < 2000; i++)
        buf_putc(&in, 'a' + i % 26);
    buf_puts(&in, "</body>\r\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_INJECTED);
    assert_true(pixel_max_line(out.data, out.len) <= 76);
    assert_non_null(strstr(buf_cstr(&out), "Subject: x\r\nContent-Type: text/html\r\n"
                                           "Content-Transfer-Encoding: quoted-printable\r\n"
                                           "X-After: y\r\n\r\n"));
    body = strstr(buf_cstr(&out), "\r\n\r\n") + 4;
    pixel_qp_decode(body, strlen(body), &dec);
    assert_int_equal(dec.len, 6 + 2000 + strlen(TAG) + 7 + 2);
    assert_memory_equal(dec.data + 2006, TAG "</body>\r\n", strlen(TAG) + 9);
    for (size_t i = 0; i < out.len; i++)
        if (out.data[i] == '\n')
            assert_int_equal(out.data[i - 1], '\r');
    buf_free(&in);
    buf_free(&out);
    buf_free(&dec);
}

/*
 * test_inject_no_delimiter_in_qp - re-encoding an HTML part never makes a
 * line that is the enclosing multipart's delimiter (fuzzer findings): the
 * output injects again cleanly and has only the real delimiters
 */
static void test_inject_no_delimiter_in_qp(void **state)
{
    static const char *const cases[] = {
        /* quoted-printable "=2D-b1" decodes to the boundary line */
        "Content-Type: multipart/alternative; boundary=\"b1\"\n\n--b1\n"
        "Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n"
        "<p>x</p>\n=2D-b1\n</body>\n--b1--\n",
        /* a 7bit line that soft breaks put "--b1" at the start of (filled in below) */
        NULL,
    };
    struct buf in = BUF_INIT, out = BUF_INIT, again = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&in);
        if (cases[i]) {
            buf_puts(&in, cases[i]);
        } else {
            buf_puts(&in, "Content-Type: multipart/alternative; boundary=\"b1\"\n\n--b1\n"
                          "Content-Type: text/html\n\n<p></p>");
            for (int k = 0; k < 14 * 75 - 7; k++)
                buf_putc(&in, 'x');
            buf_puts(&in, "--b1</body>\n--b1--\n");
        }
        buf_reset(&out);
        buf_reset(&again);
        assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_INJECTED);
        for (const char *p = buf_cstr(&out); (p = strstr(p, "\n--b1")) != NULL; p++)
            if (!(strncmp(p, "\n--b1\n", 6) == 0 && p == strstr(buf_cstr(&out), "\n--b1")) &&
                strncmp(p, "\n--b1--\n", 8) != 0)
                fail_msg("case %zu: a delimiter inside the part: %s", i, buf_cstr(&out));
        assert_int_equal(pixel_inject(out.data, out.len, URL, &again, &rep), PIXEL_INJECTED);
    }
    buf_free(&in);
    buf_free(&out);
    buf_free(&again);
}

/* test_inject_empty_encoded_html - an HTML part that decodes to nothing still gets the tag */
static void test_inject_empty_encoded_html(void **state)
{
    static const char *const ctes[] = {"quoted-printable", "base64"};
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&in);
        buf_reset(&out);
        buf_printf(&in, "Content-Type: text/html\nContent-Transfer-Encoding: %s\n\n", ctes[i]);
        assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_INJECTED);
        assert_int_equal(rep.parts, 1);
    }
    buf_free(&in);
    buf_free(&out);
}

/* test_inject_bare_cr_run - bare CRs after </body> never make a line over 998 octets */
static void test_inject_bare_cr_run(void **state)
{
    struct buf in = BUF_INIT, out = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    buf_puts(&in, "Subject: x\nContent-Type: text/html\n\n<p>a</p></body>");
    for (int i = 0; i < 984; i++)
        buf_putc(&in, '\r');
    buf_puts(&in, "\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_INJECTED);
    assert_true(pixel_max_line(out.data, out.len) <= 998);
    buf_free(&in);
    buf_free(&out);
}

/* test_inject_utf16 - the tag goes in as UTF-16 in the part's byte order */
static void test_inject_utf16(void **state)
{
    static const char le[] = "<\0b\0>\0x\0<\0/\0b\0o\0d\0y\0>\0";
    struct buf in = BUF_INIT, out = BUF_INIT, dec = BUF_INIT, want = BUF_INIT;
    struct pixel_report rep;
    const char *body, *tag = TAG;

    (void)state;
    buf_puts(&in,
             "Content-Type: text/html; charset=utf-16le\nContent-Transfer-Encoding: base64\n\n");
    pixel_b64_encode(le, sizeof(le) - 1, "\n", &in);
    buf_puts(&in, "\n");
    assert_int_equal(pixel_inject(in.data, in.len, URL, &out, &rep), PIXEL_INJECTED);
    body = strstr(buf_cstr(&out), "\n\n") + 2;
    assert_true(pixel_b64_decode(body, strlen(body), &dec));
    buf_add(&want, le, 8);
    for (size_t i = 0; i < strlen(tag); i++) {
        buf_putc(&want, tag[i]);
        buf_putc(&want, 0);
    }
    buf_add(&want, le + 8, sizeof(le) - 1 - 8);
    assert_int_equal(dec.len, want.len);
    assert_memory_equal(dec.data, want.data, want.len);
    buf_free(&in);
    buf_free(&out);
    buf_free(&dec);
    buf_free(&want);
}

/* test_bad_url - no output, BAD_URL */
static void test_bad_url(void **state)
{
    struct buf out = BUF_INIT;
    struct pixel_report rep;

    (void)state;
    assert_int_equal(pixel_inject("Subject: x\n\n", 12, "http://x/\"", &out, &rep), PIXEL_BAD_URL);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_point),
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_qp),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_inject_table),
        cmocka_unit_test(test_inject_skip_reason),
        cmocka_unit_test(test_inject_base64),
        cmocka_unit_test(test_inject_long_line),
        cmocka_unit_test(test_inject_utf16),
        cmocka_unit_test(test_inject_no_delimiter_in_qp),
        cmocka_unit_test(test_inject_bare_cr_run),
        cmocka_unit_test(test_inject_empty_encoded_html),
        cmocka_unit_test(test_bad_url),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    pixel_shutdown();
    return rc;
}
