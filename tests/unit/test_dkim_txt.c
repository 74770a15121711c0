/*
 * test_dkim_txt.c - the DKIM record text helpers (dkim_txt.c):
 * character-string splitting at 255 bytes and escaping, zone-file
 * records, default selector names, domain and selector syntax, tag
 * lookup and key comparison of published records. Table-driven
 * throughout. The keys' table in the store is in test_store_keys.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_txt.h"
#include "store.h"

#define T0 1795000000 /* 2026-11-18T11:06:40Z */

#define RSA STORE_DKIM_RSA_SHA256
#define ED  STORE_DKIM_ED25519_SHA256

struct strings_case {
    size_t len; /* of a value of 'a'..'z' repeated; 0..600 */
    size_t strings;
    size_t last; /* bytes in the last string */
};

/* test_txt_split - character-strings of at most 255 bytes, nothing lost */
static void test_txt_split(void **state)
{
    static const struct strings_case cases[] = {
        {0, 1, 0},     {1, 1, 1},     {254, 1, 254}, {255, 1, 255}, {256, 2, 1},
        {410, 2, 155}, {510, 2, 255}, {511, 3, 1},   {600, 3, 90},
    };
    char value[601];

    (void)state;
    for (size_t i = 0; i < sizeof(value) - 1; i++)
        value[i] = (char)('a' + i % 26);
    value[600] = '\0';
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out = BUF_INIT, joined = BUF_INIT;
        const char *p;
        size_t strings = 0, last = 0;

        dkim_txt_strings(&out, value, cases[i].len, "|");
        /* Undo: split at '|', strip the quotes, count. */
        p = buf_cstr(&out);
        for (;;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);

            assert_true(n >= 2 && p[0] == '"' && p[n - 1] == '"');
            assert_true(n - 2 <= DKIM_TXT_STRING_MAX);
            buf_add(&joined, p + 1, n - 2);
            last = n - 2;
            strings++;
            if (bar == NULL)
                break;
            p = bar + 1;
        }
        if (strings != cases[i].strings || last != cases[i].last || joined.len != cases[i].len ||
            memcmp(buf_cstr(&joined), value, joined.len) != 0)
            fail_msg("len %zu: %zu strings, last %zu", cases[i].len, strings, last);
        buf_free(&out);
        buf_free(&joined);
    }
}

struct quote_case {
    const char *value;
    size_t len;
    const char *want;
};

/* test_txt_quote - quotes, backslashes and unprintable bytes are escaped */
static void test_txt_quote(void **state)
{
    static const struct quote_case cases[] = {
        {"v=DKIM1; k=rsa; p=", 18, "\"v=DKIM1; k=rsa; p=\""},
        {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"tab\there", 8, "\"tab\\009here\""},
        {"nul\0x", 5, "\"nul\\000x\""},
        {"\xc3\xa9", 2, "\"\\195\\169\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf out = BUF_INIT;

        dkim_txt_strings(&out, cases[i].value, cases[i].len, " ");
        assert_string_equal(buf_cstr(&out), cases[i].want);
        buf_free(&out);
    }
}

/* test_txt_zone - one line for a short value, parentheses for a long one */
static void test_txt_zone(void **state)
{
    struct buf out = BUF_INIT, value = BUF_INIT;
    char p[301];

    (void)state;
    dkim_txt_value(&value, ED, "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    assert_string_equal(buf_cstr(&value),
                        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    dkim_txt_zone(&out, "brisbane._domainkey.football.example.com", buf_cstr(&value));
    assert_string_equal(buf_cstr(&out),
                        "brisbane._domainkey.football.example.com. IN TXT \"v=DKIM1; "
                        "k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n");
    buf_reset(&out);
    buf_reset(&value);
    memset(p, 'A', 300);
    p[300] = '\0';
    dkim_txt_value(&value, RSA, p);
    dkim_txt_zone(&out, "s._domainkey.example.org.", buf_cstr(&value));
    /* 18 + 300 = 318 bytes: 255 in the first string, 63 in the second. */
    assert_int_equal(value.len, 318);
    assert_memory_equal(buf_cstr(&out),
                        "s._domainkey.example.org. IN TXT ( \"v=DKIM1; k=rsa; p=AAA", 57);
    assert_non_null(strstr(buf_cstr(&out), "A\"\n\t\"AAA"));
    /* newline, tab, quote, 63 bytes, quote, " )", newline */
    assert_int_equal(strlen(strstr(buf_cstr(&out), "\n\t\"")), 3 + 63 + 1 + 3);
    assert_string_equal(buf_cstr(&out) + out.len - 5, "A\" )\n");
    buf_free(&out);
    buf_free(&value);
}

struct selector_case {
    enum store_dkim_alg a;
    int64_t now;
    unsigned n;
    size_t outlen;
    const char *want; /* NULL = must fail */
};

/* test_selector_name - s/e + UTC date, -n for later keys of the day */
static void test_selector_name(void **state)
{
    static const struct selector_case cases[] = {
        {RSA, T0, 1, 64, "s20261118"},
        {ED, T0, 1, 64, "e20261118"},
        {RSA, T0, 2, 64, "s20261118-2"},
        {ED, T0, 17, 64, "e20261118-17"},
        {RSA, 1798761599, 1, 64, "s20261231"}, /* 23:59:59 UTC */
        {RSA, 1798761600, 1, 64, "s20270101"},
        {RSA, 0, 1, 64, "s19700101"},
        {RSA, T0, 0, 64, NULL},
        {RSA, T0, 1, 9, NULL}, /* "s20261118" needs 10 bytes */
        {RSA, T0, 1, 10, "s20261118"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        bool ok = dkim_txt_selector(cases[i].a, cases[i].now, cases[i].n, out, cases[i].outlen);

        if (ok != (cases[i].want != NULL) || (ok && strcmp(out, cases[i].want) != 0))
            fail_msg("case %zu: %s -> %s", i, ok ? "ok" : "failed", ok ? out : "");
        if (ok)
            assert_true(dkim_txt_selector_ok(out));
    }
}

struct name_case {
    const char *s;
    bool domain_ok, selector_ok;
};

/* test_names_syntax - what keygen accepts as a domain and as a selector */
static void test_names_syntax(void **state)
{
    static const struct name_case cases[] = {
        {"example.org", true, true},
        {"mail.example.co.uk", true, true},
        {"xn--bcher-kva.example", true, true},
        {"Example.ORG", true, true},
        {"s20261125", false, true},
        {"s20261125-2", false, true},
        {"2026.q4", true, true},
        {"", false, false},
        {"example", false, true},
        {"example.org.", false, false},
        {".example.org", false, false},
        {"a..b", false, false},
        {"-a.b", false, false},
        {"a-.b", false, false},
        {"under_score.org", false, false},
        {"sp ace.org", false, false},
        {"../etc/passwd", false, false},
        {"a/b", false, false},
        {"\xc3\xa9.org", false, false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", false, false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.org", true, false},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, true},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (dkim_txt_domain_ok(cases[i].s) != cases[i].domain_ok)
            fail_msg("domain \"%s\": want %d", cases[i].s, cases[i].domain_ok);
        if (dkim_txt_selector_ok(cases[i].s) != cases[i].selector_ok)
            fail_msg("selector \"%s\": want %d", cases[i].s, cases[i].selector_ok);
    }
    assert_false(dkim_txt_domain_ok(NULL));
    assert_false(dkim_txt_selector_ok(NULL));
}

struct tag_case {
    const char *rec;
    const char *tag;
    const char *want; /* NULL = absent or malformed */
};

/* test_txt_tag - RFC 6376 3.2 tag lists: white space, order, first wins */
static void test_txt_tag(void **state)
{
    static const struct tag_case cases[] = {
        {"v=DKIM1; k=rsa; p=ABC", "p", "ABC"},
        {"p=ABC; v=DKIM1", "v", "DKIM1"},
        {"v = DKIM1 ;\tp = AB C\r\n DE ;", "p", "ABCDE"},
        {"v=DKIM1; p=", "p", ""},
        {"v=DKIM1; k=rsa", "p", NULL},
        {"v=DKIM1; pp=X; p=Y", "p", "Y"},
        {"p=first; p=second", "p", "first"},
        {"v=DKIM1; garbage; p=X", "p", NULL},
        {"", "p", NULL},
        {";;p=X", "p", "X"},
        {"P=X", "p", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf v = BUF_INIT;
        bool ok = dkim_txt_tag(cases[i].rec, strlen(cases[i].rec), cases[i].tag, &v);

        if (ok != (cases[i].want != NULL) || (ok && strcmp(buf_cstr(&v), cases[i].want) != 0))
            fail_msg("\"%s\" %s=: got %s \"%s\"", cases[i].rec, cases[i].tag,
                     ok ? "found" : "absent", buf_cstr(&v));
        buf_free(&v);
    }
}

struct compare_case {
    const char *rec;
    enum store_dkim_alg a;
    const char *p;
    enum dkim_txt_match want;
};

/* test_txt_compare - our key found whatever the form; other keys and non-DKIM text told apart */
static void test_txt_compare(void **state)
{
    static const struct compare_case cases[] = {
        {"v=DKIM1; k=rsa; p=MIIBKEY", RSA, "MIIBKEY", DKIM_TXT_SAME},
        {"p=MIIB KEY; k=rsa; v=DKIM1", RSA, "MIIBKEY", DKIM_TXT_SAME},
        {"v=DKIM1; p=MIIBKEY", RSA, "MIIBKEY", DKIM_TXT_SAME}, /* k= defaults to rsa */
        {"v=DKIM1; h=sha256; k=rsa; t=s; p=MIIBKEY", RSA, "MIIBKEY", DKIM_TXT_SAME},
        {"v=DKIM1; k=ed25519; p=EDKEY=", ED, "EDKEY=", DKIM_TXT_SAME},
        {"v=DKIM1; p=EDKEY=", ED, "EDKEY=", DKIM_TXT_OTHER_KEY}, /* implied rsa */
        {"v=DKIM1; k=rsa; p=OTHER", RSA, "MIIBKEY", DKIM_TXT_OTHER_KEY},
        {"v=DKIM1; k=rsa; p=", RSA, "MIIBKEY", DKIM_TXT_OTHER_KEY}, /* revoked */
        {"v=DKIM1; k=rsa; p=mIIBKEY", RSA, "MIIBKEY", DKIM_TXT_OTHER_KEY},
        {"v=spf1 -all", RSA, "MIIBKEY", DKIM_TXT_NOT_DKIM},
        {"v=DKIM2; p=MIIBKEY", RSA, "MIIBKEY", DKIM_TXT_NOT_DKIM},
        {"hello world", RSA, "MIIBKEY", DKIM_TXT_NOT_DKIM},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum dkim_txt_match m =
            dkim_txt_compare(cases[i].rec, strlen(cases[i].rec), cases[i].a, cases[i].p);

        if (m != cases[i].want)
            fail_msg("\"%s\": got %d, want %d", cases[i].rec, m, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_split),    cmocka_unit_test(test_txt_quote),
        cmocka_unit_test(test_txt_zone),     cmocka_unit_test(test_selector_name),
        cmocka_unit_test(test_names_syntax), cmocka_unit_test(test_txt_tag),
        cmocka_unit_test(test_txt_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
