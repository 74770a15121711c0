/*
 * test_dkim_tags.c - RFC 6376 3.2 tag-lists and base64 (lib/dkim_tags.c):
 * valid lists with FWS and CRLF folds, empty tag-specs, values kept
 * without white space, every way a list is refused (duplicates, bad
 * names, no "=", bytes outside VALCHAR, too many tags), and base64 with
 * the RFC 4648 vectors, left-out padding and every malformed shape.
 *
 * Every input is parsed from a heap copy without a NUL after it, so a
 * read past len is an AddressSanitizer report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_tags.h"
#include "util.h"

/* parse_exact - dkim_tags_parse() of s[0..len) from a copy of exactly len bytes */
static bool parse_exact(struct dkim_tags *tl, const char *s, size_t len)
{
    char *copy = xmalloc(len ? len : 1);
    bool ok;

    memcpy(copy, s, len);
    ok = dkim_tags_parse(tl, copy, len);
    free(copy);
    return ok;
}

/* check_tags - tl holds exactly the "name=value|name=value" pairs of want, in order */
static void check_tags(const struct dkim_tags *tl, const char *want)
{
    char *copy = xstrdup(want), *save = NULL;
    size_t n = 0;

    for (char *p = strtok_r(copy, "|", &save); p; p = strtok_r(NULL, "|", &save), n++) {
        char *eq = strchr(p, '=');

        assert_non_null(eq);
        *eq = '\0';
        assert_true(n < tl->n);
        assert_string_equal(tl->text.data + tl->t[n].name, p);
        assert_string_equal(tl->text.data + tl->t[n].value, eq + 1);
        assert_non_null(dkim_tags_get(tl, p));
        assert_string_equal(dkim_tags_get(tl, p), eq + 1);
    }
    assert_int_equal(tl->n, n);
    free(copy);
}

#define S(lit) lit, sizeof(lit) - 1 /* a literal with its length (NULs kept) */

/* the grammar: what is accepted, how it is stored, what is refused */
static void test_parse(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want; /* "name=value|..." in order; NULL: refused */
    } cases[] = {
        /* valid lists */
        {S("v=1; a=rsa-sha256"), "v=1|a=rsa-sha256"},
        {S("v=1;a=rsa-sha256"), "v=1|a=rsa-sha256"},
        {S(""), ""},
        {S(" \t "), ""},
        {S(";"), ""},
        {S(";;"), ""},
        {S(" ; ;\t;"), ""},
        {S("a=1;;b=2"), "a=1|b=2"},
        {S(";a=1"), "a=1"},
        {S("a=1;"), "a=1"},
        {S("a=1; "), "a=1"},
        {S("a=1;\r\n "), "a=1"},
        {S(" a = 1 ; b\t=\t2 "), "a=1|b=2"},
        {S("a="), "a="},
        {S("a= ;b=\r\n\t"), "a=|b="},
        {S("n=a=b"), "n=a=b"},
        {S("A=1; a=2"), "A=1|a=2"}, /* names are case-sensitive: not a duplicate */
        {S("a_1=x; b2=y; Z__=z"), "a_1=x|b2=y|Z__=z"},
        {S("x=!\"#$%&'()*+,-./09:<=>?@AZ[\\]^_`az{}~"), "x=!\"#$%&'()*+,-./09:<=>?@AZ[\\]^_`az{}~"},
        /* FWS, CRLF folds, white space removed from values */
        {S("b=abc\r\n def\r\n\tghi"), "b=abcdefghi"},
        {S("b=ab c\td"), "b=abcd"},
        {S("h=from : to :\r\n subject"), "h=from:to:subject"},
        {S("\r\n a=1;\r\n\tb=2"), "a=1|b=2"},
        {S("a\r\n =\r\n 1"), "a=1"},
        {S("v=1; a=rsa-sha256; d=example.net; s=brisbane;\r\n"
           "      c=simple; q=dns/txt; i=@eng.example.net;\r\n"
           "      t=1117574938; x=1118006938;\r\n"
           "      h=from:to:subject:date;\r\n"
           "      bh=MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=;\r\n"
           "      b=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZ\r\n"
           "               VoG4ZHRNiYzR"),
         "v=1|a=rsa-sha256|d=example.net|s=brisbane|c=simple|q=dns/txt|i=@eng.example.net|"
         "t=1117574938|x=1118006938|h=from:to:subject:date|"
         "bh=MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=|"
         "b=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR"},
        /* duplicates */
        {S("a=1; a=2"), NULL},
        {S("a=1; b=2; a=1"), NULL},
        {S("a=; a="), NULL},
        {S("ab=1; a b=2"), NULL},
        /* bad names */
        {S("1a=x"), NULL},
        {S("a b=x"), NULL},
        {S("_a=x"), NULL},
        {S("a-b=x"), NULL},
        {S("a.b=x"), NULL},
        {S("=x"), NULL},
        {S(" =x"), NULL},
        {S("\xc3\xa9=x"), NULL},
        {S("a\0=x"), NULL},
        /* missing "=" */
        {S("a"), NULL},
        {S("a=1; b"), NULL},
        {S("a=1; b; c=3"), NULL},
        {S("v=1 a=2"), "v=1a=2"}, /* one tag: a value may hold "=" (VALCHAR) */
        /* bytes outside VALCHAR (and not white space) */
        {S("a=x\x01"), NULL},
        {S("a=x\x7f"), NULL},
        {S("a=\xc3\xa9"), NULL},
        {S("a=x\0y"), NULL},
        {S("a=1; b=\x80; c=3"), NULL},
        {S("a=x\v"), NULL},
        {S("a=x\f"), NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dkim_tags tl = {0};
        bool ok;

        print_message("case %zu\n", i);
        ok = parse_exact(&tl, cases[i].in, cases[i].len);
        if (cases[i].want == NULL) {
            assert_false(ok);
            assert_int_equal(tl.n, 0); /* refused: empty */
            assert_null(dkim_tags_get(&tl, "a"));
        } else {
            assert_true(ok);
            check_tags(&tl, cases[i].want);
        }
        assert_null(dkim_tags_get(&tl, "nosuchtag"));
        dkim_tags_free(&tl);
    }
}

/* only s[0..len) is read: what follows len is not part of the list */
static void test_len(void **state)
{
    struct dkim_tags tl = {0};
    const char *s = "a=1;b=2";

    (void)state;
    assert_true(parse_exact(&tl, s, 3));
    check_tags(&tl, "a=1");
    dkim_tags_free(&tl);
    assert_false(parse_exact(&tl, s, 5)); /* "a=1;b" */
    dkim_tags_free(&tl);
    assert_true(parse_exact(&tl, s, 0));
    assert_int_equal(tl.n, 0);
    dkim_tags_free(&tl);
}

/* a freed list can be parsed into again; a refused parse leaves nothing behind */
static void test_reuse(void **state)
{
    struct dkim_tags tl = {0};

    (void)state;
    assert_true(parse_exact(&tl, S("a=1; b=2")));
    dkim_tags_free(&tl);
    assert_true(parse_exact(&tl, S("c=3")));
    check_tags(&tl, "c=3");
    assert_null(dkim_tags_get(&tl, "a"));
    dkim_tags_free(&tl);
    assert_false(parse_exact(&tl, S("a=1; b=2; a=3")));
    assert_null(dkim_tags_get(&tl, "b"));
    dkim_tags_free(&tl);
    assert_true(parse_exact(&tl, S("d=4")));
    check_tags(&tl, "d=4");
    dkim_tags_free(&tl);
}

/* every byte of VALCHAR is kept; every other byte but white space refuses the list */
static void test_valchar_sweep(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        struct dkim_tags tl = {0};
        char in[] = {'a', '=', 'x', (char)c, 'y'};
        bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        bool valchar = (c >= 0x21 && c <= 0x3a) || (c >= 0x3c && c <= 0x7e);
        bool ok;

        print_message("byte 0x%02x\n", (unsigned)c);
        ok = parse_exact(&tl, in, sizeof(in));
        if (c == ';') {
            assert_false(ok); /* "a=x;y": "y" has no "=" */
        } else if (ws) {
            assert_true(ok);
            check_tags(&tl, "a=xy");
        } else if (valchar) {
            char want[] = {'x', (char)c, 'y', '\0'};

            assert_true(ok);
            assert_string_equal(dkim_tags_get(&tl, "a"), want);
        } else {
            assert_false(ok);
        }
        dkim_tags_free(&tl);
    }
}

/* DKIM_TAGS_MAX tags are accepted, one more refuses the list */
static void test_max_tags(void **state)
{
    (void)state;
    for (int extra = 0; extra <= 1; extra++) {
        struct dkim_tags tl = {0};
        struct buf b = BUF_INIT;
        bool ok;

        for (int i = 0; i < DKIM_TAGS_MAX + extra; i++)
            buf_printf(&b, "t%d=%d; ", i, i);
        ok = parse_exact(&tl, b.data, b.len);
        if (extra) {
            assert_false(ok);
            assert_int_equal(tl.n, 0);
        } else {
            assert_true(ok);
            assert_int_equal(tl.n, DKIM_TAGS_MAX);
            assert_string_equal(dkim_tags_get(&tl, "t31"), "31");
            assert_string_equal(dkim_tags_get(&tl, "t0"), "0");
        }
        dkim_tags_free(&tl);
        buf_free(&b);
    }
    /* empty tag-specs do not count */
    {
        struct dkim_tags tl = {0};
        struct buf b = BUF_INIT;

        for (int i = 0; i < DKIM_TAGS_MAX; i++)
            buf_printf(&b, ";; t%d=%d;", i, i);
        assert_true(parse_exact(&tl, b.data, b.len));
        assert_int_equal(tl.n, DKIM_TAGS_MAX);
        dkim_tags_free(&tl);
        buf_free(&b);
    }
}

/* base64: RFC 4648 section 10 vectors, left-out padding, malformed text */
static void test_base64(void **state)
{
    static const struct {
        const char *in;
        bool ok;
        const char *out; /* bytes when ok */
        size_t outlen;
    } cases[] = {
        /* RFC 4648 10 */
        {"", true, "", 0},
        {"Zg==", true, "f", 1},
        {"Zm8=", true, "fo", 2},
        {"Zm9v", true, "foo", 3},
        {"Zm9vYg==", true, "foob", 4},
        {"Zm9vYmE=", true, "fooba", 5},
        {"Zm9vYmFy", true, "foobar", 6},
        /* padding left out */
        {"Zg", true, "f", 1},
        {"Zm8", true, "fo", 2},
        {"Zm9vYg", true, "foob", 4},
        {"Zm9vYmE", true, "fooba", 5},
        /* every value of the alphabet, binary output */
        {"AP8=", true, "\x00\xff", 2},
        {"////", true, "\xff\xff\xff", 3},
        {"+/+/", true, "\xfb\xff\xbf", 3},
        {"AAAA", true, "\x00\x00\x00", 3},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true,
         "\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41\x14\x93\x51\x55\x97"
         "\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
         "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf",
         48},
        /* impossible lengths */
        {"Z", false, NULL, 0},
        {"Zm9vY", false, NULL, 0},
        {"Z===", false, NULL, 0},
        {"Zm9vY===", false, NULL, 0},
        /* padding that does not complete a quantum, or too much of it */
        {"Zg=", false, NULL, 0},
        {"Zm9vYg=", false, NULL, 0},
        {"Zg===", false, NULL, 0},
        {"Zm9v=", false, NULL, 0},
        {"Zm9v====", false, NULL, 0},
        {"=", false, NULL, 0},
        {"==", false, NULL, 0},
        {"====", false, NULL, 0},
        /* "=" in the middle */
        {"Zg==Zg==", false, NULL, 0},
        {"Z=g=", false, NULL, 0},
        {"Zm=v", false, NULL, 0},
        {"=Zm9", false, NULL, 0},
        /* characters outside the alphabet (white space included: callers remove it) */
        {"Zm9v!A==", false, NULL, 0},
        {"Zm 9v", true, "foo", 3}, /* white space is skipped (lib/base64.c) */
        {"Zm9\tv", true, "foo", 3},
        {"Zm9v\r\n", true, "foo", 3},
        {"Zm9-", false, NULL, 0}, /* base64url is another alphabet */
        {"Zm9_", false, NULL, 0},
        {"Zm9.", false, NULL, 0},
        {"Zm9\x80", false, NULL, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out = BUF_INIT;

        print_message("case %zu\n", i);
        assert_int_equal(dkim_base64_decode(cases[i].in, &out), cases[i].ok);
        if (cases[i].ok) {
            assert_int_equal(out.len, cases[i].outlen);
            if (out.len > 0)
                assert_memory_equal(out.data, cases[i].out, out.len);
        }
        buf_free(&out);
    }
}

/* base64 appends to what the buffer holds */
static void test_base64_appends(void **state)
{
    struct buf out = BUF_INIT;

    (void)state;
    buf_puts(&out, "x:");
    assert_true(dkim_base64_decode("Zm9v", &out));
    assert_true(dkim_base64_decode("YmFy", &out));
    assert_int_equal(out.len, 8);
    assert_string_equal(out.data, "x:foobar");
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),          cmocka_unit_test(test_len),
        cmocka_unit_test(test_reuse),          cmocka_unit_test(test_valchar_sweep),
        cmocka_unit_test(test_max_tags),       cmocka_unit_test(test_base64),
        cmocka_unit_test(test_base64_appends),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
