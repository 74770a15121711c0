/*
 * test_dkim_verify_parts.c - the parts of auth/dkim_verify, each on its
 * own, without messages or DNS: result names, header field rebuilding,
 * tag values, header.b prefixes, and key record choice (and its sizes).
 * Whole verifications are in test_dkim_verify.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_verify.h"
#include "dns.h"
#include "util.h"

#include "dkim_verify_fixture.h"

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(dkimv_result_name(DKIMV_PASS), "pass");
    assert_string_equal(dkimv_result_name(DKIMV_FAIL), "fail");
    assert_string_equal(dkimv_result_name(DKIMV_NEUTRAL), "neutral");
    assert_string_equal(dkimv_result_name(DKIMV_POLICY), "policy");
    assert_string_equal(dkimv_result_name(DKIMV_TEMPERROR), "temperror");
    assert_string_equal(dkimv_result_name(DKIMV_PERMERROR), "permerror");
}

static void test_header_line(void **state)
{
    static const struct {
        const char *name, *value;
        bool leadspc;
        const char *want;
    } cases[] = {
        {"Subject", "hello", false, "Subject: hello"},
        {"Subject", "hello", true, "Subject:hello"},
        {"Subject", " hello", true, "Subject: hello"},
        {"X-Two", " two", false, "X-Two:  two"},      /* "X-Two:  two" lost one space */
        {"X-Tab", "\tvalue", false, "X-Tab:\tvalue"}, /* libmilter removes spaces only */
        {"X", "a\n\tb", false, "X: a\r\n\tb"},        /* Postfix folds with LF */
        {"X", "a\r\n b", false, "X: a\r\n b"},        /* already CRLF: unchanged */
        {"X", "\n\tfolded", false, "X:\r\n\tfolded"}, /* nothing before the fold */
        {"X", "\n\tfolded", true, "X:\r\n\tfolded"},
        {"X", "", false, "X: "},
        {"X", "", true, "X:"},
        {"X", "a\n b\n\tc", true, "X:a\r\n b\r\n\tc"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = BUF_INIT;

        dkimv_header_line(&b, cases[i].name, cases[i].value, cases[i].leadspc);
        assert_string_equal(buf_cstr(&b), cases[i].want);
        buf_free(&b);
    }
}

static void test_tag_value(void **state)
{
    static const struct {
        const char *list, *tag, *want; /* want NULL: absent */
    } cases[] = {
        {"v=1; a=rsa-sha256; d=example.com; s=sel", "d", "example.com"},
        {" d = example.com ;", "d", "example.com"},
        {"b=abc\r\n def\r\n\tghi; bh=xyz", "b", "abcdefghi"},
        {"bh=xyz; b=abc", "b", "abc"},
        {"bh=xyz; b=abc", "bh", "xyz"},
        {"d=", "d", ""},
        {"d=;s=x", "d", ""},
        {"a=1", "d", NULL},
        {"dd=x; d=y", "d", "y"},
        {"x=1;;d=z", "d", "z"},
        {"", "d", NULL},
        {"garbage without tags", "d", NULL},
        {"l=1234", "l", "1234"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *v = dkimv_tag_value(cases[i].list, cases[i].tag);

        if (cases[i].want == NULL)
            assert_null(v);
        else
            assert_string_equal(v, cases[i].want);
        free(v);
    }
}

static void test_b_prefix(void **state)
{
    static const struct {
        const char *b[3];
        size_t n;
        size_t want[3];
    } cases[] = {
        {{"abcdefghij"}, 1, {8}},
        {{"abc"}, 1, {3}},
        {{"abcdefghXX", "abcdefghYY"}, 2, {9, 9}},
        {{"abcdefghijkl", "abcdefghijkm"}, 2, {12, 12}},
        {{"abcdefghijk", "abcdefghijk"}, 2, {8, 8}}, /* the same signature twice */
        {{"abcdefghij", "abcdefghijkl"}, 2, {10, 11}},
        {{"12345678aa", "12345678bb", "zzzzzzzzzz"}, 3, {9, 9, 8}},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (size_t j = 0; j < cases[i].n; j++)
            assert_int_equal(dkimv_b_prefix_len(cases[i].b, cases[i].n, j), cases[i].want[j]);
}

static void test_pick_key(void **state)
{
    static const struct {
        enum dns_status status;
        int rcode;
        const char *txt[3];
        size_t n;
        enum dkimv_key_status want;
        const char *out_or_why;
    } cases[] = {
        {DNS_NXDOMAIN, 3, {NULL}, 0, DKIMV_KEY_NONE, "no key for signature"},
        {DNS_NODATA, 0, {NULL}, 0, DKIMV_KEY_NONE, "no key for signature"},
        {DNS_TEMPFAIL, -1, {NULL}, 0, DKIMV_KEY_TEMP, "key lookup timed out"},
        {DNS_TEMPFAIL, 2, {NULL}, 0, DKIMV_KEY_TEMP, "key lookup failed (SERVFAIL)"},
        {DNS_PERMFAIL, 5, {NULL}, 0, DKIMV_KEY_BAD, "key lookup failed"},
        {DNS_OK, 0, {"v=DKIM1; k=rsa; p=QUJD"}, 1, DKIMV_KEY_OK, "v=DKIM1; k=rsa; p=QUJD"},
        {DNS_OK, 0, {"not a key"}, 1, DKIMV_KEY_OK, "not a key"}, /* dkim_sig.c judges it */
        {DNS_OK, 0, {"v=spf1 -all", "v=DKIM1; p=QUJD"}, 2, DKIMV_KEY_OK, "v=DKIM1; p=QUJD"},
        {DNS_OK,
         0,
         {"v=DKIM1; p=QUJD", "v=DKIM1; p=REVG"},
         2,
         DKIMV_KEY_MULTI,
         "several key records"},
        {DNS_OK, 0, {"hello", "world"}, 2, DKIMV_KEY_NONE, "no key for signature"},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dns_result *r = txt_result(cases[i].n);
        const char *why = NULL;

        r->status = cases[i].status;
        r->rcode = cases[i].rcode;
        for (size_t j = 0; j < cases[i].n; j++) {
            r->txt[j] = xstrdup(cases[i].txt[j]);
            r->txt_len[j] = strlen(cases[i].txt[j]);
            r->n++;
        }
        assert_int_equal(dkimv_pick_key(r, out, sizeof(out), &why), cases[i].want);
        assert_string_equal(cases[i].want == DKIMV_KEY_OK ? out : why, cases[i].out_or_why);
        dns_result_free(r);
    }
}

static void test_pick_key_sizes(void **state)
{
    struct dns_result *r = txt_result(1);
    char out[48];
    const char *why = NULL;

    (void)state;
    /* a NUL inside the record */
    r->txt[0] = xstrdup("v=DKIM1; p=QUJD");
    r->txt_len[0] = 20;
    r->n = 1;
    assert_int_equal(dkimv_pick_key(r, out, sizeof(out), &why), DKIMV_KEY_BAD);
    assert_string_equal(why, "malformed key record");
    /* too long, fits without white space and notes */
    free(r->txt[0]);
    r->txt[0] = xstrdup("v=DKIM1; k=rsa; n=some notes about this key ; p=QUJD REVG\r\n SElK");
    r->txt_len[0] = strlen(r->txt[0]);
    assert_int_equal(dkimv_pick_key(r, out, sizeof(out), &why), DKIMV_KEY_OK);
    assert_string_equal(out, "v=DKIM1;k=rsa;p=QUJDREVGSElK");
    /* too long even then */
    free(r->txt[0]);
    r->txt[0] = xstrdup("v=DKIM1; k=rsa; p=QUJDREVGSElKQUJDREVGSElKQUJDREVGSElKQUJDREVGSElK");
    r->txt_len[0] = strlen(r->txt[0]);
    assert_int_equal(dkimv_pick_key(r, out, sizeof(out), &why), DKIMV_KEY_LONG);
    assert_string_equal(why, "key record too long");
    assert_string_equal(out, "");
    dns_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_names), cmocka_unit_test(test_header_line),
        cmocka_unit_test(test_tag_value),    cmocka_unit_test(test_b_prefix),
        cmocka_unit_test(test_pick_key),     cmocka_unit_test(test_pick_key_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
